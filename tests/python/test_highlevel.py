"""High-level asyncio (TaskGroup, timeouts, queues, locks, shield,
to_thread) running on the loop."""

import asyncio
import threading

import pytest

from _helpers import py_at_least, run, run_briefly


@pytest.mark.skipif(not py_at_least(3, 11), reason="TaskGroup is 3.11+")
def test_taskgroup(loop):
    async def work(i):
        await asyncio.sleep(0.001 * i)
        return i

    async def main():
        async with asyncio.TaskGroup() as tg:
            ts = [tg.create_task(work(i)) for i in range(5)]
        return [t.result() for t in ts]

    assert run(loop, main()) == [0, 1, 2, 3, 4]


@pytest.mark.skipif(not py_at_least(3, 11), reason="TaskGroup is 3.11+")
def test_taskgroup_failure_cancels_siblings(loop):
    cancelled = []

    async def sibling():
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def failing():
        await asyncio.sleep(0.001)
        raise ValueError("tg")

    async def main():
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(sibling())
                tg.create_task(failing())
        except BaseException as e:  # ExceptionGroup on 3.11+
            return e

    eg = run(loop, main())
    assert type(eg).__name__ == "ExceptionGroup"
    assert [type(e) for e in eg.exceptions] == [ValueError]
    assert cancelled == [True]


@pytest.mark.skipif(not py_at_least(3, 11), reason="asyncio.timeout is 3.11+")
def test_timeout_context(loop):
    async def main():
        try:
            async with asyncio.timeout(0.02):
                await asyncio.sleep(5)
        except TimeoutError:
            return "timed out"

    assert run(loop, main()) == "timed out"


def test_wait_for_timeout(loop):
    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.sleep(5), 0.02)
        return await asyncio.wait_for(asyncio.sleep(0, "in time"), 1)

    assert run(loop, main()) == "in time"


def test_to_thread(loop):
    async def main():
        return await asyncio.to_thread(threading.get_ident)

    assert run(loop, main()) != threading.get_ident()


def test_queue_producer_consumer(loop):
    async def main():
        q = asyncio.Queue(maxsize=3)
        got = []

        async def producer():
            for i in range(20):
                await q.put(i)
            await q.put(None)

        async def consumer():
            while (item := await q.get()) is not None:
                got.append(item)

        await asyncio.gather(producer(), consumer())
        return got

    assert run(loop, main()) == list(range(20))


def test_event_lock_semaphore(loop):
    async def main():
        ev = asyncio.Event()
        lock = asyncio.Lock()
        sem = asyncio.Semaphore(2)
        active = [0, 0]

        async def worker():
            await ev.wait()
            async with sem:
                active[0] += 1
                active[1] = max(active[1], active[0])
                async with lock:
                    await asyncio.sleep(0.001)
                active[0] -= 1

        ts = [asyncio.ensure_future(worker()) for _ in range(6)]
        await asyncio.sleep(0)
        ev.set()
        await asyncio.gather(*ts)
        return active[1]

    assert run(loop, main()) == 2


def test_shield_and_cancel(loop):
    async def main():
        inner = asyncio.ensure_future(asyncio.sleep(0.01, "inner"))
        outer = asyncio.ensure_future(asyncio.shield(inner))
        await asyncio.sleep(0)
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer
        return await inner

    assert run(loop, main()) == "inner"
    run_briefly(loop)
