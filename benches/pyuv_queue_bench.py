#!/usr/bin/env python3
"""A queue.Queue clone on pyuv.thread's Mutex and Condition against the standard library's.

    .venv/bin/python benches/pyuv_queue_bench.py [--items N] [--threads 2,4,100] [--repeats R]

`PyuvQueue` below is the classic lock-based queue as pyuv's author wrote it in pyuv's
examples: one `pyuv.thread.Mutex`, two `pyuv.thread.Condition`s (`not_empty`, `not_full`)
waited on with that mutex, a `collections.deque`, `put`/`get` with `block`, `timeout` and
`maxsize`, and `queue.Empty`/`queue.Full`. The standard library's `queue.Queue` is the same
design on `threading.Lock` and `threading.Condition` (plus `unfinished_tasks` bookkeeping in
`put`, which the clone has not: it has no `task_done`/`join`).

Workload, the same for both queues: T threads, half producers and half consumers (2 -> 1 + 1,
4 -> 2 + 2, 100 -> 50 + 50), one queue of `--maxsize` (default 100, so that producers block
on `not_full` and consumers on `not_empty`). The producers put `--items` integers in all
(producer k puts k, k + P, k + 2P, ...); each consumer `get()`s until it takes a `None`, of
which the main thread puts one per consumer once every producer has finished. Every thread
waits on a `threading.Barrier` first; the clock starts when the main thread passes it and
stops when the last consumer has been joined: wall time (`time.perf_counter`) and the
process's CPU time (`time.process_time`, all threads), plus the process's context switches
(`getrusage`). After the clock, the consumers' items are checked: every item exactly once.

Each run is a fresh interpreter (`--child`); the queues alternate which goes first from repeat
to repeat; medians of `--repeats` (default `BENCH_REPEATS`, else 5). Table: medians and the
ratio stdlib / pyuv (> 1: the pyuv queue is faster; issue goal >= 1.33). JSON (every run) to
`--json`, a bar chart of the ratios to `--plot`. See benches/README.md, "pyuv.thread queue".
"""
import argparse
import collections
import json
import os
import platform
import queue
import resource
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loop_bench import cpu_busy, md_table, other_load, spawn_child  # noqa: E402
from py_echo_bench import save_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUEUES = ["stdlib", "pyuv"]
GOAL = 1.33


class PyuvQueue:
    """queue.Queue's interface (put/get with block, timeout; maxsize; *_nowait; qsize, empty,
    full) on one pyuv.thread.Mutex and two pyuv.thread.Conditions that wait with it."""

    def __init__(self, maxsize=0):
        from pyuv import thread as uvthread  # in the child only: the parent needs no pyuv
        self.maxsize = maxsize
        self.queue = collections.deque()
        self.mutex = uvthread.Mutex()
        self.not_empty = uvthread.Condition()  # waited on with self.mutex
        self.not_full = uvthread.Condition()

    def qsize(self):
        self.mutex.lock()
        try:
            return len(self.queue)
        finally:
            self.mutex.unlock()

    def empty(self):
        return not self.qsize()

    def full(self):
        return 0 < self.maxsize <= self.qsize()

    def put(self, item, block=True, timeout=None):
        self.mutex.lock()
        try:
            if self.maxsize > 0 and len(self.queue) >= self.maxsize:
                if not block:
                    raise queue.Full
                if timeout is None:
                    while len(self.queue) >= self.maxsize:
                        self.not_full.wait(self.mutex)
                else:
                    if timeout < 0:
                        raise ValueError("'timeout' must be a non-negative number")
                    deadline = time.monotonic() + timeout
                    while len(self.queue) >= self.maxsize:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise queue.Full
                        self.not_full.timedwait(self.mutex, left)
            self.queue.append(item)
            self.not_empty.signal()
        finally:
            self.mutex.unlock()

    def get(self, block=True, timeout=None):
        self.mutex.lock()
        try:
            if not self.queue:
                if not block:
                    raise queue.Empty
                if timeout is None:
                    while not self.queue:
                        self.not_empty.wait(self.mutex)
                else:
                    if timeout < 0:
                        raise ValueError("'timeout' must be a non-negative number")
                    deadline = time.monotonic() + timeout
                    while not self.queue:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise queue.Empty
                        self.not_empty.timedwait(self.mutex, left)
            item = self.queue.popleft()
            self.not_full.signal()
            return item
        finally:
            self.mutex.unlock()

    def put_nowait(self, item):
        return self.put(item, False)

    def get_nowait(self):
        return self.get(False)


def self_test():
    """The clone's non-blocking and timeout paths (the workload uses only the blocking ones)."""
    q = PyuvQueue(2)
    assert q.empty() and not q.full()
    q.put_nowait(1)
    q.put(2, timeout=0.01)
    assert q.full() and q.qsize() == 2
    for call in (lambda: q.put_nowait(3), lambda: q.put(3, timeout=0.01)):
        try:
            call()
            raise AssertionError("put on a full queue did not raise Full")
        except queue.Full:
            pass
    assert q.get_nowait() == 1 and q.get(timeout=0.01) == 2
    for call in (q.get_nowait, lambda: q.get(timeout=0.01)):
        try:
            call()
            raise AssertionError("get on an empty queue did not raise Empty")
        except queue.Empty:
            pass


# --------------------------------------------------------------------------------------------
# The child side: one queue, one thread count, in this process.

def child_run(kind, threads, items, maxsize):
    if kind == "pyuv":
        self_test()
        q = PyuvQueue(maxsize)
    else:
        q = queue.Queue(maxsize)
    producers = max(1, threads // 2)
    consumers = max(1, threads - producers)
    got = [[] for _ in range(consumers)]
    start = threading.Barrier(producers + consumers + 1)
    put, get = q.put, q.get

    def produce(k):
        start.wait()
        for i in range(k, items, producers):
            put(i)

    def consume(out):
        start.wait()
        append = out.append
        while True:
            x = get()
            if x is None:
                return
            append(x)

    ps = [threading.Thread(target=produce, args=(k,)) for k in range(producers)]
    cs = [threading.Thread(target=consume, args=(got[k],)) for k in range(consumers)]
    for t in ps + cs:
        t.start()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    start.wait()
    c0, t0 = time.process_time(), time.perf_counter()
    for t in ps:
        t.join()
    for _ in cs:
        put(None)
    for t in cs:
        t.join()
    t1, c1 = time.perf_counter(), time.process_time()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    seen = bytearray(items)
    total = 0
    for out in got:
        total += len(out)
        for x in out:
            seen[x] += 1
    if total != items or seen.count(1) != items:
        raise SystemExit(f"{kind}: {total} items received for {items} put, "
                         f"{items - seen.count(1)} not received exactly once")
    return {"queue": kind, "threads": threads, "producers": producers, "consumers": consumers,
            "items": items, "maxsize": maxsize, "wall": t1 - t0, "cpu": c1 - c0,
            "vcsw": r1.ru_nvcsw - r0.ru_nvcsw, "ivcsw": r1.ru_nivcsw - r0.ru_nivcsw,
            "per_consumer_min": min(len(o) for o in got),
            "per_consumer_max": max(len(o) for o in got)}


# --------------------------------------------------------------------------------------------
# The parent side.

def medians(runs):
    keys = ("wall", "cpu", "vcsw", "ivcsw")
    return {k: statistics.median(r[k] for r in runs) for k in keys} if runs else None


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def report(threads_list, items, med):
    head = ["threads (P + C)", "stdlib wall s", "pyuv wall s", "wall stdlib/pyuv",
            "stdlib CPU s", "pyuv CPU s", "CPU stdlib/pyuv", "µs/item stdlib", "µs/item pyuv",
            "goal"]
    rows = []
    for n in threads_list:
        s, p = med["stdlib"].get(n), med["pyuv"].get(n)
        pc = max(1, n // 2)
        row = [f"{n} ({pc} + {max(1, n - pc)})"]
        row += [f"{s['wall']:.3f}" if s else "n/a", f"{p['wall']:.3f}" if p else "n/a",
                ratio(s and s["wall"], p and p["wall"]),
                f"{s['cpu']:.3f}" if s else "n/a", f"{p['cpu']:.3f}" if p else "n/a",
                ratio(s and s["cpu"], p and p["cpu"]),
                f"{s['wall'] * 1e6 / items:.2f}" if s else "n/a",
                f"{p['wall'] * 1e6 / items:.2f}" if p else "n/a"]
        row.append(("met" if s["wall"] / p["wall"] >= GOAL else "below") if s and p else "")
        rows.append(row)
    head2 = ["threads", "stdlib vol. cs", "pyuv vol. cs", "stdlib invol. cs", "pyuv invol. cs"]
    rows2 = [[str(n)] + [f"{med[q][n][k]:,.0f}" if med[q].get(n) else "n/a"
                         for k in ("vcsw", "ivcsw") for q in QUEUES]
             for n in threads_list]
    return md_table(head, rows), md_table(head2, rows2)


def plot(path, threads_list, med, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        print(f"no plot: {e}", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    width = 0.38
    for i, (key, label) in enumerate((("wall", "wall time"), ("cpu", "CPU time"))):
        vals = [med["stdlib"][n][key] / med["pyuv"][n][key]
                if med["stdlib"].get(n) and med["pyuv"].get(n) else 0 for n in threads_list]
        bars = ax.bar([x + i * width for x in range(len(threads_list))], vals, width, label=label)
        for b, v in zip(bars, vals):
            ax.text(b.get_x() + b.get_width() / 2, v, f"{v:.2f}" if v else "n/a",
                    ha="center", va="bottom", fontsize=8)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.axhline(GOAL, color="tab:red", lw=0.8, ls="--", label=f"goal {GOAL}")
    ax.set_xticks([x + width / 2 for x in range(len(threads_list))],
                  [f"{n} threads" for n in threads_list])
    ax.set_ylabel("stdlib queue.Queue / pyuv queue (> 1: pyuv faster)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", default="2,4,100", help="thread counts (half produce)")
    p.add_argument("--items", type=int, default=500_000, help="items through the queue per run")
    p.add_argument("--maxsize", type=int, default=100, help="the queue's maxsize (0: unbounded)")
    p.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS", 5)),
                   help="runs per queue and thread count, median kept (default BENCH_REPEATS "
                        "or 5)")
    p.add_argument("--cpus", default="",
                   help="taskset CPU list for every run (default: not pinned, all CPUs)")
    p.add_argument("--timeout", type=float, default=300, help="seconds per run")
    p.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "pyuv_queue.json"))
    p.add_argument("--plot", default=os.path.join(ROOT, "target", "bench", "pyuv_queue.png"),
                   help="bar chart of the ratios ('' for none)")
    p.add_argument("--child", nargs=2, metavar=("QUEUE", "THREADS"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(child_run(a.child[0], int(a.child[1]), a.items, a.maxsize)))
        return 0
    if a.repeats < 1:
        sys.exit("pyuv_queue_bench: --repeats must be at least 1")
    threads_list = [int(x) for x in a.threads.split(",") if x]
    print(f"pyuv_queue_bench: Python {platform.python_version()}, {os.cpu_count()} CPUs"
          f"{', pinned to ' + a.cpus if a.cpus else ', not pinned'}; {a.items:,} items, "
          f"maxsize {a.maxsize}, {a.repeats} repeats", flush=True)
    runs = {q: {n: [] for n in threads_list} for q in QUEUES}
    errors = []
    load0 = cpu_busy()
    for rep in range(a.repeats):
        order = QUEUES[rep % 2:] + QUEUES[:rep % 2]
        for n in threads_list:
            for q in order:
                r, err = spawn_child([q, str(n), "--items", str(a.items), "--maxsize",
                                      str(a.maxsize)], a.timeout, __file__, a.cpus)
                if r is None:
                    errors.append(f"{q} {n} threads, repeat {rep + 1}: {err}")
                    print(f"  {q:6} {n:3} threads FAILED {err}", file=sys.stderr, flush=True)
                    continue
                runs[q][n].append(r)
                print(f"  {q:6} {n:3} threads  wall {r['wall']:.3f} s  cpu {r['cpu']:.3f} s  "
                      f"cs {r['vcsw']}/{r['ivcsw']}", file=sys.stderr, flush=True)
    load = other_load(load0, cpu_busy())
    med = {q: {n: medians(runs[q][n]) for n in threads_list} for q in QUEUES}
    t1, t2 = report(threads_list, a.items, med)
    print(f"\nMedians of {a.repeats}; ratio stdlib / pyuv: > 1 means the pyuv queue is faster "
          f"(goal >= {GOAL}):\n")
    print(t1)
    print("\nContext switches per run (getrusage, whole process; medians):\n")
    print(t2)
    if load is not None:
        print(f"\nDuring the runs, other processes kept {load['other']:.2f} of the "
              f"{os.cpu_count()} CPUs busy on average (steal {load['steal']:.2f}).")
    if errors:
        print("\nFailed runs:\n  " + "\n  ".join(errors))
    save_json(a.json, {(q, str(n)): {"runs": runs[q][n], "median": med[q][n]}
                       for q in QUEUES for n in threads_list})
    if a.plot and all(med[q][n] for q in QUEUES for n in threads_list):
        title = (f"queue.Queue / pyuv.thread queue, {a.items:,} items, maxsize {a.maxsize}, "
                 f"median of {a.repeats}")
        if plot(a.plot, threads_list, med, title):
            print(f"plot: {a.plot}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
