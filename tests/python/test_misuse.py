"""Misuse: closed loops, re-entrant runs, nested loops and bad arguments."""

import asyncio
import signal
import socket
import sys

import pytest

from _helpers import run, run_briefly


async def _coro():  # pragma: no cover - never awaited by the tests
    pass


def _call_with_coro(method):
    def call(loop):
        c = _coro()
        try:
            return getattr(loop, method)(c)
        finally:
            c.close()
    return call


CLOSED_RAISES = {
    "call_soon": lambda lp: lp.call_soon(int),
    "call_later": lambda lp: lp.call_later(0.1, int),
    "call_at": lambda lp: lp.call_at(lp.time() + 1, int),
    "call_soon_threadsafe": lambda lp: lp.call_soon_threadsafe(int),
    "run_forever": lambda lp: lp.run_forever(),
    "run_until_complete": _call_with_coro("run_until_complete"),
    "create_task": _call_with_coro("create_task"),
    "run_in_executor": lambda lp: lp.run_in_executor(None, int),
    "add_reader": "fd",
    "add_writer": "fd",
    "add_signal_handler": lambda lp: lp.add_signal_handler(
        signal.SIGUSR1, int),
}


@pytest.fixture
def closed_loop(loop):
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    return loop


@pytest.mark.parametrize("op", sorted(CLOSED_RAISES))
def test_closed_loop_raises_runtime_error(closed_loop, op):
    action = CLOSED_RAISES[op]
    if action == "fd":
        a, b = socket.socketpair()
        try:
            with pytest.raises(RuntimeError):
                getattr(closed_loop, op)(a.fileno(), int)
        finally:
            a.close()
            b.close()
    else:
        with pytest.raises(RuntimeError):
            action(closed_loop)


def test_closed_loop_remove_returns_false(closed_loop):
    # stdlib: remove_reader/remove_writer on a closed loop return False,
    # remove_signal_handler finds nothing registered.
    a, b = socket.socketpair()
    try:
        assert closed_loop.remove_reader(a.fileno()) is False
        assert closed_loop.remove_writer(a.fileno()) is False
    finally:
        a.close()
        b.close()
    assert closed_loop.remove_signal_handler(signal.SIGUSR1) is False


def test_closed_loop_harmless_methods(closed_loop):
    assert closed_loop.is_closed()
    assert not closed_loop.is_running()
    assert isinstance(closed_loop.time(), float)
    closed_loop.set_debug(True)
    assert closed_loop.get_debug() is True
    closed_loop.stop()  # no error
    closed_loop.close()  # idempotent


def test_close_while_running(loop):
    errors = []

    def cb():
        try:
            loop.close()
        except RuntimeError as e:
            errors.append(e)

    loop.call_soon(cb)
    run_briefly(loop)
    assert len(errors) == 1
    assert not loop.is_closed()


def test_close_from_coroutine_raises(loop):
    async def main():
        loop.close()

    with pytest.raises(RuntimeError):
        run(loop, main())
    assert not loop.is_closed()


# ------------------------------------------------- re-entrant / nested

def test_run_forever_while_running(loop):
    async def main():
        with pytest.raises(RuntimeError):
            loop.run_forever()
        return "survived"

    assert run(loop, main()) == "survived"


def test_run_until_complete_while_running(loop):
    async def main():
        inner = asyncio.sleep(0)
        try:
            with pytest.raises(RuntimeError):
                loop.run_until_complete(inner)
        finally:
            inner.close()
        return "survived"

    assert run(loop, main()) == "survived"


def test_second_loop_in_same_thread(loop, loop_factory):
    other = loop_factory()
    try:
        async def main():
            c = asyncio.sleep(0)
            try:
                with pytest.raises(RuntimeError):
                    other.run_until_complete(c)
            finally:
                c.close()
            with pytest.raises(RuntimeError):
                other.run_forever()
            return "survived"

        assert run(loop, main()) == "survived"
        assert not other.is_running()
        # once the first loop is idle, the other one runs fine
        assert other.run_until_complete(asyncio.sleep(0, "other")) == "other"
    finally:
        other.close()


def test_stop_before_run_until_complete_done(loop):
    fut = loop.create_future()
    loop.call_soon(loop.stop)
    with pytest.raises(RuntimeError):
        loop.run_until_complete(fut)
    assert not fut.done()
    fut.cancel()


def test_run_until_complete_future_of_other_loop(loop, loop_factory):
    other = loop_factory()
    try:
        fut = other.create_future()
        with pytest.raises(ValueError):
            loop.run_until_complete(fut)
    finally:
        other.close()


@pytest.mark.parametrize("bad", [42, None, "str", lambda: None])
def test_run_until_complete_not_awaitable(loop, bad):
    with pytest.raises(TypeError):
        loop.run_until_complete(bad)


def test_create_task_not_a_coroutine(loop):
    with pytest.raises(TypeError):
        loop.create_task(42)
    with pytest.raises(TypeError):
        loop.create_task(lambda: None)


# --------------------------------------------------- non-callables
#
# stdlib asyncio only validates callbacks in debug mode (_check_callback is
# behind `if self._debug`); rsuv validates always. The tests therefore turn
# debug mode on for the asyncio loop only, and leave it off for rsuv so
# that the "always" part is exercised.

SCHEDULERS = {
    "call_soon": lambda lp, cb: lp.call_soon(cb),
    "call_later": lambda lp, cb: lp.call_later(0.01, cb),
    "call_at": lambda lp, cb: lp.call_at(lp.time() + 0.01, cb),
    "call_soon_threadsafe": lambda lp, cb: lp.call_soon_threadsafe(cb),
}


@pytest.mark.parametrize("method", sorted(SCHEDULERS))
@pytest.mark.parametrize("bad", [42, "not callable", None],
                         ids=["int", "str", "None"])
def test_non_callable_raises_type_error(loop, loop_name, method, bad):
    if loop_name == "asyncio":
        loop.set_debug(True)
    with pytest.raises(TypeError):
        SCHEDULERS[method](loop, bad)
    run_briefly(loop)  # nothing bad was scheduled


@pytest.mark.parametrize("method", sorted(SCHEDULERS))
def test_coroutine_function_rejected_in_debug(loop, method):
    # Both loops in debug mode: coroutine functions and coroutine objects
    # are not callbacks.
    loop.set_debug(True)
    with pytest.raises(TypeError):
        SCHEDULERS[method](loop, _coro)
    c = _coro()
    try:
        with pytest.raises(TypeError):
            SCHEDULERS[method](loop, c)
    finally:
        c.close()


def test_call_later_bad_delay(loop):
    import decimal
    with pytest.raises(TypeError):
        loop.call_later("soon", int)
    with pytest.raises(TypeError):
        loop.call_later(None, int)
    with pytest.raises(TypeError):
        loop.call_later(b"1", int)
    # stdlib computes time() + delay: float + Decimal is a TypeError
    with pytest.raises(TypeError):
        loop.call_later(decimal.Decimal("0.001"), int)


def test_call_later_numeric_delays(loop):
    import fractions
    out = []
    for d in (0, fractions.Fraction(1, 1000), -1e300, float("-inf")):
        loop.call_later(d, out.append, d)
    loop.run_until_complete(asyncio.sleep(0.02))
    assert sorted(out, key=float) == sorted(
        [0, fractions.Fraction(1, 1000), -1e300, float("-inf")], key=float)


def test_call_at_none_when(loop):
    if sys.version_info < (3, 11) and not type(loop).__module__.startswith("rsuv"):
        pytest.skip("stdlib before 3.11 asserts when is not None (AssertionError)")
    with pytest.raises(TypeError):
        loop.call_at(None, int)


def test_loop_usable_after_misuse(loop):
    for op in (lambda: loop.call_later("x", int),
               lambda: loop.run_until_complete(42),
               lambda: loop.set_task_factory(1),
               lambda: loop.set_exception_handler(1)):
        with pytest.raises(TypeError):
            op()
    assert run(loop, asyncio.sleep(0.001, "fine")) == "fine"


def test_unclosed_loop_warns_when_collected(loop_factory):
    import gc
    lp = loop_factory()
    lp.call_soon(int)
    lp.call_later(10, int)
    with pytest.warns(ResourceWarning):
        del lp
        gc.collect()


def test_loop_collected_after_close(loop_factory):
    import gc
    import weakref
    lp = loop_factory()
    lp.run_until_complete(asyncio.sleep(0.001))
    lp.call_later(10, int)  # pending timer dropped by close()
    lp.close()
    ref = weakref.ref(lp)
    del lp
    gc.collect()
    assert ref() is None
