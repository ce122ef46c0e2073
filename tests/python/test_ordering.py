"""Callback ordering, differentially: seeded random programs of call_soon,
call_soon_threadsafe, already-due timers, far timers, cancel(), stop() and
raising callbacks run on the loop under test and on a fresh stdlib loop;
the traces (including iteration boundaries) must be identical.

Only operations whose order stdlib defines deterministically are used
(no timers that become due while the program runs)."""

import asyncio
import random

import pytest

from _helpers import run_briefly

BUDGET = 250     # callbacks per program
ROUNDS = 40      # brief runs (call_soon(stop) + run_forever) per program


class Boom(Exception):
    pass


def run_program(loop, seed):
    trace = []
    pending = []          # handles that may still be cancelled
    far = []              # far-future timers, cancelled at the end
    counter = [0]
    base = loop.time()

    loop.set_exception_handler(
        lambda lp, ctx: trace.append(("exc", str(ctx["exception"]))))

    def new_id():
        counter[0] += 1
        return counter[0]

    def schedule(rnd, kind):
        if counter[0] >= BUDGET:
            return
        cid = new_id()
        if kind == "soon":
            h = loop.call_soon(cb, cid)
        elif kind == "threadsafe":
            h = loop.call_soon_threadsafe(cb, cid)
        elif kind == "due":
            # distinct whens, all in the past: due at the next iteration
            h = loop.call_at(base - 1000 + cid * 1e-3, cb, cid)
        else:  # "far"
            h = loop.call_later(3600 + cid, cb, cid)
            far.append(h)
        pending.append(h)

    def cb(cid):
        trace.append(cid)
        rnd = random.Random(seed * 100003 + cid)
        for _ in range(rnd.randrange(5)):
            op = rnd.random()
            if op < 0.35:
                schedule(rnd, "soon")
            elif op < 0.5:
                schedule(rnd, "threadsafe")
            elif op < 0.7:
                schedule(rnd, "due")
            elif op < 0.78:
                schedule(rnd, "far")
            elif op < 0.9 and pending:
                h = pending.pop(rnd.randrange(len(pending)))
                h.cancel()
                trace.append(("cancel", h.cancelled()))
            elif op < 0.95:
                loop.stop()
                trace.append("stop")
            else:
                raise Boom(cid)

    rnd0 = random.Random(seed)
    for kind in ("soon", "threadsafe", "due", "soon", "due"):
        schedule(rnd0, kind)
    for _ in range(ROUNDS):
        run_briefly(loop)
        trace.append("|")
    for h in far:
        h.cancel()
    run_briefly(loop)
    return trace


@pytest.mark.parametrize("seed", range(25))
def test_ordering_matches_stdlib(loop, seed):
    oracle_loop = asyncio.new_event_loop()
    try:
        expected = run_program(oracle_loop, seed)
    finally:
        oracle_loop.close()
    got = run_program(loop, seed)
    assert len([x for x in expected if isinstance(x, int)]) > 5
    if got != expected:
        first = next(i for i, (g, e) in enumerate(zip(got, expected))
                     if g != e) if any(
            g != e for g, e in zip(got, expected)) else min(
            len(got), len(expected))
        pytest.fail(f"traces differ at index {first}: "
                    f"got {got[max(0, first - 5):first + 5]}, "
                    f"stdlib {expected[max(0, first - 5):first + 5]}")
