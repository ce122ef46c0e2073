"""Threads: call_soon_threadsafe wake-ups, executors, running a loop in a
thread other than its creator, and the debug-mode thread check."""

import asyncio
import concurrent.futures
import threading
import time

import pytest

from _helpers import in_thread, py_at_least, run


# ---------------------------------------------------- call_soon_threadsafe

def test_call_soon_threadsafe_wakes_sleeping_loop(loop):
    fut = loop.create_future()
    sent = []

    def poke():
        sent.append(time.monotonic())
        loop.call_soon_threadsafe(
            lambda: fut.done() or fut.set_result(time.monotonic()))

    async def main():
        # The loop's only timer is 10 s away: the wake-up must come from
        # call_soon_threadsafe itself.
        sleeper = asyncio.ensure_future(asyncio.sleep(10))
        try:
            return await fut
        finally:
            sleeper.cancel()

    t = in_thread(poke, delay=0.05)
    start = time.monotonic()
    got = loop.run_until_complete(asyncio.wait_for(main(), 5))
    t.join(2)
    assert t.exc is None
    assert got - sent[0] < 0.5, f"woke up after {got - sent[0]:.3f} s"
    assert time.monotonic() - start < 2


def test_call_soon_threadsafe_args_and_context(loop):
    import contextvars
    var = contextvars.ContextVar("v", default="d")
    ctx = contextvars.copy_context()
    ctx.run(var.set, "x")
    fut = loop.create_future()

    def cb(a, b):
        fut.set_result((a, b, var.get(), threading.get_ident()))

    in_thread(lambda: loop.call_soon_threadsafe(cb, 1, 2, context=ctx),
              delay=0.01)
    a, b, v, ident = run(loop, fut)
    assert (a, b, v) == (1, 2, "x")
    assert ident == threading.get_ident()  # ran in the loop's thread


def test_call_soon_threadsafe_many_threads(loop):
    n_threads, per_thread = 4, 2000
    got = {i: [] for i in range(n_threads)}
    done = loop.create_future()
    total = [0]

    def cb(tid, k):
        got[tid].append(k)
        total[0] += 1
        if total[0] == n_threads * per_thread:
            done.set_result(None)

    def producer(tid):
        for k in range(per_thread):
            loop.call_soon_threadsafe(cb, tid, k)

    threads = [in_thread(producer, i) for i in range(n_threads)]
    run(loop, done, timeout=10)
    for t in threads:
        t.join(5)
        assert t.exc is None
    for tid in range(n_threads):
        assert got[tid] == list(range(per_thread))  # per-thread FIFO


def test_call_soon_threadsafe_handle_cancel(loop):
    out = []
    h = loop.call_soon_threadsafe(out.append, 1)
    h.cancel()
    assert h.cancelled()
    loop.call_soon_threadsafe(out.append, 2)
    run(loop, asyncio.sleep(0.01))
    assert out == [2]


# --------------------------------------------------------------- executors

def test_run_in_executor_default(loop):
    def work(a, b):
        return a + b, threading.get_ident()

    res, ident = run(loop, loop.run_in_executor(None, work, 2, 3))
    assert res == 5
    assert ident != threading.get_ident()


def test_run_in_executor_exception(loop):
    def bad():
        raise ZeroDivisionError("nope")

    with pytest.raises(ZeroDivisionError, match="nope"):
        run(loop, loop.run_in_executor(None, bad))


def test_run_in_executor_returns_future(loop):
    fut = loop.run_in_executor(None, time.sleep, 0)
    assert isinstance(fut, asyncio.Future)
    assert fut.get_loop() is loop
    assert run(loop, fut) is None


def test_run_in_executor_custom_executor(loop):
    with concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="custom-exec") as ex:
        name = run(loop, loop.run_in_executor(
            ex, lambda: threading.current_thread().name))
    assert name.startswith("custom-exec")


def test_run_in_executor_many(loop):
    async def main():
        return await asyncio.gather(
            *(loop.run_in_executor(None, pow, i, 2) for i in range(100)))

    assert run(loop, main()) == [i * i for i in range(100)]


def test_set_default_executor(loop):
    ex = concurrent.futures.ThreadPoolExecutor(
        2, thread_name_prefix="my-default")
    loop.set_default_executor(ex)
    name = run(loop, loop.run_in_executor(
        None, lambda: threading.current_thread().name))
    assert name.startswith("my-default")
    run(loop, loop.shutdown_default_executor())
    # shutdown_default_executor shut *our* executor down
    with pytest.raises(RuntimeError):
        ex.submit(int)


def test_set_default_executor_rejects_non_thread_pool(loop):
    class NotAThreadPool(concurrent.futures.Executor):
        def submit(self, fn, *args, **kwargs):  # pragma: no cover
            raise AssertionError

    # stdlib 3.11+: "executor must be ThreadPoolExecutor instance"; before: a warning
    if py_at_least(3, 11):
        with pytest.raises(TypeError):
            loop.set_default_executor(NotAThreadPool())
    else:
        with pytest.warns(DeprecationWarning):
            loop.set_default_executor(NotAThreadPool())


def test_shutdown_default_executor_then_run_in_executor(loop):
    assert run(loop, loop.run_in_executor(None, int, "7")) == 7
    run(loop, loop.shutdown_default_executor())
    with pytest.raises(RuntimeError):
        loop.run_in_executor(None, int, "8")
    # an explicit executor still works
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        assert run(loop, loop.run_in_executor(ex, int, "9")) == 9


@pytest.mark.skipif(not py_at_least(3, 12),
                    reason="shutdown_default_executor(timeout) is 3.12+")
def test_shutdown_default_executor_timeout_not_needed(loop):
    # Work that finishes well within the timeout: no warning, all joined.
    import warnings

    async def main():
        loop.run_in_executor(None, time.sleep, 0.01)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            await loop.shutdown_default_executor(timeout=2)

    run(loop, main())


def test_shutdown_default_executor_waits_for_work(loop):
    done = []

    def slow():
        time.sleep(0.05)
        done.append(True)

    async def main():
        loop.run_in_executor(None, slow)
        await asyncio.sleep(0)
        await loop.shutdown_default_executor()
        return list(done)

    assert run(loop, main()) == [True]


def test_shutdown_default_executor_unused(loop):
    # Never used: nothing to join, returns promptly.
    t0 = time.monotonic()
    run(loop, loop.shutdown_default_executor())
    assert time.monotonic() - t0 < 1


# shutdown_default_executor(timeout) is 3.12+, but early 3.12 releases
# (e.g. 3.12.1) awaited the executor's shutdown before applying the timeout,
# so the bounded behaviour asserted here is only the oracle's from 3.13 on.
@pytest.mark.skipif(not py_at_least(3, 13),
                    reason="bounded shutdown_default_executor(timeout): 3.13+")
def test_shutdown_default_executor_timeout(loop):
    release = threading.Event()

    async def main():
        loop.run_in_executor(None, release.wait, 5)
        await asyncio.sleep(0.01)
        t0 = time.monotonic()
        with pytest.warns(RuntimeWarning):
            await loop.shutdown_default_executor(timeout=0.1)
        return time.monotonic() - t0

    try:
        elapsed = run(loop, main())
    finally:
        release.set()
    assert 0.09 <= elapsed < 2


# ------------------------------------------------ loops and foreign threads

def test_loop_created_in_one_thread_run_in_another(loop):
    # `loop` was created in the main thread; run it in a worker thread.
    async def main():
        await asyncio.sleep(0.01)
        return asyncio.get_running_loop(), threading.get_ident()

    t = in_thread(lambda: loop.run_until_complete(main()))
    t.join(5)
    assert not t.is_alive()
    assert t.exc is None, t.exc
    running, ident = t.result
    assert running is loop
    assert ident == t.ident
    assert not loop.is_running()
    # and it can be run again in the main thread afterwards
    assert run(loop, asyncio.sleep(0, "main")) == "main"


def test_loop_created_and_run_in_worker_thread(loop_factory):
    def worker():
        lp = loop_factory()
        try:
            return lp.run_until_complete(asyncio.sleep(0.01, "ok"))
        finally:
            lp.close()

    t = in_thread(worker)
    t.join(5)
    assert t.exc is None, t.exc
    assert t.result == "ok"


def test_two_loops_in_two_threads(loop_factory):
    results = {}
    barrier = threading.Barrier(2)

    def worker(name):
        lp = loop_factory()
        try:
            async def main():
                barrier.wait(2)
                await asyncio.sleep(0.02)
                return asyncio.get_running_loop() is lp
            results[name] = lp.run_until_complete(main())
        finally:
            lp.close()

    ts = [in_thread(worker, n) for n in ("a", "b")]
    for t in ts:
        t.join(5)
        assert t.exc is None, t.exc
    assert results == {"a": True, "b": True}


@pytest.mark.parametrize("method", ["call_soon", "call_later", "call_at"])
def test_foreign_thread_call_in_debug_mode_raises(loop, method):
    # stdlib BaseEventLoop._check_thread: in debug mode, call_soon/
    # call_later/call_at from a thread other than the one running the loop
    # raise RuntimeError.
    loop.set_debug(True)
    fut = loop.create_future()
    errors = []

    def foreign():
        try:
            if method == "call_soon":
                loop.call_soon(int)
            elif method == "call_later":
                loop.call_later(0.001, int)
            else:
                loop.call_at(loop.time(), int)
        except BaseException as e:
            errors.append(e)
        loop.call_soon_threadsafe(fut.set_result, None)

    async def main():
        in_thread(foreign, delay=0.01)
        await fut

    run(loop, main())
    assert len(errors) == 1
    assert type(errors[0]) is RuntimeError


def test_foreign_thread_call_soon_threadsafe_ok_in_debug_mode(loop):
    loop.set_debug(True)
    fut = loop.create_future()

    async def main():
        in_thread(lambda: loop.call_soon_threadsafe(fut.set_result, "ok"),
                  delay=0.01)
        return await fut

    assert run(loop, main()) == "ok"


def test_call_soon_from_other_thread_when_not_running_debug(loop):
    # stdlib only checks the thread while the loop runs (_thread_id set).
    loop.set_debug(True)
    out = []
    t = in_thread(lambda: loop.call_soon(out.append, 1))
    t.join(5)
    assert t.exc is None
    run(loop, asyncio.sleep(0.01))
    assert out == [1]


def test_run_forever_in_thread_stopped_threadsafe(loop):
    started = threading.Event()
    loop.call_soon(started.set)
    t = in_thread(loop.run_forever)
    assert started.wait(5)
    assert loop.is_running()
    fut = concurrent.futures.Future()
    loop.call_soon_threadsafe(lambda: fut.set_result(threading.get_ident()))
    assert fut.result(5) == t.ident
    # the classic cross-thread submission API
    cf = asyncio.run_coroutine_threadsafe(asyncio.sleep(0.001, "rct"), loop)
    assert cf.result(5) == "rct"
    loop.call_soon_threadsafe(loop.stop)
    t.join(5)
    assert not t.is_alive() and t.exc is None
    assert not loop.is_running()


def test_call_soon_threadsafe_racing_close(loop_factory):
    # A thread keeps calling call_soon_threadsafe while the loop is closed:
    # it must get RuntimeError (closed loop), never crash the process.
    lp = loop_factory()
    stop = threading.Event()
    errors = []
    calls = [0]

    def hammer():
        while not stop.is_set():
            try:
                lp.call_soon_threadsafe(int)
                calls[0] += 1
            except RuntimeError:
                errors.append(1)
                return

    t = in_thread(hammer)
    try:
        lp.run_until_complete(asyncio.sleep(0.02))
    finally:
        lp.close()
    t.join(5)
    stop.set()
    assert t.exc is None, t.exc
    assert not t.is_alive()
    assert errors == [1]
    assert calls[0] > 0


def test_executor_result_after_loop_closed_is_dropped(loop_factory):
    # A job still running when the loop closes finishes without crashing
    # (its result has nowhere to go).
    lp = loop_factory()
    release = threading.Event()
    ex = concurrent.futures.ThreadPoolExecutor(1)
    try:
        lp.run_in_executor(ex, release.wait, 5)
        lp.run_until_complete(asyncio.sleep(0.01))
    finally:
        lp.close()
        release.set()
        ex.shutdown(wait=True)
    assert lp.is_closed()


def test_close_shuts_default_executor_down(loop_factory):
    lp = loop_factory()
    ex = concurrent.futures.ThreadPoolExecutor(1)
    lp.set_default_executor(ex)
    assert lp.run_until_complete(lp.run_in_executor(None, int, "3")) == 3
    lp.close()
    with pytest.raises(RuntimeError):  # shut down by close()
        ex.submit(int)


def test_shutdown_default_executor_twice(loop):
    run(loop, loop.run_in_executor(None, int))
    run(loop, loop.shutdown_default_executor())
    run(loop, loop.shutdown_default_executor())
    with pytest.raises(RuntimeError):
        loop.run_in_executor(None, int)


def test_gil_released_while_loop_waits(loop):
    # While the loop sleeps waiting for a timer, other Python threads run
    # (the wait happens with the GIL released, as in select/epoll).
    stop = threading.Event()
    count = [0]

    def spin():
        while not stop.is_set():
            count[0] += 1

    t = in_thread(spin)
    try:
        time.sleep(0.01)
        start = count[0]
        run(loop, asyncio.sleep(0.2))
        during = count[0] - start
    finally:
        stop.set()
        t.join(5)
    # Holding the GIL for the whole wait would allow the thread at most a
    # few switch intervals' worth of increments; released, it gets ~0.2 s.
    t0 = time.monotonic()
    base = [0]
    while time.monotonic() - t0 < 0.02:
        base[0] += 1
    assert during > base[0] / 2, (during, base[0])
