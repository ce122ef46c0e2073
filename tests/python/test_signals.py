"""Signals: add_signal_handler / remove_signal_handler, argument errors,
Python-level signal.signal handlers and SIGINT while the loop sleeps."""

import asyncio
import os
import signal
import socket
import threading
import time

import pytest

from _helpers import in_thread, py_at_least, run, run_briefly, run_until

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGUSR1"), reason="POSIX signals required")


@pytest.fixture
def restore_signals():
    saved = {s: signal.getsignal(s)
             for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def kill_later(sig, delay):
    """os.kill(getpid(), sig) from another thread after `delay` seconds."""
    return in_thread(os.kill, os.getpid(), sig, delay=delay)


# ------------------------------------------------------- add / remove

def test_add_signal_handler_called_with_args(loop, restore_signals):
    got = []
    loop.add_signal_handler(signal.SIGUSR1, lambda *a: got.append(
        (a, threading.get_ident())), "x", 2)
    try:
        kill_later(signal.SIGUSR1, 0.01)
        run_until(loop, lambda: got)
    finally:
        assert loop.remove_signal_handler(signal.SIGUSR1) is True
    assert got == [(("x", 2), threading.get_ident())]


def test_signal_handler_runs_via_loop_not_inline(loop, restore_signals):
    # Signal arrives while the loop is not running (sent from this thread,
    # so it is delivered before os.kill returns): the callback runs only
    # once the loop runs.
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append, "sig")
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.01)
        assert got == []
        run_until(loop, lambda: got)
        assert got == ["sig"]
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)


def test_signal_handler_repeated(loop, restore_signals):
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append, 1)
    try:
        for i in range(3):
            kill_later(signal.SIGUSR1, 0.005)
            run_until(loop, lambda: len(got) > i)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    assert got == [1, 1, 1]


def test_add_signal_handler_replaces(loop, restore_signals):
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append, "old")
    loop.add_signal_handler(signal.SIGUSR1, got.append, "new")
    try:
        kill_later(signal.SIGUSR1, 0.01)
        run_until(loop, lambda: got)
        run(loop, asyncio.sleep(0.02))
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    assert got == ["new"]


def test_two_signals_two_handlers(loop, restore_signals):
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append, "usr1")
    loop.add_signal_handler(signal.SIGUSR2, got.append, "usr2")
    try:
        kill_later(signal.SIGUSR2, 0.01)
        run_until(loop, lambda: got)
        kill_later(signal.SIGUSR1, 0.01)
        run_until(loop, lambda: len(got) == 2)
    finally:
        assert loop.remove_signal_handler(signal.SIGUSR1) is True
        assert loop.remove_signal_handler(signal.SIGUSR2) is True
    assert got == ["usr2", "usr1"]


def test_remove_signal_handler_return_value(loop, restore_signals):
    assert loop.remove_signal_handler(signal.SIGUSR1) is False
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    assert loop.remove_signal_handler(signal.SIGUSR1) is True
    assert loop.remove_signal_handler(signal.SIGUSR1) is False
    # SIGKILL can never have been added
    assert loop.remove_signal_handler(signal.SIGKILL) is False


def test_remove_restores_default_disposition(loop, restore_signals):
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    loop.add_signal_handler(signal.SIGUSR1, lambda: None)
    assert signal.getsignal(signal.SIGUSR1) is not signal.SIG_DFL
    loop.remove_signal_handler(signal.SIGUSR1)
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_remove_sigint_restores_default_int_handler(loop, restore_signals):
    signal.signal(signal.SIGINT, signal.default_int_handler)
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    loop.remove_signal_handler(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigint_handled_by_loop_no_keyboardinterrupt(loop, restore_signals):
    got = []
    loop.add_signal_handler(signal.SIGINT, got.append, "int")
    try:
        kill_later(signal.SIGINT, 0.01)
        run_until(loop, lambda: got)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    assert got == ["int"]


def test_close_removes_signal_handlers(loop_factory, restore_signals):
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    lp = loop_factory()
    lp.add_signal_handler(signal.SIGUSR1, lambda: None)
    lp.close()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


# ------------------------------------------------------------- errors

@pytest.mark.parametrize("sig", [0, -1, 1000, signal.NSIG])
def test_invalid_signal_number(loop, sig):
    with pytest.raises(ValueError):
        loop.add_signal_handler(sig, lambda: None)
    with pytest.raises(ValueError):
        loop.remove_signal_handler(sig)


@pytest.mark.parametrize("sig", ["SIGUSR1", 10.0, None, b"\x0a"])
def test_non_int_signal(loop, sig):
    with pytest.raises(TypeError):
        loop.add_signal_handler(sig, lambda: None)
    with pytest.raises(TypeError):
        loop.remove_signal_handler(sig)


def test_signal_enum_accepted(loop, restore_signals):
    loop.add_signal_handler(signal.Signals.SIGUSR1, lambda: None)
    assert loop.remove_signal_handler(int(signal.SIGUSR1)) is True


@pytest.mark.parametrize("name", ["SIGKILL", "SIGSTOP"])
def test_uncatchable_signal(loop, name):
    sig = getattr(signal, name)
    with pytest.raises(RuntimeError):
        loop.add_signal_handler(sig, lambda: None)
    assert loop.remove_signal_handler(sig) is False


def test_coroutine_function_rejected(loop, restore_signals):
    async def coro():  # pragma: no cover
        pass

    with pytest.raises(TypeError):
        loop.add_signal_handler(signal.SIGUSR1, coro)
    c = coro()
    try:
        with pytest.raises(TypeError):
            loop.add_signal_handler(signal.SIGUSR1, c)
    finally:
        c.close()
    assert loop.remove_signal_handler(signal.SIGUSR1) is False


def test_add_signal_handler_outside_main_thread(loop, restore_signals):
    t = in_thread(loop.add_signal_handler, signal.SIGUSR1, lambda: None)
    t.join(5)
    assert isinstance(t.exc, RuntimeError), repr(t.exc)
    assert loop.remove_signal_handler(signal.SIGUSR1) is False


# ------------------------------------- Python-level handlers, SIGINT

def test_python_signal_handler_runs_promptly(loop, restore_signals):
    fut = loop.create_future()
    ran = []

    def handler(signum, frame):
        ran.append(time.monotonic())
        try:
            loop.call_soon_threadsafe(
                lambda: fut.done() or fut.set_result(None))
        except RuntimeError:  # loop already closed: test failed anyway
            pass

    signal.signal(signal.SIGUSR2, handler)
    sent = []

    def send():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGUSR2)

    async def main():
        sleeper = asyncio.ensure_future(asyncio.sleep(10))
        in_thread(send, delay=0.05)
        try:
            await asyncio.wait_for(fut, 3)
        finally:
            sleeper.cancel()

    t0 = time.monotonic()
    try:
        loop.run_until_complete(main())
    except asyncio.TimeoutError:
        pytest.fail("signal.signal handler did not run while the loop slept")
    finally:
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    assert ran and sent
    assert ran[0] - sent[0] < 0.5, f"handler ran {ran[0] - sent[0]:.3f} s late"
    assert time.monotonic() - t0 < 2


def test_python_signal_handler_exception_propagates(loop, restore_signals):
    # An exception raised by a signal.signal handler surfaces from
    # run_until_complete (like KeyboardInterrupt does).
    class Boom(Exception):
        pass

    def handler(signum, frame):
        raise Boom()

    signal.signal(signal.SIGUSR2, handler)
    kill_later(signal.SIGUSR2, 0.05)
    t0 = time.monotonic()
    with pytest.raises(Boom):
        loop.run_until_complete(asyncio.sleep(3))
    assert time.monotonic() - t0 < 2
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    assert run(loop, asyncio.sleep(0, "usable")) == "usable"


def test_sigint_raises_keyboardinterrupt_and_loop_stays_usable(
        loop, restore_signals):
    signal.signal(signal.SIGINT, signal.default_int_handler)
    kill_later(signal.SIGINT, 0.05)
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(asyncio.sleep(3))
        elapsed = time.monotonic() - t0
    except KeyboardInterrupt:  # pragma: no cover - arrived far too late
        pytest.fail("KeyboardInterrupt escaped outside run_until_complete")
    assert elapsed < 2, f"KeyboardInterrupt after {elapsed:.3f} s"
    assert not loop.is_running()
    assert run(loop, asyncio.sleep(0.01, "after")) == "after"
    run_briefly(loop)


def test_sigint_in_runner_cancels_main_task(loop_factory, restore_signals):
    if not py_at_least(3, 11):
        pytest.skip("asyncio.Runner is 3.11+")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cancelled = []

    async def main():
        try:
            await asyncio.sleep(3)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    t0 = time.monotonic()
    kill_later(signal.SIGINT, 0.05)
    try:
        with pytest.raises(KeyboardInterrupt):
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                runner.run(main())
    except KeyboardInterrupt:  # pragma: no cover
        pytest.fail("KeyboardInterrupt escaped outside the Runner")
    assert time.monotonic() - t0 < 2
    assert cancelled == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ------------------------------------------------------------- extras

def test_signal_callback_exception_reaches_handler(loop, restore_signals):
    ctxs = []
    loop.set_exception_handler(lambda lp, ctx: ctxs.append(ctx))

    def bad():
        raise ZeroDivisionError("in signal callback")

    loop.add_signal_handler(signal.SIGUSR1, bad)
    try:
        kill_later(signal.SIGUSR1, 0.01)
        run_until(loop, lambda: ctxs)
        assert run(loop, asyncio.sleep(0.005, "alive")) == "alive"
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    assert isinstance(ctxs[0]["exception"], ZeroDivisionError)
    assert "handle" in ctxs[0]


def test_signal_handler_removed_in_its_callback(loop, restore_signals):
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    got = []

    def once():
        got.append(loop.remove_signal_handler(signal.SIGUSR1))

    loop.add_signal_handler(signal.SIGUSR1, once)
    kill_later(signal.SIGUSR1, 0.01)
    run_until(loop, lambda: got)
    assert got == [True]
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_signal_for_idle_loop_waits_while_other_loop_runs(
        loop, loop_factory, restore_signals):
    # `loop` owns the SIGUSR1 handler but is not running; another loop
    # runs in this thread when the signal arrives. stdlib: the signal is
    # kept for the owning loop (its wake-up descriptor) and the callback
    # runs as soon as that loop runs.
    got = []
    loop.add_signal_handler(signal.SIGUSR1, got.append, "owner")
    other = loop_factory()
    try:
        kill_later(signal.SIGUSR1, 0.01)
        other.run_until_complete(asyncio.sleep(0.1))
        assert got == []
        run_until(loop, lambda: got)
        assert got == ["owner"]
    finally:
        other.close()
        loop.remove_signal_handler(signal.SIGUSR1)


def test_users_wakeup_fd_is_left_alone(loop, restore_signals):
    # With no add_signal_handler, the loop does not take over
    # signal.set_wakeup_fd: a wake-up descriptor installed by the user
    # keeps receiving the signal numbers while the loop runs.
    r, w = socket.socketpair()
    r.setblocking(False)
    w.setblocking(False)
    ran = []
    signal.signal(signal.SIGUSR2, lambda s, f: ran.append(s))
    old = signal.set_wakeup_fd(w.fileno())
    try:
        kill_later(signal.SIGUSR2, 0.02)
        run_until(loop, lambda: ran)
        current = signal.set_wakeup_fd(w.fileno())
        assert current == w.fileno()
        try:
            data = r.recv(16)
        except BlockingIOError:
            data = b""
        assert data == bytes([signal.SIGUSR2])
    finally:
        signal.set_wakeup_fd(old)
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        r.close()
        w.close()
    assert ran == [signal.SIGUSR2]
