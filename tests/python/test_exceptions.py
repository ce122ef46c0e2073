"""Exception handling: the loop's exception handler API, exceptions from
callbacks, KeyboardInterrupt/SystemExit propagation and debug mode."""

import asyncio
import gc
import logging
import os
import socket
import sys
import time

import pytest

from _helpers import run, run_briefly, run_until


class MyError(Exception):
    pass


def asyncio_records(caplog, level=logging.DEBUG):
    return [r for r in caplog.records
            if r.name == "asyncio" and r.levelno >= level]


# ------------------------------------------------------- handler API

def test_get_set_exception_handler(loop):
    assert loop.get_exception_handler() is None

    def handler(lp, ctx):  # pragma: no cover
        pass

    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None


@pytest.mark.parametrize("bad", [42, "handler", object()])
def test_set_exception_handler_non_callable(loop, bad):
    with pytest.raises(TypeError):
        loop.set_exception_handler(bad)
    assert loop.get_exception_handler() is None


def test_call_exception_handler_passes_context(loop):
    calls = []
    loop.set_exception_handler(lambda lp, ctx: calls.append((lp, ctx)))
    exc = MyError("x")
    ctx = {"message": "custom", "exception": exc, "extra": 1}
    loop.call_exception_handler(ctx)
    assert len(calls) == 1
    assert calls[0][0] is loop
    assert calls[0][1] == ctx
    assert calls[0][1]["exception"] is exc


def test_handler_raising_is_logged_not_propagated(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")

    def handler(lp, ctx):
        raise MyError("from handler")

    loop.set_exception_handler(handler)
    loop.call_exception_handler({"message": "m"})  # must not raise
    recs = asyncio_records(caplog, logging.ERROR)
    assert recs
    assert any(r.exc_info and isinstance(r.exc_info[1], MyError)
               for r in recs)


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_handler_raising_base_exception_propagates(loop, exc_type):
    def handler(lp, ctx):
        raise exc_type()

    loop.set_exception_handler(handler)
    with pytest.raises(exc_type):
        loop.call_exception_handler({"message": "m"})


# ------------------------------------------------ default handler

def test_default_exception_handler_logs(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    exc = MyError("logged")
    loop.default_exception_handler({"message": "something broke",
                                    "exception": exc})
    recs = asyncio_records(caplog, logging.ERROR)
    assert len(recs) == 1
    assert "something broke" in recs[0].getMessage()
    assert recs[0].exc_info[1] is exc


def test_default_exception_handler_without_message(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.default_exception_handler({"exception": MyError("no message")})
    recs = asyncio_records(caplog, logging.ERROR)
    assert len(recs) == 1
    assert "Unhandled exception in event loop" in recs[0].getMessage()


def test_default_exception_handler_extra_keys(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.default_exception_handler({"message": "msg", "spam": "eggs-value"})
    recs = asyncio_records(caplog, logging.ERROR)
    assert len(recs) == 1
    text = recs[0].getMessage()
    assert "msg" in text and "spam" in text and "eggs-value" in text
    assert not recs[0].exc_info


def test_call_exception_handler_without_handler_logs(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.call_exception_handler({"message": "via default"})
    recs = asyncio_records(caplog, logging.ERROR)
    assert len(recs) == 1 and "via default" in recs[0].getMessage()


# -------------------------------------------- exceptions in callbacks

def test_callback_exception_reaches_handler_and_loop_continues(loop):
    ctxs = []
    loop.set_exception_handler(lambda lp, ctx: ctxs.append(ctx))
    exc = MyError("in callback")

    def bad():
        raise exc

    after = []
    h = loop.call_soon(bad)
    loop.call_soon(after.append, "ran")
    run_briefly(loop)
    assert after == ["ran"]
    assert len(ctxs) == 1
    ctx = ctxs[0]
    assert {"message", "exception", "handle"} <= set(ctx)
    assert ctx["exception"] is exc
    assert ctx["handle"] is h
    assert ctx["message"].startswith("Exception in callback")
    # and the loop keeps working
    assert run(loop, asyncio.sleep(0, 1)) == 1


def test_timer_callback_exception_reaches_handler(loop):
    ctxs = []
    loop.set_exception_handler(lambda lp, ctx: ctxs.append(ctx))

    def bad():
        raise MyError("in timer")

    h = loop.call_later(0.001, bad)
    run(loop, asyncio.sleep(0.02))
    assert len(ctxs) == 1
    assert isinstance(ctxs[0]["exception"], MyError)
    assert ctxs[0]["handle"] is h


def test_threadsafe_callback_exception_reaches_handler(loop):
    ctxs = []
    loop.set_exception_handler(lambda lp, ctx: ctxs.append(ctx))
    loop.call_soon_threadsafe(lambda: 1 / 0)
    run_briefly(loop, 2)
    assert len(ctxs) == 1
    assert isinstance(ctxs[0]["exception"], ZeroDivisionError)


def test_reader_callback_exception_reaches_handler(loop):
    a, b = socket.socketpair()
    ctxs = []
    loop.set_exception_handler(lambda lp, ctx: ctxs.append(ctx))

    def bad():
        a.recv(10)
        raise MyError("in reader")

    loop.add_reader(a.fileno(), bad)
    try:
        b.send(b"x")
        run_until(loop, lambda: ctxs)
    finally:
        loop.remove_reader(a.fileno())
        a.close()
        b.close()
    assert isinstance(ctxs[0]["exception"], MyError)
    assert "handle" in ctxs[0]


def test_callback_exception_without_handler_is_logged(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    after = []
    loop.call_soon(lambda: 1 / 0)
    loop.call_soon(after.append, 1)
    run_briefly(loop)
    assert after == [1]
    recs = asyncio_records(caplog, logging.ERROR)
    assert len(recs) == 1
    assert isinstance(recs[0].exc_info[1], ZeroDivisionError)
    assert "Exception in callback" in recs[0].getMessage()


def test_custom_base_exception_goes_to_handler(loop):
    # stdlib Handle._run: only SystemExit and KeyboardInterrupt escape;
    # any other BaseException goes to the exception handler.
    class MyBase(BaseException):
        pass

    ctxs = []
    loop.set_exception_handler(lambda lp, ctx: ctxs.append(ctx))

    def bad():
        raise MyBase()

    loop.call_soon(bad)
    run_briefly(loop)
    assert len(ctxs) == 1 and isinstance(ctxs[0]["exception"], MyBase)


def test_task_exception_never_retrieved(loop):
    ctxs = []
    loop.set_exception_handler(lambda lp, ctx: ctxs.append(ctx))

    async def bad():
        raise MyError("never retrieved")

    t = loop.create_task(bad())
    run_briefly(loop, 2)
    assert t.done()
    del t
    gc.collect()
    assert len(ctxs) == 1
    assert isinstance(ctxs[0]["exception"], MyError)
    assert "never retrieved" in ctxs[0]["message"]


# ------------------------------ KeyboardInterrupt / SystemExit escape

@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exception_in_callback_escapes_run_forever(loop, exc_type):
    called = []

    def bad():
        raise exc_type()

    loop.call_soon(bad)
    loop.call_soon(called.append, "later")
    with pytest.raises(exc_type):
        loop.run_forever()
    assert not loop.is_running()
    # the loop stays usable and the other callback eventually runs
    run_briefly(loop)
    assert called == ["later"]


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exception_in_callback_escapes_run_until_complete(
        loop, exc_type):
    def bad():
        raise exc_type()

    loop.call_later(0.005, bad)
    with pytest.raises(exc_type):
        loop.run_until_complete(asyncio.sleep(2))
    assert not loop.is_running()
    assert run(loop, asyncio.sleep(0.001, "ok")) == "ok"


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exception_in_coroutine_escapes(loop, exc_type):
    async def main():
        await asyncio.sleep(0)
        raise exc_type()

    with pytest.raises(exc_type):
        loop.run_until_complete(main())
    assert not loop.is_running()
    assert run(loop, asyncio.sleep(0, "ok")) == "ok"


def test_keyboardinterrupt_not_passed_to_handler(loop):
    ctxs = []
    loop.set_exception_handler(lambda lp, ctx: ctxs.append(ctx))

    def bad():
        raise KeyboardInterrupt

    loop.call_soon(bad)
    with pytest.raises(KeyboardInterrupt):
        run_briefly(loop)
    assert ctxs == []


# ---------------------------------------------------------- debug mode

def test_debug_default_and_toggle(loop):
    expected = bool(sys.flags.dev_mode
                    or (not sys.flags.ignore_environment
                        and os.environ.get("PYTHONASYNCIODEBUG")))
    assert loop.get_debug() is expected
    loop.set_debug(True)
    assert loop.get_debug() is True
    loop.set_debug(False)
    assert loop.get_debug() is False


def test_slow_callback_duration_attribute(loop):
    assert loop.slow_callback_duration == pytest.approx(0.1)
    loop.slow_callback_duration = 0.25
    assert loop.slow_callback_duration == pytest.approx(0.25)


def test_slow_callback_warning_in_debug_mode(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.set_debug(True)
    loop.slow_callback_duration = 0.02

    def slow():
        time.sleep(0.05)

    loop.call_soon(slow)
    run_briefly(loop)
    recs = [r for r in asyncio_records(caplog, logging.WARNING)
            if "took" in r.getMessage()]
    assert len(recs) == 1
    msg = recs[0].getMessage()
    assert msg.startswith("Executing") and "seconds" in msg
    assert recs[0].levelno == logging.WARNING


def test_fast_callback_no_warning_in_debug_mode(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.set_debug(True)
    loop.slow_callback_duration = 0.5
    loop.call_soon(time.sleep, 0.01)
    run_briefly(loop)
    assert [r for r in asyncio_records(caplog, logging.WARNING)
            if "took" in r.getMessage()] == []


def test_no_slow_callback_warning_without_debug(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.set_debug(False)
    loop.slow_callback_duration = 0.01
    loop.call_soon(time.sleep, 0.03)
    run_briefly(loop)
    assert [r for r in asyncio_records(caplog, logging.WARNING)
            if "took" in r.getMessage()] == []


def test_debug_mode_handle_has_source_traceback(loop):
    loop.set_debug(True)
    ctxs = []
    loop.set_exception_handler(lambda lp, ctx: ctxs.append(ctx))

    def bad():
        raise MyError

    loop.call_soon(bad)
    run_briefly(loop)
    assert len(ctxs) == 1
    assert "source_traceback" in ctxs[0]
    assert ctxs[0]["source_traceback"]  # non-empty extracted stack


def test_keyboardinterrupt_in_reader_callback_escapes(loop, sockpair):
    a, b = sockpair

    def bad():
        a.recv(10)
        raise KeyboardInterrupt

    loop.add_reader(a.fileno(), bad)
    b.send(b"x")
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(asyncio.sleep(2))
    finally:
        loop.remove_reader(a.fileno())
    assert not loop.is_running()
    assert run(loop, asyncio.sleep(0, "ok")) == "ok"


def test_slow_timer_callback_warning_in_debug_mode(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.set_debug(True)
    loop.slow_callback_duration = 0.02
    loop.call_later(0.001, time.sleep, 0.05)
    run(loop, asyncio.sleep(0.1))
    recs = [r for r in asyncio_records(caplog, logging.WARNING)
            if "took" in r.getMessage()]
    assert len(recs) == 1
    assert recs[0].getMessage().startswith("Executing")


def test_slow_task_step_warning_in_debug_mode(loop, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.set_debug(True)
    loop.slow_callback_duration = 0.02

    async def hog():
        time.sleep(0.05)  # blocks the loop inside one task step

    run(loop, hog())
    recs = [r for r in asyncio_records(caplog, logging.WARNING)
            if "took" in r.getMessage()]
    assert len(recs) >= 1


def test_exception_handler_called_in_loop_thread(loop):
    import threading
    idents = []
    loop.set_exception_handler(
        lambda lp, ctx: idents.append(threading.get_ident()))
    loop.call_soon_threadsafe(lambda: 1 / 0)
    run_briefly(loop, 2)
    assert idents == [threading.get_ident()]


def _loop_class(loop_factory):
    lp = loop_factory()
    lp.close()
    return type(lp)


def test_subclass_default_exception_handler_is_used(loop_factory):
    seen = []

    class MyLoop(_loop_class(loop_factory)):
        def default_exception_handler(self, context):
            seen.append(context)

    lp = MyLoop()
    try:
        lp.call_soon(lambda: 1 / 0)
        lp.call_soon(lp.stop)
        lp.run_forever()
    finally:
        lp.close()
    assert len(seen) == 1
    assert isinstance(seen[0]["exception"], ZeroDivisionError)


def test_subclass_call_exception_handler_is_used(loop_factory):
    seen = []

    class MyLoop(_loop_class(loop_factory)):
        def call_exception_handler(self, context):
            seen.append(context)

    lp = MyLoop()
    a, b = socket.socketpair()
    try:
        lp.call_soon(lambda: 1 / 0)
        lp.call_later(0.001, lambda: [][1])

        def bad_reader():
            a.recv(1)
            lp.remove_reader(a.fileno())
            raise KeyError("reader")

        lp.add_reader(a.fileno(), bad_reader)
        b.send(b"x")
        lp.run_until_complete(asyncio.sleep(0.03))
    finally:
        lp.close()
        a.close()
        b.close()
    kinds = sorted(type(c["exception"]).__name__ for c in seen)
    assert kinds == ["IndexError", "KeyError", "ZeroDivisionError"]


def test_debug_mode_enables_coroutine_origin_tracking(loop):
    before = sys.get_coroutine_origin_tracking_depth()
    loop.set_debug(True)

    async def main():
        return sys.get_coroutine_origin_tracking_depth()

    depth = run(loop, main())
    assert depth > 0  # stdlib: constants.DEBUG_STACK_DEPTH (10)
    assert sys.get_coroutine_origin_tracking_depth() == before


def test_no_coroutine_origin_tracking_without_debug(loop):
    before = sys.get_coroutine_origin_tracking_depth()
    loop.set_debug(False)

    async def main():
        return sys.get_coroutine_origin_tracking_depth()

    assert run(loop, main()) == before
