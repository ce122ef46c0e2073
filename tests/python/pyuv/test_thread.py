"""pyuv.thread: Mutex, Condition, RWLock, Barrier, Semaphore across real
threads (pyuv 1.4 src/thread.c). Misuse raises RuntimeError where libuv
would abort or deadlock (a documented difference of pyuv-compat)."""

import threading
import time

import pytest

import pyuv

T = pyuv.thread
JOIN = 10  # seconds: a thread that is not done by then is a deadlock


def _start(fn, n=1):
    ths = [threading.Thread(target=fn, daemon=True) for _ in range(n)]
    for t in ths:
        t.start()
    return ths


def _join(ths):
    for t in ths:
        t.join(JOIN)
        assert not t.is_alive(), "thread deadlocked"


def test_mutex_excludes_threads():
    m = T.Mutex()
    counter = [0]

    def work():
        for _ in range(2000):
            m.lock()
            v = counter[0]
            if v % 97 == 0:
                time.sleep(0)  # invite a switch inside the critical section
            counter[0] = v + 1
            m.unlock()
    _join(_start(work, 4))
    assert counter[0] == 8000


def test_mutex_trylock_and_context_manager():
    m = T.Mutex()
    assert m.trylock() is True
    other = []
    _join(_start(lambda: other.append(m.trylock())))
    assert other == [False]  # held by the main thread
    m.unlock()
    with m:
        res = []
        _join(_start(lambda: res.append(m.trylock())))
        assert res == [False]
    _join(_start(lambda: (res.append(m.trylock()), m.unlock())))
    assert res == [False, True]


def test_mutex_lock_blocks_other_thread_and_releases_gil():
    m = T.Mutex()
    m.lock()
    got = []
    ths = _start(lambda: (m.lock(), got.append(time.monotonic()), m.unlock()))
    time.sleep(0.1)  # the other thread waits in lock() without the GIL
    assert got == []
    released = time.monotonic()
    m.unlock()
    _join(ths)
    assert got and got[0] >= released


def test_mutex_misuse_raises_runtimeerror():
    m = T.Mutex()
    with pytest.raises(RuntimeError):
        m.unlock()  # not held
    m.lock()
    err = []

    def other():
        try:
            m.unlock()  # held, but by another thread
        except RuntimeError:
            err.append(True)
    _join(_start(other))
    assert err == [True]
    m.unlock()


def test_condition_wait_signal_broadcast():
    m = T.Mutex()
    c = T.Condition(m)  # pyuv ignores the argument
    state = {"go": False, "woken": 0}

    def waiter():
        m.lock()
        while not state["go"]:
            c.wait(m)
        state["woken"] += 1
        m.unlock()
    ths = _start(waiter, 3)
    time.sleep(0.05)
    m.lock()
    state["go"] = True
    c.signal()
    m.unlock()
    deadline = time.monotonic() + JOIN
    while state["woken"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    m.lock()
    c.broadcast()
    m.unlock()
    _join(ths)
    assert state["woken"] == 3


def test_condition_timedwait():
    m = T.Mutex()
    c = T.Condition()
    m.lock()
    t0 = time.monotonic()
    assert c.timedwait(m, 0.05) is False  # timed out
    assert time.monotonic() - t0 >= 0.04
    m.unlock()
    res = []

    def waiter():
        m.lock()
        res.append(c.timedwait(m, 5.0))
        m.unlock()
    ths = _start(waiter)
    time.sleep(0.05)
    m.lock()
    c.signal()
    m.unlock()
    _join(ths)
    assert res == [True]


def test_condition_misuse_raises_runtimeerror():
    c = T.Condition()
    with pytest.raises(RuntimeError):
        c.wait(T.Mutex())  # not holding it
    with pytest.raises(RuntimeError):
        c.timedwait(T.Mutex(), 0.01)
    with pytest.raises(TypeError):
        c.wait(object())  # pyuv requires a Mutex


def test_rwlock_readers_share_writers_exclude():
    rw = T.RWLock()
    rw.rdlock()
    res = []
    _join(_start(lambda: (res.append(rw.tryrdlock()), rw.rdunlock())))
    _join(_start(lambda: res.append(rw.trywrlock())))
    assert res == [True, False]  # a second reader yes, a writer no
    rw.rdunlock()
    rw.wrlock()
    _join(_start(lambda: res.append((rw.tryrdlock(), rw.trywrlock()))))
    assert res[-1] == (False, False)
    rw.wrunlock()
    assert rw.trywrlock() is True
    rw.wrunlock()
    assert rw.tryrdlock() is True
    rw.rdunlock()


def test_rwlock_writer_waits_for_reader():
    rw = T.RWLock()
    rw.rdlock()
    order = []
    ths = _start(lambda: (rw.wrlock(), order.append("writer"), rw.wrunlock()))
    time.sleep(0.05)
    order.append("reader done")
    rw.rdunlock()
    _join(ths)
    assert order == ["reader done", "writer"]


def test_rwlock_misuse_raises_runtimeerror():
    rw = T.RWLock()
    with pytest.raises(RuntimeError):
        rw.rdunlock()
    with pytest.raises(RuntimeError):
        rw.wrunlock()


def test_barrier_releases_all_one_serial():
    n = 4
    b = T.Barrier(n)
    results = []
    lock = threading.Lock()

    def party():
        r = b.wait()
        with lock:
            results.append(r)
    ths = _start(party, n - 1)
    time.sleep(0.05)
    assert results == []  # three wait for the fourth
    party()
    _join(ths)
    assert sorted(results) == [False, False, False, True]


def test_barrier_zero_raises_runtimeerror():
    with pytest.raises(RuntimeError):
        T.Barrier(0)


def test_semaphore_counts_across_threads():
    s = T.Semaphore(2)
    assert s.trywait() is True
    assert s.trywait() is True
    assert s.trywait() is False
    got = []
    ths = _start(lambda: (s.wait(), got.append("acquired")))
    time.sleep(0.05)
    assert got == []
    s.post()
    _join(ths)
    assert got == ["acquired"]
    s.post()
    with s:  # context manager: wait() / post()
        assert s.trywait() is False
    assert s.trywait() is True


def test_semaphore_default_value_is_one():
    s = T.Semaphore()
    assert s.trywait() is True
    assert s.trywait() is False
    s.post()
