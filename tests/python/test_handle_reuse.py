"""Handles after they ran: whoever holds one keeps it as it was.

rsuv keeps handles that ran and that nothing else references, and fills them in for later
callbacks (src/python/freelist.rs). These tests check that no one can see that: a handle
held by a strong or a weak reference, or reached through the collector, keeps its callback,
arguments and context however many callbacks the loop runs after it; a cycle through a
handle is collected. Each runs on stdlib asyncio and on rsuv, with the same outcome.
"""

import asyncio
import contextvars
import gc
import weakref

var = contextvars.ContextVar("var", default="unset")


def run_chain(loop, n):
    """Runs `n` callbacks, each scheduled by the one before (so handles come and go)."""
    count = 0

    def step():
        nonlocal count
        count += 1
        if count < n:
            loop.call_soon(step)
        else:
            loop.stop()

    loop.call_soon(step)
    loop.run_forever()
    assert count == n


def test_held_handle_keeps_its_callback(loop):
    ran = []

    def cb(x):
        ran.append(x)

    h = loop.call_soon(cb, 7)
    loop.call_soon(loop.stop)
    loop.run_forever()
    run_chain(loop, 1000)
    assert ran == [7]
    assert h._callback is cb
    assert h._args == (7,)
    assert not h.cancelled()


def test_held_timer_keeps_its_when(loop):
    t = loop.call_later(0.001, lambda: None)
    when = t.when()
    loop.run_until_complete(asyncio.sleep(0.01))
    for _ in range(300):
        loop.call_later(0, lambda: None)
    loop.run_until_complete(asyncio.sleep(0.01))
    assert t.when() == when


def test_weakly_referenced_handle_is_not_reused(loop):
    refs = []

    def cb():
        pass

    for _ in range(50):
        refs.append(weakref.ref(loop.call_soon(cb)))
    loop.call_soon(loop.stop)
    loop.run_forever()
    run_chain(loop, 500)
    for r in refs:
        h = r()
        # Either gone (freed) or still the handle of `cb`, never someone else's.
        assert h is None or h._callback is cb


def test_context_of_each_callback_is_its_own(loop):
    seen = []

    def cb(i):
        seen.append((i, var.get()))

    for i in range(600):
        ctx = contextvars.copy_context()
        ctx.run(var.set, f"v{i}")
        loop.call_soon(cb, i, context=ctx)
        if i % 7 == 0:
            loop.call_soon(loop.stop)
            loop.run_forever()
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [(i, f"v{i}") for i in range(600)]
    assert var.get() == "unset"


def test_handles_reached_through_the_collector_stay_intact(loop):
    class Marker:
        pass

    marker = Marker()
    loop.call_soon(lambda m=marker: None)
    loop.call_soon(loop.stop)
    loop.run_forever()
    handle_type = type(loop.call_soon(lambda: None))
    found = [o for o in gc.get_objects() if type(o) is handle_type]
    run_chain(loop, 500)
    for h in found:
        # Whatever the collector showed keeps behaving as a handle (no crash, no change).
        h.cancelled()
        repr(h)
        cb = h._callback
        assert cb is None or callable(cb)


def test_cycle_through_a_handle_is_collected(loop):
    class Owner:
        pass

    def make():
        o = Owner()
        o.handle = loop.call_soon(lambda: o)
        return weakref.ref(o)

    ref = make()
    loop.call_soon(loop.stop)
    loop.run_forever()
    run_chain(loop, 10)
    gc.collect()
    assert ref() is None


def test_cycle_through_a_pending_timer_is_kept_then_collected_once_cancelled(loop):
    class Owner:
        pass

    def make():
        o = Owner()
        o.timer = loop.call_later(3600, lambda: o)
        return weakref.ref(o)

    ref = make()
    gc.collect()
    assert ref() is not None  # the loop's timer heap holds it
    ref().timer.cancel()
    loop.call_soon(loop.stop)
    loop.run_forever()
    gc.collect()
    assert ref() is None


def test_pending_timers_keep_what_they_reference_through_collections(loop):
    """Objects reachable only through pending timers (and cycles among them) survive
    collections, and each timer fires with them intact."""

    class Node:
        def __init__(self, i):
            self.i = i
            self.me = self  # a cycle reachable only through the timer

    fired = []

    def cb(node, i):
        fired.append(node.i == i and node.me is node)

    for i in range(2000):
        loop.call_later(0.001 + (i % 10) * 0.001, cb, Node(i), i)
    for _ in range(3):
        gc.collect()
    loop.run_until_complete(asyncio.sleep(0.05))
    gc.collect()
    assert len(fired) == 2000 and all(fired)


def test_dropped_unclosed_loop_with_pending_timers_is_collected(loop_factory):
    import warnings

    lp = loop_factory()
    for i in range(100):
        lp.call_later(3600, lambda: None)
    ref = weakref.ref(lp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        del lp
        gc.collect()
    assert ref() is None
