"""The loop releases the GIL only to wait in the kernel: at most once per iteration, never
per callback (rsuv-only: stdlib asyncio has no such counter)."""
import asyncio
import threading
import time

import rsuv


def test_gil_is_released_at_most_once_per_iteration_and_never_per_callback():
    loop = rsuv.new_event_loop()
    try:
        n = 2000
        done = []
        for i in range(n):
            loop.call_later(0.0005 * (i % 20), done.append, i)
        for i in range(n):
            loop.call_soon(done.append, -i)
        loop.call_later(0.02, loop.stop)
        it0, waits0 = loop._stats()
        loop.run_forever()
        it, waits = loop._stats()
        iterations, waited = it - it0, waits - waits0
        assert len(done) == 2 * n
        assert 0 < waited <= iterations
        # 4000 callbacks ran in far fewer iterations than callbacks, each iteration taking
        # the GIL back at most once.
        assert iterations < n
    finally:
        loop.close()


def test_a_thread_runs_python_while_the_loop_sleeps():
    loop = rsuv.new_event_loop()
    counted = []

    def spin():
        t_end = time.monotonic() + 0.1
        k = 0
        while time.monotonic() < t_end:
            k += 1
        counted.append(k)

    try:
        t = threading.Thread(target=spin)
        t.start()
        loop.run_until_complete(asyncio.sleep(0.1))
        t.join()
        # The other thread made progress while the loop slept (GIL released in the wait).
        assert counted and counted[0] > 1000
    finally:
        loop.close()
