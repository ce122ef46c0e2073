"""The public API: rsuv's module-level functions, policy integration,
asyncio.Runner / asyncio.run, async generator hooks and high-level asyncio
features running on the loop."""

import asyncio
import gc
import re
import sys
import warnings

import pytest

from _helpers import py_at_least, run

rsuv_only = pytest.mark.rsuv_only


# ------------------------------------------------------- rsuv module

@rsuv_only
def test_version(rsuv_mod):
    assert isinstance(rsuv_mod.__version__, str)
    assert re.match(r"^\d+\.\d+", rsuv_mod.__version__)


@rsuv_only
def test_libuv_version(rsuv_mod):
    v = rsuv_mod.libuv_version()
    assert isinstance(v, tuple) and len(v) == 3
    assert all(type(x) is int for x in v)
    assert v >= (1, 40, 0)


@rsuv_only
def test_loop_class(rsuv_mod, loop):
    assert issubclass(rsuv_mod.Loop, asyncio.AbstractEventLoop)
    assert type(loop) is rsuv_mod.Loop or isinstance(loop, rsuv_mod.Loop)


@rsuv_only
def test_loop_constructor(rsuv_mod):
    lp = rsuv_mod.Loop()
    try:
        assert isinstance(lp, asyncio.AbstractEventLoop)
        assert lp.run_until_complete(asyncio.sleep(0, "ctor")) == "ctor"
    finally:
        lp.close()


@rsuv_only
def test_libuv_loop_capsule(loop):
    import ctypes

    cap = loop.libuv_loop()
    assert type(cap).__name__ == "PyCapsule"
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    assert get_name(cap) == b"uv_loop_t"


@rsuv_only
def test_loop_on_a_capsule_refuses_an_rsuv_loops_own_and_anything_else(rsuv_mod):
    import ctypes

    new = ctypes.pythonapi.PyCapsule_New
    new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    owner = rsuv_mod.new_event_loop()
    try:
        # Another rsuv.Loop's loop: its owner would close it underneath.
        with pytest.raises(ValueError, match="rsuv.Loop"):
            rsuv_mod.Loop(libuv_loop=owner.libuv_loop())
        # Not a capsule, or a capsule of something else.
        for bad in (42, "uv_loop_t", new(ctypes.addressof(ctypes.c_int(0)), b"other", None)):
            with pytest.raises(TypeError, match="uv_loop_t"):
                rsuv_mod.Loop(libuv_loop=bad)
        # The owner is untouched.
        assert owner.run_until_complete(asyncio.sleep(0, "ok")) == "ok"
    finally:
        owner.close()


def test_is_abstract_event_loop(loop):
    assert isinstance(loop, asyncio.AbstractEventLoop)


# ------------------------------------------------------- rsuv.run

@rsuv_only
def test_rsuv_run_returns_value(rsuv_mod):
    seen = {}

    async def main(x):
        lp = asyncio.get_running_loop()
        seen["loop"] = lp
        seen["debug"] = lp.get_debug()
        await asyncio.sleep(0.001)
        return x + 1

    assert rsuv_mod.run(main(41)) == 42
    assert isinstance(seen["loop"], rsuv_mod.Loop)
    assert seen["loop"].is_closed()
    assert seen["debug"] is False


@rsuv_only
def test_rsuv_run_debug(rsuv_mod):
    async def main():
        return asyncio.get_running_loop().get_debug()

    assert rsuv_mod.run(main(), debug=True) is True


@rsuv_only
def test_rsuv_run_propagates_exception(rsuv_mod):
    async def main():
        await asyncio.sleep(0)
        raise KeyError("k")

    with pytest.raises(KeyError):
        rsuv_mod.run(main())


@rsuv_only
def test_rsuv_run_rejects_non_coroutine(rsuv_mod):
    # like asyncio.run: ValueError("a coroutine was expected ...")
    with pytest.raises((ValueError, TypeError)):
        rsuv_mod.run(42)


@rsuv_only
@pytest.mark.parametrize("runner", ["stdlib_run", "rsuv_run"])
def test_run_inside_running_loop(rsuv_mod, loop, runner):
    # asyncio.run refuses at once (RuntimeError) and leaves nothing behind:
    # no loop created, no coroutine left un-awaited. rsuv.run must match.
    run_fn = asyncio.run if runner == "stdlib_run" else rsuv_mod.run

    async def inner():  # pragma: no cover
        pass

    async def main():
        c = inner()
        try:
            with pytest.raises(RuntimeError):
                run_fn(c)
        finally:
            c.close()
        return "ok"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run(loop, main()) == "ok"
        gc.collect()
    never_awaited = [str(w.message) for w in caught
                     if issubclass(w.category, RuntimeWarning)]
    assert never_awaited == []


@rsuv_only
def test_rsuv_run_cancels_leftover_tasks(rsuv_mod):
    state = []

    async def forever():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            state.append("cancelled")
            raise

    async def main():
        asyncio.ensure_future(forever())
        await asyncio.sleep(0)

    rsuv_mod.run(main())
    assert state == ["cancelled"]


# ------------------------------------------------ policy / install

@rsuv_only
def test_event_loop_policy(rsuv_mod):
    asyncio.set_event_loop_policy(rsuv_mod.EventLoopPolicy())
    lp = asyncio.new_event_loop()
    try:
        assert isinstance(lp, rsuv_mod.Loop)
    finally:
        lp.close()

    async def main():
        return type(asyncio.get_running_loop())

    assert issubclass(asyncio.run(main()), rsuv_mod.Loop)


@rsuv_only
def test_install(rsuv_mod):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        rsuv_mod.install()
    assert isinstance(asyncio.get_event_loop_policy(),
                      rsuv_mod.EventLoopPolicy)
    lp = asyncio.new_event_loop()
    try:
        assert isinstance(lp, rsuv_mod.Loop)
    finally:
        lp.close()


@rsuv_only
def test_rsuv_loop_inside_stdlib_loop_and_vice_versa(rsuv_mod):
    for outer_f, inner_f in ((asyncio.new_event_loop,
                              rsuv_mod.new_event_loop),
                             (rsuv_mod.new_event_loop,
                              asyncio.new_event_loop)):
        outer, inner = outer_f(), inner_f()
        try:
            async def main():
                c = asyncio.sleep(0)
                try:
                    with pytest.raises(RuntimeError):
                        inner.run_until_complete(c)
                finally:
                    c.close()
                return "ok"

            assert outer.run_until_complete(main()) == "ok"
        finally:
            outer.close()
            inner.close()


# ------------------------------------------- Runner / asyncio.run

@pytest.mark.skipif(not py_at_least(3, 11), reason="asyncio.Runner is 3.11+")
def test_runner_with_loop_factory(loop_factory):
    async def main(x):
        await asyncio.sleep(0.001)
        return x, asyncio.get_running_loop()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        v, lp = runner.run(main(1))
        assert v == 1
        assert lp is runner.get_loop()
        assert type(lp) is type(_make_and_close(loop_factory))
        v2, lp2 = runner.run(main(2))
        assert (v2, lp2) == (2, lp)
    assert lp.is_closed()


@pytest.mark.skipif(not py_at_least(3, 11), reason="asyncio.Runner is 3.11+")
def test_runner_debug(loop_factory):
    async def main():
        return asyncio.get_running_loop().get_debug()

    with asyncio.Runner(loop_factory=loop_factory, debug=True) as runner:
        assert runner.run(main()) is True


@pytest.mark.skipif(not py_at_least(3, 12),
                    reason="asyncio.run(loop_factory=) is 3.12+")
def test_run_with_loop_factory(loop_factory):
    async def main():
        return type(asyncio.get_running_loop())

    assert asyncio.run(main(), loop_factory=loop_factory) is \
        type(_make_and_close(loop_factory))


def _make_and_close(factory):
    lp = factory()
    lp.close()
    return lp


# --------------------------------------------- async generator hooks

def _make_agen(log):
    async def agen():
        try:
            yield 1
            yield 2
        finally:
            log.append("finalized")
    return agen()


def test_shutdown_asyncgens_finalizes_unfinished(loop):
    log = []

    async def main():
        g = _make_agen(log)
        assert await g.__anext__() == 1
        return g  # keep it alive, unfinished

    g = run(loop, main())
    assert log == []
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert log == ["finalized"]
    del g


def test_asyncgen_finalized_when_collected(loop):
    log = []

    async def main():
        g = _make_agen(log)
        await g.__anext__()
        del g
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0)
        return list(log)

    assert run(loop, main()) == ["finalized"]


def test_asyncgen_hooks_installed_only_while_running(loop):
    before = sys.get_asyncgen_hooks()

    async def main():
        return sys.get_asyncgen_hooks()

    during = run(loop, main())
    assert during.firstiter is not None
    assert during.finalizer is not None
    assert sys.get_asyncgen_hooks() == before


def test_shutdown_asyncgens_error_goes_to_handler(loop):
    ctxs = []
    loop.set_exception_handler(lambda lp, ctx: ctxs.append(ctx))

    async def bad_agen():
        try:
            yield 1
        finally:
            raise ZeroDivisionError("in aclose")

    async def main():
        g = bad_agen()
        await g.__anext__()
        return g

    g = run(loop, main())
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert len(ctxs) == 1
    assert isinstance(ctxs[0]["exception"], ZeroDivisionError)
    assert ctxs[0]["asyncgen"] is g


def test_asyncgen_iteration(loop):
    async def ticker(n):
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def main():
        return [i async for i in ticker(10)]

    assert run(loop, main()) == list(range(10))


@rsuv_only
def test_policy_set_and_get_event_loop(rsuv_mod):
    policy = rsuv_mod.EventLoopPolicy()
    asyncio.set_event_loop_policy(policy)
    assert asyncio.get_event_loop_policy() is policy
    lp = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(lp)
        assert policy.get_event_loop() is lp
        assert isinstance(lp, rsuv_mod.Loop)
    finally:
        asyncio.set_event_loop(None)
        lp.close()


@rsuv_only
def test_loop_subclass(rsuv_mod):
    class MyLoop(rsuv_mod.Loop):
        def __init__(self):
            super().__init__()
            self.extra = "attr"

    lp = MyLoop()
    try:
        assert lp.extra == "attr"
        assert lp.run_until_complete(asyncio.sleep(0, "sub")) == "sub"
    finally:
        lp.close()


def test_asyncgen_first_iterated_after_shutdown_warns(loop):
    run(loop, loop.shutdown_asyncgens())

    async def agen():
        yield 1

    async def main():
        g = agen()
        with pytest.warns(ResourceWarning):
            await g.__anext__()
        await g.aclose()

    run(loop, main())
