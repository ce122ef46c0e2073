"""contextvars: every kind of callback runs in the context captured when
it was scheduled (or the one passed explicitly), never in the loop's."""

import asyncio
import contextvars
import os
import signal
import sys
import threading

import pytest

from _helpers import in_thread, run, run_briefly, run_until

var = contextvars.ContextVar("ctxvar", default="default")


def _schedule_in(value, fn):
    """Call fn() with var set to value, restoring it afterwards."""
    token = var.set(value)
    try:
        return fn()
    finally:
        var.reset(token)


def test_call_later_copies_context(loop):
    seen = []
    _schedule_in("later", lambda: loop.call_later(
        0.001, lambda: seen.append(var.get())))
    _schedule_in("at", lambda: loop.call_at(
        loop.time() + 0.002, lambda: seen.append(var.get())))
    run(loop, asyncio.sleep(0.02))
    assert seen == ["later", "at"]


def test_call_later_explicit_context(loop):
    ctx = contextvars.copy_context()
    ctx.run(var.set, "explicit")
    seen = []

    def cb():
        seen.append(var.get())
        var.set("written")

    loop.call_later(0.001, cb, context=ctx)
    loop.call_at(loop.time() + 0.002, lambda: seen.append(var.get()),
                 context=ctx)
    run(loop, asyncio.sleep(0.02))
    assert seen == ["explicit", "written"]
    assert var.get() == "default"


def test_callbacks_do_not_leak_context_into_each_other(loop):
    seen = []

    def writer():
        var.set("leaked?")

    loop.call_soon(writer)
    loop.call_soon(lambda: seen.append(var.get()))
    loop.call_later(0.001, writer)
    loop.call_later(0.002, lambda: seen.append(var.get()))
    run(loop, asyncio.sleep(0.02))
    assert seen == ["default", "default"]
    assert var.get() == "default"


def test_call_soon_threadsafe_copies_calling_threads_context(loop):
    seen = []
    fut = loop.create_future()

    def from_thread():
        var.set("thread-value")
        loop.call_soon_threadsafe(
            lambda: (seen.append(var.get()), fut.set_result(None)))

    in_thread(from_thread, delay=0.01)
    run(loop, fut)
    assert seen == ["thread-value"]


def test_reader_callback_context(loop, sockpair):
    a, b = sockpair
    seen = []

    def on_read():
        a.recv(10)
        seen.append(var.get())
        var.set("reader-wrote")

    _schedule_in("at-add-reader", lambda: loop.add_reader(a.fileno(),
                                                           on_read))
    try:
        b.send(b"1")
        run_until(loop, lambda: seen)
        b.send(b"2")
        run_until(loop, lambda: len(seen) == 2)
    finally:
        loop.remove_reader(a.fileno())
    # every run uses the one context captured at add_reader() time, so the
    # callback's own write is visible to its next run (stdlib: one Handle)
    assert seen == ["at-add-reader", "reader-wrote"]
    assert var.get() == "default"


def test_writer_callback_context(loop, sockpair):
    a, _ = sockpair
    seen = []

    def on_write():
        seen.append(var.get())
        loop.remove_writer(a.fileno())

    _schedule_in("at-add-writer", lambda: loop.add_writer(a.fileno(),
                                                           on_write))
    run_until(loop, lambda: seen)
    assert seen == ["at-add-writer"]


def test_signal_handler_context(loop):
    seen = []
    _schedule_in("at-add-signal", lambda: loop.add_signal_handler(
        signal.SIGUSR1, lambda: seen.append(var.get())))
    try:
        in_thread(os.kill, os.getpid(), signal.SIGUSR1, delay=0.01)
        run_until(loop, lambda: seen)
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
    assert seen == ["at-add-signal"]


def test_task_copies_context_at_creation(loop):
    async def child():
        return var.get()

    async def main():
        var.set("main")
        t = asyncio.ensure_future(child())
        var.set("changed-after")
        return await t

    assert run(loop, main()) == "main"
    assert var.get() == "default"


def test_run_in_executor_does_not_copy_context(loop):
    # stdlib: run_in_executor runs func without the caller's context
    # (asyncio.to_thread is the one that copies it).
    async def main():
        var.set("caller")
        plain = await loop.run_in_executor(None, var.get)
        copied = await asyncio.to_thread(var.get)
        return plain, copied

    assert run(loop, main()) == ("default", "caller")


def test_exception_handler_sees_handle_context(loop):
    # 3.12+ runs the custom exception handler in the failing handle's
    # context; 3.11 runs it in the loop's. Either way it must not crash and
    # the value seen is one of the two.
    seen = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(var.get()))

    def bad():
        raise ValueError

    _schedule_in("in-handle", lambda: loop.call_soon(bad))
    run_briefly(loop)
    assert len(seen) == 1
    expected = "in-handle" if sys.version_info >= (3, 12) else "default"
    assert seen == [expected]


def test_same_context_object_for_nested_scheduling(loop):
    # A callback running in ctx schedules another callback with the same
    # ctx: callbacks run one at a time, so ctx is never entered twice at
    # once and no error reaches the exception handler.
    ctx = contextvars.copy_context()
    errors = []
    loop.set_exception_handler(lambda lp, c: errors.append(c["exception"]))
    done = []

    def outer():
        loop.call_soon(done.append, "inner", context=ctx)

    loop.call_soon(outer, context=ctx)
    run_briefly(loop, 2)
    assert done == ["inner"]
    assert errors == []


@pytest.mark.parametrize("n", [1000])
def test_many_contexts(loop, n):
    seen = []
    for i in range(n):
        ctx = contextvars.Context()
        ctx.run(var.set, i)
        loop.call_soon(lambda: seen.append(var.get()), context=ctx)
    run_briefly(loop)
    assert seen == list(range(n))
    assert threading.current_thread() is threading.main_thread()
