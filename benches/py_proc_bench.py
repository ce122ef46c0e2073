#!/usr/bin/env python3
"""Subprocesses on the Python loops: stdlib asyncio, uvloop, rloop and rsuv side by side.

    .venv/bin/python benches/py_proc_bench.py [--secs S] [--mib N] [--loops asyncio,uvloop,rloop,rsuv]

Two workloads, each loop in its own process pinned to one CPU (children inherit the pin):
  spawn    `create_subprocess_exec("/bin/true")` then `wait()`, one after the other, for
           `--secs`: children per second, and the parent's CPU µs per child;
  cat      `--mib` MiB through `cat` (stdin written in 256 KiB blocks with `drain()`,
           stdout read concurrently): MB/s, and the parent's CPU µs per MB.
The parent's CPU is its own (user + system), its children's excluded.
"""
import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from py_echo_bench import save_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def new_loop(name):
    if name == "asyncio":
        return asyncio.new_event_loop()
    return __import__(name).new_event_loop()


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def spawn(secs):
    n, end = 0, time.monotonic() + secs
    while time.monotonic() < end:
        p = await asyncio.create_subprocess_exec("/bin/true")
        if await p.wait() != 0:
            raise SystemExit("true failed")
        n += 1
    return n


async def cat(mib):
    p = await asyncio.create_subprocess_exec("cat", stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE)
    block = b"x" * (256 * 1024)
    total = mib * 1024 * 1024

    async def feed():
        for _ in range(total // len(block)):
            p.stdin.write(block)
            await p.stdin.drain()
        p.stdin.close()

    async def drain():
        got = 0
        while True:
            chunk = await p.stdout.read(1 << 20)
            if not chunk:
                return got
            got += len(chunk)

    _, got = await asyncio.gather(feed(), drain())
    await p.wait()
    if got != total:
        raise SystemExit(f"cat returned {got} of {total} bytes")
    return total


def child(loop_name, workload, secs, mib):
    loop = new_loop(loop_name)
    c0, t0 = cpu(), time.monotonic()
    work = loop.run_until_complete(spawn(secs) if workload == "spawn" else cat(mib))
    c1, t1 = cpu(), time.monotonic()
    loop.close()
    units = work if workload == "spawn" else work / 1e6
    print(json.dumps({"rate": units / (t1 - t0), "cpu_us": (c1 - c0) * 1e6 / units}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--loops", default="asyncio,uvloop,rloop,rsuv")
    p.add_argument("--secs", type=float, default=2.0)
    p.add_argument("--mib", type=int, default=256)
    p.add_argument("--cpu", default="1")
    p.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "py_proc.json"))
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a.child[0], a.child[1], a.secs, a.mib)
    loops = a.loops.split(",")
    results = {}
    for w in ("spawn", "cat"):
        for l in loops:
            r = subprocess.run(["taskset", "-c", a.cpu, sys.executable, __file__, "--child", l,
                                w, "--secs", str(a.secs), "--mib", str(a.mib)],
                               capture_output=True, text=True, timeout=300)
            res = json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr[-300:]}
            results[(l, w)] = res
            unit = "children/s" if w == "spawn" else "MB/s"
            msg = res.get("error") or f"{res['rate']:,.0f} {unit}, {res['cpu_us']:.0f} us CPU"
            print(f"  {w:6} {l:8} {msg}", file=sys.stderr, flush=True)
    head = ["workload", "metric"] + loops + ["rsuv / uvloop", "rsuv / asyncio"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w, label, rate_m, cpu_m in (
            ("spawn", "spawn + wait `/bin/true`", "children/s", "parent CPU µs/child"),
            ("cat", f"{a.mib} MiB through `cat`", "MB/s", "parent CPU µs/MB")):
        for key, metric in (("rate", rate_m), ("cpu_us", cpu_m)):
            vals = {l: results[(l, w)].get(key) for l in loops}
            ratios = [f"{vals['rsuv'] / vals[o]:.2f}" if vals.get("rsuv") and vals.get(o) else ""
                      for o in ("uvloop", "asyncio")]
            cells = ["n/a" if v is None else f"{v:,.0f}" for v in vals.values()]
            out.append("| " + " | ".join([label, metric] + cells + ratios) + " |")
    print("\n".join(out))
    save_json(a.json, results)


if __name__ == "__main__":
    sys.exit(main())
