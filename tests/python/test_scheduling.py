"""Callback scheduling: call_soon / call_later / call_at, handles, the
run/stop life cycle, tasks, task factories and futures."""

import asyncio
import contextvars

import pytest

from _helpers import py_at_least, run, run_briefly

var = contextvars.ContextVar("var", default="default")


# --------------------------------------------------------------- call_soon

def test_call_soon_fifo_order(loop):
    out = []
    for i in range(200):
        loop.call_soon(out.append, i)
    run_briefly(loop)
    assert out == list(range(200))


def test_call_soon_positional_args(loop):
    got = []
    loop.call_soon(lambda *a: got.append(a), 1, "two", None, (3,))
    loop.call_soon(lambda: got.append(()))
    run_briefly(loop)
    assert got == [(1, "two", None, (3,)), ()]


def test_call_soon_does_not_accept_kwargs_for_callback(loop):
    # call_soon(callback, *args, context=None): any other keyword is an error.
    with pytest.raises(TypeError):
        loop.call_soon(print, foo=1)


def test_call_soon_from_callback_runs_next_iteration(loop):
    out = []

    def a():
        out.append("a")
        loop.call_soon(out.append, "c")

    loop.call_soon(a)
    loop.call_soon(out.append, "b")
    run_briefly(loop)
    run_briefly(loop)
    assert out == ["a", "b", "c"]


def test_call_soon_copies_current_context(loop):
    seen = []
    token = var.set("at-schedule")
    try:
        loop.call_soon(lambda: seen.append(var.get()))
    finally:
        var.reset(token)
    var.set("after-schedule")
    try:
        run_briefly(loop)
    finally:
        var.set("default")
    assert seen == ["at-schedule"]


def test_call_soon_explicit_context(loop):
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in-ctx")
    seen = []

    def cb():
        seen.append(var.get())
        var.set("changed-by-callback")

    loop.call_soon(cb, context=ctx)
    loop.call_soon(lambda: seen.append(var.get()))
    run_briefly(loop)
    assert seen == ["in-ctx", "default"]
    # the callback's own set() went into ctx, not into our context
    assert ctx[var] == "changed-by-callback"
    assert var.get() == "default"


def test_callback_sees_running_loop(loop):
    seen = []

    def cb():
        seen.append(asyncio.get_running_loop())
        seen.append(asyncio.get_event_loop())
        seen.append(loop.is_running())

    loop.call_soon(cb)
    run_briefly(loop)
    assert seen[0] is loop and seen[1] is loop and seen[2] is True
    assert not loop.is_running()
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


# -------------------------------------------------------- call_later / at

def test_call_later_ordering(loop):
    out = []
    for d in (0.03, 0.01, 0.05, 0.02, 0.04, 0.0):
        loop.call_later(d, out.append, d)
    loop.call_later(0.06, loop.stop)
    loop.run_forever()
    assert out == [0.0, 0.01, 0.02, 0.03, 0.04, 0.05]


def test_call_at_ordering_and_args(loop):
    out = []
    now = loop.time()
    loop.call_at(now + 0.02, out.append, "second")
    loop.call_at(now + 0.01, out.append, "first")
    loop.call_at(now + 0.03, lambda a, b: out.append((a, b)), 1, 2)
    loop.call_at(now + 0.04, loop.stop)
    loop.run_forever()
    assert out == ["first", "second", (1, 2)]


def test_call_later_zero_and_negative_delay_run(loop):
    out = []
    loop.call_later(0, out.append, "zero")
    loop.call_later(-5, out.append, "negative")
    loop.call_at(loop.time() - 100, out.append, "past")
    run(loop, asyncio.sleep(0.01))
    assert sorted(out) == ["negative", "past", "zero"]


def test_call_soon_runs_before_later_timer(loop):
    out = []
    loop.call_later(0.01, out.append, "timer")
    loop.call_soon(out.append, "soon")
    run(loop, asyncio.sleep(0.03))
    assert out == ["soon", "timer"]


def test_timerhandle_when_call_at_is_exact(loop):
    when = loop.time() + 10.123456
    h = loop.call_at(when, lambda: None)
    try:
        assert h.when() == when
    finally:
        h.cancel()


def test_timerhandle_when_call_later(loop):
    before = loop.time()
    h = loop.call_later(1.5, lambda: None)
    after = loop.time()
    try:
        # loop.time() may be cached per iteration, so allow 1 ms either side
        assert before + 1.5 - 0.001 <= h.when() <= after + 1.5 + 0.001
        assert isinstance(h.when(), float)
    finally:
        h.cancel()


# ------------------------------------------------------ run / stop / close

def test_stop_before_run_forever_runs_one_iteration(loop):
    out = []

    def a():
        out.append("a")
        loop.call_soon(out.append, "c")  # scheduled during the iteration

    loop.call_soon(a)
    loop.call_soon(out.append, "b")
    loop.stop()
    loop.run_forever()
    assert out == ["a", "b"]
    run_briefly(loop)
    assert out == ["a", "b", "c"]


def test_stop_inside_callback_finishes_iteration(loop):
    out = []
    loop.call_soon(out.append, 1)
    loop.call_soon(loop.stop)
    loop.call_soon(out.append, 2)  # already queued: same iteration
    loop.run_forever()
    assert out == [1, 2]
    assert not loop.is_running()


def test_run_forever_again_after_stop(loop):
    n = []
    for _ in range(5):
        loop.call_soon(n.append, 1)
        loop.call_soon(loop.stop)
        loop.run_forever()
    assert len(n) == 5


def test_run_until_complete_returns_result(loop):
    async def coro(x):
        await asyncio.sleep(0)
        return x * 2

    assert loop.run_until_complete(coro(21)) == 42
    fut = loop.create_future()
    loop.call_soon(fut.set_result, "fut")
    assert loop.run_until_complete(fut) == "fut"


def test_run_until_complete_raises_exception(loop):
    async def boom():
        await asyncio.sleep(0)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        loop.run_until_complete(boom())
    assert not loop.is_running()
    assert loop.run_until_complete(asyncio.sleep(0, "again")) == "again"


def test_run_until_complete_cancelled(loop):
    fut = loop.create_future()
    loop.call_soon(fut.cancel)
    with pytest.raises(asyncio.CancelledError):
        loop.run_until_complete(fut)


def test_is_running_is_closed(loop):
    assert not loop.is_running()
    assert not loop.is_closed()
    seen = []
    loop.call_soon(lambda: seen.append(loop.is_running()))
    run_briefly(loop)
    assert seen == [True]
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    assert loop.is_closed()
    assert not loop.is_running()
    loop.close()  # closing twice is allowed
    assert loop.is_closed()


def test_close_drops_pending_callbacks(loop):
    out = []
    loop.call_soon(out.append, 1)
    loop.call_later(0.001, out.append, 2)
    loop.close()
    assert out == []


# -------------------------------------------------------------------- tasks

def test_create_task_name(loop):
    async def coro():
        return asyncio.current_task().get_name()

    t = loop.create_task(coro(), name="my-task")
    assert t.get_name() == "my-task"
    assert run(loop, t) == "my-task"
    t2 = loop.create_task(coro())
    assert t2.get_name().startswith("Task-")
    run(loop, t2)


def test_create_task_returns_task_of_this_loop(loop):
    async def coro():
        return asyncio.get_running_loop()

    t = loop.create_task(coro())
    assert isinstance(t, asyncio.Task)
    assert t.get_loop() is loop
    assert loop.run_until_complete(t) is loop


@pytest.mark.skipif(not py_at_least(3, 11),
                    reason="create_task(context=) is new in 3.11")
def test_create_task_with_context(loop):
    ctx = contextvars.copy_context()
    ctx.run(var.set, "task-ctx")

    async def coro():
        v = var.get()
        var.set("set-in-task")
        await asyncio.sleep(0)
        return v, var.get()

    t = loop.create_task(coro(), context=ctx)
    assert run(loop, t) == ("task-ctx", "set-in-task")
    assert ctx[var] == "set-in-task"
    assert var.get() == "default"


def test_task_factory_get_set(loop):
    assert loop.get_task_factory() is None
    calls = []

    def factory(lp, coro, **kwargs):
        calls.append(lp)
        return asyncio.Task(coro, loop=lp, **kwargs)

    loop.set_task_factory(factory)
    assert loop.get_task_factory() is factory

    async def coro():
        return 7

    t = loop.create_task(coro(), name="via-factory")
    assert t.get_name() == "via-factory"
    assert run(loop, t) == 7
    assert calls and calls[0] is loop

    loop.set_task_factory(None)
    assert loop.get_task_factory() is None
    calls.clear()
    assert run(loop, loop.create_task(coro())) == 7
    assert calls == []


def test_task_factory_used_by_ensure_future(loop):
    made = []

    class MyTask(asyncio.Task):
        pass

    def factory(lp, coro, **kwargs):
        t = MyTask(coro, loop=lp, **kwargs)
        made.append(t)
        return t

    loop.set_task_factory(factory)

    async def main():
        t = asyncio.ensure_future(asyncio.sleep(0, "x"))
        return type(t), await t

    res = run(loop, main())
    assert res == (MyTask, "x")
    assert len(made) >= 2  # the wait_for/main task and the inner one


def test_set_task_factory_non_callable(loop):
    with pytest.raises(TypeError):
        loop.set_task_factory(42)
    assert loop.get_task_factory() is None


@pytest.mark.skipif(not py_at_least(3, 12),
                    reason="asyncio.eager_task_factory is new in 3.12")
def test_eager_task_factory(loop):
    loop.set_task_factory(asyncio.eager_task_factory)
    order = []

    async def child():
        order.append("child-start")
        await asyncio.sleep(0)
        order.append("child-end")
        return "done"

    async def main():
        t = loop.create_task(child())
        order.append("after-create")
        return await t

    assert run(loop, main()) == "done"
    assert order == ["child-start", "after-create", "child-end"]


def test_eager_task_completing_synchronously(loop):
    if not hasattr(asyncio, "eager_task_factory"):
        pytest.skip("asyncio.eager_task_factory is new in 3.12")
    loop.set_task_factory(asyncio.eager_task_factory)

    async def instant():
        return 5

    async def main():
        t = loop.create_task(instant())
        return t.done(), await t

    assert run(loop, main()) == (True, 5)


# ------------------------------------------------------------------ futures

def test_create_future(loop):
    fut = loop.create_future()
    assert isinstance(fut, asyncio.Future)
    assert fut.get_loop() is loop
    assert not fut.done()
    loop.call_soon(fut.set_result, 3)
    assert loop.run_until_complete(fut) == 3


def test_future_done_callbacks_run_via_loop(loop):
    fut = loop.create_future()
    seen = []
    fut.add_done_callback(lambda f: seen.append(f.result()))
    fut.set_result("r")
    assert seen == []  # done callbacks are scheduled, never run inline
    run_briefly(loop)
    assert seen == ["r"]


def test_many_tasks_gather(loop):
    async def work(i):
        await asyncio.sleep(0)
        await asyncio.sleep(0.001 * (i % 3))
        return i

    async def main():
        return await asyncio.gather(*(work(i) for i in range(300)))

    assert run(loop, main()) == list(range(300))


def test_sleep_zero_yields(loop):
    order = []

    async def a():
        for i in range(3):
            order.append(("a", i))
            await asyncio.sleep(0)

    async def b():
        for i in range(3):
            order.append(("b", i))
            await asyncio.sleep(0)

    async def main():
        await asyncio.gather(a(), b())

    run(loop, main())
    assert order == [("a", 0), ("b", 0), ("a", 1), ("b", 1),
                     ("a", 2), ("b", 2)]



def test_stop_twice_then_run_again(loop):
    loop.stop()
    loop.stop()
    loop.run_forever()  # one iteration
    # the stop request was consumed: a new run is not cut short
    assert run(loop, asyncio.sleep(0.01, "full")) == "full"


def test_stop_from_callback_then_run_until_complete(loop):
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert run(loop, asyncio.sleep(0.01, "ok")) == "ok"


def test_run_until_complete_already_done_future(loop):
    fut = loop.create_future()
    fut.set_result("done already")
    assert loop.run_until_complete(fut) == "done already"


def test_many_callbacks_scale(loop):
    import time
    n = 100_000
    count = [0]

    def cb():
        count[0] += 1

    t0 = time.monotonic()
    for _ in range(n):
        loop.call_soon(cb)
    run_briefly(loop)
    assert count[0] == n
    assert time.monotonic() - t0 < 5


def test_many_timers_scale(loop):
    import time
    n = 20_000
    count = [0]

    def cb():
        count[0] += 1

    t0 = time.monotonic()
    for i in range(n):
        loop.call_later((i % 100) * 0.0001, cb)
    run(loop, asyncio.sleep(0.02))
    assert count[0] == n
    assert time.monotonic() - t0 < 5
