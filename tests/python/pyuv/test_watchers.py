"""Timer, Prepare, Check, Idle, Async, Signal, Poll and util.SignalChecker
(pyuv 1.4 src/timer.c, prepare.c, check.c, idle.c, async.c, signal.c,
poll.c, util.c)."""

import os
import signal
import socket
import threading
import time
import warnings

import pytest

import pyuv


# -- Timer ------------------------------------------------------------------

def test_timer_start_one_shot_in_seconds(lp, run):
    fired = []
    t = pyuv.Timer(lp)
    t0 = time.monotonic()
    assert t.start(lambda h: fired.append((h, time.monotonic() - t0)), 0.05, 0) is None
    run(lp)
    assert len(fired) == 1
    h, elapsed = fired[0]
    assert h is t
    assert 0.045 <= elapsed < 2.0  # 0.05 is seconds (50 ms), never early
    assert t.active is False
    t.close()
    run(lp)


def test_timer_start_keywords(lp, run):
    fired = []
    t = pyuv.Timer(lp)
    t.start(callback=lambda h: fired.append(1), timeout=0.001, repeat=0.0)
    run(lp)
    assert fired == [1]
    t.close()
    run(lp)


def test_timer_repeat_runs_until_stopped(lp, run):
    ticks = []

    def cb(h):
        ticks.append(time.monotonic())
        if len(ticks) == 4:
            h.stop()
    t = pyuv.Timer(lp)
    t.start(cb, 0.01, 0.02)
    assert t.repeat == pytest.approx(0.02)
    run(lp)
    assert len(ticks) == 4
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert all(g >= 0.015 for g in gaps), gaps
    t.close()
    run(lp)


def test_timer_repeat_property_rw(lp):
    t = pyuv.Timer(lp)
    assert t.repeat == 0.0
    t.repeat = 1.5
    assert t.repeat == pytest.approx(1.5)
    assert isinstance(t.repeat, float)
    with pytest.raises(ValueError):
        t.repeat = -1.0
    t.close()


def test_timer_repeat_delete_is_typeerror(lp):
    t = pyuv.Timer(lp)
    with pytest.raises(TypeError):
        del t.repeat
    t.close()


def test_timer_again_restarts_with_repeat(lp, run):
    ticks = []
    t = pyuv.Timer(lp)

    def cb(h):
        ticks.append(1)
        if len(ticks) == 2:
            h.close()
    t.start(cb, 10.0, 0)  # would fire in 10 s
    t.repeat = 0.01
    assert t.again() is None  # restarts now with the repeat (10 ms) as timeout
    t0 = time.monotonic()
    run(lp)
    assert ticks == [1, 1]
    assert time.monotonic() - t0 < 2.0


def test_timer_again_never_started_raises(lp):
    t = pyuv.Timer(lp)
    with pytest.raises(pyuv.error.TimerError) as ei:
        t.again()
    assert ei.value.args[0] == pyuv.errno.UV_EINVAL
    t.close()


def test_timer_submillisecond_warns_and_rounds_up(lp, run):
    fired = []
    t = pyuv.Timer(lp)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t.start(lambda h: fired.append(1), 0.0001, 0.0001)
    assert [x.category for x in w] == [RuntimeWarning, RuntimeWarning]
    assert t.repeat == pytest.approx(0.001)
    t.stop()
    t.close()
    run(lp)


def test_timer_start_bad_arguments(lp):
    t = pyuv.Timer(lp)
    with pytest.raises(ValueError):
        t.start(lambda h: None, -1, 0)
    with pytest.raises(ValueError):
        t.start(lambda h: None, 0, -1)
    with pytest.raises(TypeError):
        t.start(None, 0, 0)
    with pytest.raises(TypeError):
        t.start(lambda h: None, 0)  # repeat is required
    t.close()
    with pytest.raises(pyuv.error.HandleClosedError):
        t.start(lambda h: None, 0, 0)


def test_timer_stop_prevents_callback(lp, run):
    fired = []
    t = pyuv.Timer(lp)
    t.start(lambda h: fired.append(1), 0.01, 0)
    assert t.stop() is None
    assert run(lp) is False
    assert fired == []
    t.close()
    run(lp)


def test_timer_order_by_due_time(lp, run):
    order = []
    ts = []
    for name, delay in (("c", 0.03), ("a", 0.01), ("b", 0.02)):
        t = pyuv.Timer(lp)
        t.start(lambda h, n=name: (order.append(n), h.close()), delay, 0)
        ts.append(t)
    run(lp)
    assert order == ["a", "b", "c"]


# -- Prepare / Check / Idle ---------------------------------------------------

def test_idle_prepare_check_order_and_stop(lp, run):
    events = []
    idle, prep, check = pyuv.Idle(lp), pyuv.Prepare(lp), pyuv.Check(lp)

    def on(name):
        def cb(h):
            events.append(name)
            if len(events) >= 6:
                for x in (idle, prep, check):
                    x.stop()
        return cb
    prep.start(on("prepare"))
    check.start(on("check"))
    idle.start(on("idle"))
    assert idle.active and prep.active and check.active
    run(lp)
    # libuv's iteration: idle, prepare, poll, check
    assert events[:6] == ["idle", "prepare", "check"] * 2
    assert not (idle.active or prep.active or check.active)
    for x in (idle, prep, check):
        x.close()
    run(lp)


@pytest.mark.parametrize("cls", [pyuv.Idle, pyuv.Prepare, pyuv.Check])
def test_idle_prepare_check_callback_gets_handle(cls, lp, run):
    seen = []
    keep = pyuv.Timer(lp)  # keeps the loop iterating for Prepare/Check
    keep.start(lambda h: None, 0.001, 0.001)
    h = cls(lp)

    def cb(x):
        seen.append(x)
        if len(seen) == 3:
            x.stop()
            keep.close()
    h.start(cb)
    run(lp)
    assert seen == [h, h, h]
    with pytest.raises(TypeError):
        h.start(5)
    h.close()
    run(lp)


# -- Async --------------------------------------------------------------------

def test_async_send_from_thread(lp, run):
    got = []
    main = threading.get_ident()

    def cb(h):
        got.append(threading.get_ident())
        h.close()
    a = pyuv.Async(lp, cb)
    th = threading.Thread(target=lambda: (time.sleep(0.05), a.send()))
    th.start()
    run(lp)
    th.join()
    assert got == [main]


def test_async_coalesces_sends(lp, run):
    calls = []
    a = pyuv.Async(lp, lambda h: calls.append(1))

    def sender():
        for _ in range(100):
            a.send()
    th = threading.Thread(target=sender)
    th.start()
    th.join()
    t = pyuv.Timer(lp)
    t.start(lambda h: (h.close(), a.close()), 0.05, 0)
    run(lp)
    assert 1 <= len(calls) <= 100


def test_async_without_callback(lp, run):
    a = pyuv.Async(lp)
    a.send()
    t = pyuv.Timer(lp)
    t.start(lambda h: (h.close(), a.close()), 0.01, 0)
    run(lp)
    assert a.closed


# -- Signal -------------------------------------------------------------------

def test_signal_start_with_os_kill(lp, run):
    got = []
    s = pyuv.Signal(lp)

    def on_signal(h, signum):
        got.append((h, signum))
        h.close()
    assert s.start(on_signal, signal.SIGUSR1) is None
    assert s.active
    t = pyuv.Timer(lp)
    t.start(lambda h: (os.kill(os.getpid(), signal.SIGUSR1), h.close()), 0.01, 0)
    run(lp)
    assert got == [(s, signal.SIGUSR1)]


def test_signal_stop_and_bad_signum(lp, run):
    s = pyuv.Signal(lp)
    s.start(lambda h, n: None, signal.SIGUSR2)
    assert s.stop() is None
    assert not s.active
    with pytest.raises(pyuv.error.SignalError) as ei:
        s.start(lambda h, n: None, 12345)
    assert ei.value.args[0] == pyuv.errno.UV_EINVAL
    with pytest.raises(TypeError):
        s.start(None, signal.SIGUSR2)
    s.close()
    run(lp)


# -- Poll ---------------------------------------------------------------------

@pytest.fixture
def spair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_poll_readable_on_socketpair(lp, run, spair):
    a, b = spair
    events = []
    p = pyuv.Poll(lp, a.fileno())
    assert p.fileno() == a.fileno()

    def cb(h, ev, error):
        events.append((h, ev, error, a.recv(100)))
        h.stop()
        h.close()
    assert p.start(pyuv.UV_READABLE, cb) is None
    assert p.active
    t = pyuv.Timer(lp)
    t.start(lambda h: (b.send(b"ping"), h.close()), 0.01, 0)
    run(lp)
    assert events == [(p, pyuv.UV_READABLE, None, b"ping")]


def test_poll_writable_and_stop(lp, run, spair):
    a, _ = spair
    events = []
    p = pyuv.Poll(lp, a.fileno())

    def cb(h, ev, error):
        events.append(ev)
        h.stop()
    p.start(pyuv.UV_WRITABLE | pyuv.UV_READABLE, cb)
    run(lp)
    assert events == [pyuv.UV_WRITABLE]  # nothing to read, room to write
    assert not p.active
    p.close()
    run(lp)


def test_poll_disconnect(lp, run, spair):
    a, b = spair
    events = []
    p = pyuv.Poll(lp, a.fileno())

    def cb(h, ev, error):
        events.append(ev)
        h.close()
    p.start(pyuv.UV_READABLE | pyuv.UV_DISCONNECT, cb)
    t = pyuv.Timer(lp)
    t.start(lambda h: (b.shutdown(socket.SHUT_WR), h.close()), 0.01, 0)
    run(lp)
    assert len(events) == 1
    assert events[0] & pyuv.UV_DISCONNECT
    assert (pyuv.UV_READABLE, pyuv.UV_WRITABLE, pyuv.UV_DISCONNECT) == (1, 2, 4)


def test_poll_start_requires_callable(lp, spair):
    p = pyuv.Poll(lp, spair[0].fileno())
    with pytest.raises(TypeError):
        p.start(pyuv.UV_READABLE, None)
    p.close()


# -- util.SignalChecker --------------------------------------------------------

@pytest.fixture
def wakeup():
    r, w = socket.socketpair()
    r.setblocking(False)
    w.setblocking(False)
    old = signal.set_wakeup_fd(w.fileno())
    yield r
    signal.set_wakeup_fd(old)
    r.close()
    w.close()


def _kill_from_thread(signum, delay=0.05):
    th = threading.Thread(target=lambda: (time.sleep(delay), os.kill(os.getpid(), signum)))
    th.start()
    return th


def test_signal_checker_runs_python_handlers(lp, run, wakeup):
    got = []
    sc = pyuv.util.SignalChecker(lp, wakeup.fileno())

    def handler(signum, frame):
        got.append(signum)
        sc.close()
    old = signal.signal(signal.SIGUSR2, handler)
    try:
        assert sc.start() is None
        assert sc.active
        th = _kill_from_thread(signal.SIGUSR2)
        run(lp)
        th.join()
    finally:
        signal.signal(signal.SIGUSR2, old)
    assert got == [signal.SIGUSR2]


def test_signal_checker_stop(lp, run, wakeup):
    sc = pyuv.util.SignalChecker(lp, wakeup.fileno())
    sc.start()
    assert sc.active
    assert sc.stop() is None
    assert not sc.active
    assert run(lp) is False
    sc.close()
    run(lp)


def test_signal_checker_handler_exception_to_excepthook(lp, run, wakeup):
    seen = []
    lp.excepthook = lambda typ, val, tb: (seen.append(typ), sc.close())
    sc = pyuv.util.SignalChecker(lp, wakeup.fileno())

    def handler(signum, frame):
        raise ValueError("from handler")
    old = signal.signal(signal.SIGUSR2, handler)
    try:
        sc.start()
        th = _kill_from_thread(signal.SIGUSR2)
        run(lp)
        th.join()
    finally:
        signal.signal(signal.SIGUSR2, old)
    assert seen == [ValueError]
