"""Handle / TimerHandle: cancel(), cancelled(), when(), get_context() and
their state before and after running."""

import asyncio
import sys
import contextvars

import pytest

from _helpers import py_at_least, run, run_briefly


def test_handle_cancel(loop):
    out = []
    h = loop.call_soon(out.append, "cancelled")
    loop.call_soon(out.append, "kept")
    assert not h.cancelled()
    h.cancel()
    assert h.cancelled()
    h.cancel()  # idempotent
    assert h.cancelled()
    run_briefly(loop)
    assert out == ["kept"]


def test_timerhandle_cancel(loop):
    out = []
    h = loop.call_later(0.005, out.append, "cancelled")
    loop.call_later(0.01, out.append, "kept")
    assert not h.cancelled()
    h.cancel()
    assert h.cancelled()
    run(loop, asyncio.sleep(0.03))
    assert out == ["kept"]


def test_cancel_handle_from_earlier_callback(loop):
    out = []
    h2 = None

    def first():
        out.append(1)
        h2.cancel()

    loop.call_soon(first)
    h2 = loop.call_soon(out.append, 2)
    run_briefly(loop)
    assert out == [1]


def test_cancel_after_run_is_harmless(loop):
    out = []
    h = loop.call_soon(out.append, 1)
    t = loop.call_later(0, out.append, 2)
    run(loop, asyncio.sleep(0.01))
    h.cancel()
    t.cancel()
    assert out == [1, 2]
    assert h.cancelled() and t.cancelled()


@pytest.mark.skipif(not py_at_least(3, 12),
                    reason="Handle.get_context() is new in Python 3.12")
def test_handle_get_context(loop):
    ctx = contextvars.copy_context()
    h = loop.call_soon(lambda: None, context=ctx)
    t = loop.call_later(10, lambda: None, context=ctx)
    try:
        assert h.get_context() is ctx
        assert t.get_context() is ctx
        h2 = loop.call_soon(lambda: None)
        assert isinstance(h2.get_context(), contextvars.Context)
    finally:
        h.cancel()
        t.cancel()


def test_handles_not_cancelled_after_running(loop):
    h = loop.call_soon(int)
    t = loop.call_later(0.001, int)
    s = loop.call_soon_threadsafe(int)
    run(loop, asyncio.sleep(0.01))
    assert not h.cancelled()
    assert not t.cancelled()
    assert not s.cancelled()


def test_timerhandle_when_unchanged_after_running(loop):
    when = loop.time() + 0.002
    t = loop.call_at(when, int)
    run(loop, asyncio.sleep(0.01))
    assert t.when() == when


def test_cancel_returns_none(loop):
    assert loop.call_soon(int).cancel() is None
    assert loop.call_later(1, int).cancel() is None


def test_timerhandles_compare_by_when(loop):
    # asyncio.TimerHandle orders by when(); code such as heapq-based
    # schedulers relies on it.
    now = loop.time()
    a = loop.call_at(now + 10, int)
    b = loop.call_at(now + 20, int)
    try:
        assert a < b and b > a and a <= b and b >= a
        assert a != b
    finally:
        a.cancel()
        b.cancel()


def test_cancelled_handle_releases_args(loop):
    import gc
    import weakref

    class Arg:
        pass

    arg = Arg()
    ref = weakref.ref(arg)
    h = loop.call_soon(print, arg)
    t = loop.call_later(100, print, arg)
    del arg
    h.cancel()
    t.cancel()
    gc.collect()
    # stdlib drops callback and args on cancel(), while the handles live on
    assert ref() is None
    assert h.cancelled() and t.cancelled()


def test_handle_repr_in_debug_mode_shows_arguments(loop):
    def my_callback(x):  # pragma: no cover
        pass

    loop.set_debug(True)
    try:
        h = loop.call_soon(my_callback, 1)
        assert "my_callback(1)" in repr(h)
        h.cancel()
    finally:
        loop.set_debug(False)


def test_handle_repr(loop):
    def my_callback(x):  # pragma: no cover
        pass

    h = loop.call_soon(my_callback, 1)
    t = loop.call_at(loop.time() + 5, my_callback, 2)
    # From 3.13 on, asyncio shows a callback's arguments only in debug mode.
    shown = sys.version_info < (3, 13) or loop.get_debug()
    assert repr(h).startswith("<Handle ")
    assert ("my_callback(1)" if shown else "my_callback()") in repr(h)
    assert repr(t).startswith("<TimerHandle when=")
    assert ("my_callback(2)" if shown else "my_callback()") in repr(t)
    h.cancel()
    t.cancel()
    assert repr(h) == "<Handle cancelled>"
    assert repr(t).startswith("<TimerHandle cancelled when=")
