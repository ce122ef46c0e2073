#!/usr/bin/env python3
"""Python event-loop micro-benchmarks: stdlib asyncio, uvloop, rloop and rsuv side by side.

Every measurement (one loop, one workload, one repeat) runs in a fresh interpreter: this script
started again as `sys.executable loop_bench.py --child ...`, which prints one JSON line. The
parent keeps the best of `--repeats` runs (highest ops/s) for each loop and workload, prints a
Markdown table (ops/s, the ratios rsuv/uvloop and rsuv/rloop, CPU time per op), writes every run
to `--json` and draws a bar chart to `--plot`. See benches/README.md, "Python loops".

Workloads (the sizes are the defaults; `--scale` multiplies them):
  call_soon   10 chains of callbacks, each rescheduling itself with loop.call_soon, until
              1,000,000 callbacks have run in all; then loop.stop().
  call_later  50,000 loop.call_later timers, delays spread evenly over 50 ms (scheduled in
              increasing order; --shuffle: in random order); ops/s = timers / wall time from
              the first call_later until the last timer fired. Timers that fire early
              (loop.time() < handle.when() inside the callback) are counted, not asserted.
  sleep0      10 tasks, each looping on `await asyncio.sleep(0)`: 500,000 switches in all.
  future      one task doing 300,000 round trips: f = loop.create_future();
              loop.call_soon(f.set_result, None); await f.
"""
import argparse
import asyncio
import datetime
import gc
import json
import os
import platform
import random
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> (module to import, attribute that makes a new loop)
LOOPS = {
    "asyncio": ("asyncio", "new_event_loop"),
    "uvloop": ("uvloop", "new_event_loop"),
    "rloop": ("rloop", "new_event_loop"),
    "rsuv": ("rsuv", "new_event_loop"),
}
DEFAULT_LOOPS = ["asyncio", "uvloop", "rloop", "rsuv"]

# name -> default number of ops at --scale 1
SIZES = {
    "call_soon": 1_000_000,
    "call_later": 50_000,
    "sleep0": 500_000,
    "future": 300_000,
}
WORKLOADS = list(SIZES)
CHAINS = 10           # call_soon chains
TASKS = 10            # sleep0 tasks
SPREAD_MS = 50.0      # call_later delays spread over this, at --scale 1 (scaled with the count)
WARMUP = 0.05         # warm-up run on the same loop first, as a fraction of the measured ops


# --------------------------------------------------------------------------------------------
# The child side: one workload on one loop in this process.

def make_loop(name):
    mod_name, attr = LOOPS[name]
    mod = __import__(mod_name)
    factory = getattr(mod, attr)  # AttributeError: e.g. an empty namespace package
    return mod, factory


def wl_call_soon(loop, n, **_):
    count = 0
    call_soon = loop.call_soon
    stop = loop.stop

    def cb():
        nonlocal count
        count += 1
        if count < n:
            call_soon(cb)
        elif count == n:
            stop()

    t0, c0 = time.perf_counter(), time.process_time()
    if n > 0:
        for _ in range(min(CHAINS, n)):
            call_soon(cb)
    else:
        call_soon(stop)
    loop.run_forever()
    t1, c1 = time.perf_counter(), time.process_time()
    return {"ops": count, "elapsed": t1 - t0, "cpu": c1 - c0}


def wl_call_later(loop, n, spread_ms=SPREAD_MS, shuffle=False, **_):
    spread = spread_ms / 1000.0
    delays = [i * spread / n for i in range(n)]
    if shuffle:
        random.Random(12345).shuffle(delays)
    handles = [None] * n
    fired = 0
    early = 0
    immediate = 0
    max_early = 0.0
    t = {}
    time_ = loop.time
    perf = time.perf_counter

    def cb(i):
        nonlocal fired, early, immediate, max_early
        fired += 1
        now = time_()
        h = handles[i]
        if not hasattr(h, "when"):
            # uvloop rounds the delay to whole ms and returns a plain call_soon Handle for 0
            immediate += 1
        else:
            when = h.when()
            if now < when:
                early += 1
                if when - now > max_early:
                    max_early = when - now
        if fired == n:
            t["end"] = perf()
            loop.stop()

    def schedule():
        t["start"] = perf()
        call_later = loop.call_later
        for i, d in enumerate(delays):
            handles[i] = call_later(d, cb, i)
        if n == 0:
            t["end"] = perf()
            loop.stop()

    c0 = time.process_time()
    loop.call_soon(schedule)
    loop.run_forever()
    c1 = time.process_time()
    end = t.get("end", perf())  # missing only when a callback error stopped the loop
    return {"ops": fired, "elapsed": end - t["start"], "cpu": c1 - c0,
            "early": early, "max_early_ms": max_early * 1000.0, "immediate": immediate}


def wl_sleep0(loop, n, **_):
    per_task = -(-n // TASKS)  # ceil
    tasks = TASKS if n > 0 else 0

    async def worker():
        sleep = asyncio.sleep
        for _ in range(per_task):
            await sleep(0)

    async def main():
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*[worker() for _ in range(tasks)])
        t1, c1 = time.perf_counter(), time.process_time()
        return t1 - t0, c1 - c0

    el, cpu = loop.run_until_complete(main())
    return {"ops": per_task * tasks, "elapsed": el, "cpu": cpu}


def wl_future(loop, n, **_):
    async def main():
        create_future = loop.create_future
        call_soon = loop.call_soon
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            f = create_future()
            call_soon(f.set_result, None)
            await f
        t1, c1 = time.perf_counter(), time.process_time()
        return t1 - t0, c1 - c0

    el, cpu = loop.run_until_complete(main())
    return {"ops": n, "elapsed": el, "cpu": cpu}


WORKLOAD_FUNCS = {
    "call_soon": wl_call_soon,
    "call_later": wl_call_later,
    "sleep0": wl_sleep0,
    "future": wl_future,
}


def child_probe(name):
    try:
        mod, factory = make_loop(name)
    except (ImportError, AttributeError) as e:
        return {"ok": False, "missing": True, "error": f"{type(e).__name__}: {e}"}
    try:
        loop = factory()
        ltype = f"{type(loop).__module__}.{type(loop).__qualname__}"
        loop.close()
    except Exception as e:  # noqa: BLE001 - report anything
        return {"ok": False, "missing": False, "error": f"{type(e).__name__}: {e}"}
    version = getattr(mod, "__version__", None)
    if name == "asyncio":
        version = platform.python_version()
    return {"ok": True, "version": version, "loop_type": ltype}


def child_run(name, workload, n, warmup_n, spread_ms, shuffle, cpu, no_gc=False):
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    _, factory = make_loop(name)
    loop = factory()
    asyncio.set_event_loop(loop)
    failures = []

    def on_error(loop_, context):
        # an exception in a callback would leave the workload waiting forever: stop instead
        failures.append(context)
        loop_.default_exception_handler(context)
        loop_.stop()

    loop.set_exception_handler(on_error)
    fn = WORKLOAD_FUNCS[workload]
    try:
        if warmup_n:
            # the warm-up's timers are as dense as the measured ones
            density = spread_ms / n if n else SPREAD_MS / SIZES["call_later"]
            fn(loop, warmup_n, spread_ms=density * warmup_n, shuffle=shuffle)
        gc.collect()
        if no_gc:
            gc.disable()
        res = fn(loop, n, spread_ms=spread_ms, shuffle=shuffle)
        gc.enable()
        if failures:
            raise SystemExit(f"{len(failures)} callback error(s): {failures[0].get('message')}")
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    res.update(loop=name, workload=workload, n=n, warmup_n=warmup_n, gc=not no_gc)
    if workload == "call_later":
        res.update(spread_ms=spread_ms, shuffle=shuffle)
    ops, el = res["ops"], res["elapsed"]
    res["ops_per_s"] = ops / el if ops and el > 0 else 0.0
    res["cpu_ns_per_op"] = res["cpu"] / ops * 1e9 if ops else 0.0
    return res


# --------------------------------------------------------------------------------------------
# The parent side.

def spawn_child(args, timeout=600, script=__file__, cpus=""):
    """Runs `script --child args` (pinned to `cpus` with taskset if given); the last JSON
    line it prints, or None and why."""
    cmd = [sys.executable, os.path.abspath(script), "--child", *args]
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        tail = (r.stderr or r.stdout).strip().splitlines()[-5:]
        return None, f"exit {r.returncode}: " + " | ".join(tail)
    return json.loads(lines[-1]), None


def cpu_busy():
    """(busy s of all CPUs, steal s, wall s, our CPU s) from /proc/stat and os.times(); None
    where it is not Linux. Ours: this script and its children."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    tck = os.sysconf("SC_CLK_TCK")
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    steal = v[7] if len(v) > 7 else 0             # time the hypervisor ran something else
    t = os.times()
    ours = t.children_user + t.children_system + t.user + t.system
    return (sum(v[:7]) - idle) / tck, steal / tck, time.monotonic(), ours


def other_load(before, after):
    """CPUs' worth of work by processes other than ours (this script and its children), and
    of steal (the hypervisor running others on our vCPUs), between two samples."""
    if not before or not after or after[2] <= before[2]:
        return None
    wall = after[2] - before[2]
    ours = after[3] - before[3]
    return {"other": max(0.0, after[0] - before[0] - ours) / wall,
            "steal": (after[1] - before[1]) / wall}


def fmt_rate(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.0f}k"
    return f"{x:.0f}"


def md_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = ["| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for r in rows:
        cells = [str(r[0]).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(r[1:], widths[1:])]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def tables(loops, status, best, workloads):
    present = [ln for ln in loops if status[ln]["ok"]]
    ratios = [p for p in ("uvloop", "rloop") if "rsuv" in present and p in present]
    header = ["ops/s", *loops, *[f"rsuv/{p}" for p in ratios]]
    rows = []
    for wl in workloads:
        row = [wl]
        for ln in loops:
            if not status[ln]["ok"]:
                row.append("not installed" if status[ln].get("missing") else "error")
            else:
                b = best[ln].get(wl)
                row.append(fmt_rate(b["ops_per_s"]) if b else "failed")
        for p in ratios:
            a, b = best["rsuv"].get(wl), best[p].get(wl)
            row.append(f"{a['ops_per_s'] / b['ops_per_s']:.2f}" if a and b else "-")
        rows.append(row)
    t1 = md_table(header, rows)
    header2 = ["CPU ns/op", *present]
    rows2 = []
    for wl in workloads:
        row = [wl]
        for ln in present:
            b = best[ln].get(wl)
            row.append(f"{b['cpu_ns_per_op']:.0f}" if b else "-")
        rows2.append(row)
    t2 = md_table(header2, rows2) if present else ""
    return t1, t2


def plot(path, loops, status, best, workloads, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        print(f"no plot: {e}", file=sys.stderr)
        return False
    present = [ln for ln in loops if status[ln]["ok"]]
    colors = {"asyncio": "#9e9e9e", "uvloop": "#1f77b4", "rloop": "#ff7f0e", "rsuv": "#2ca02c"}
    fig, axes = plt.subplots(1, len(workloads), figsize=(3.2 * len(workloads) + 0.6, 4.4),
                             squeeze=False)
    for ax, wl in zip(axes[0], workloads):
        vals = [best[ln][wl]["ops_per_s"] if best[ln].get(wl) else 0 for ln in present]
        bars = ax.bar(range(len(present)), vals,
                      color=[colors.get(ln, "#8c564b") for ln in present])
        ax.set_xticks(range(len(present)), present, rotation=0, fontsize=9)
        ax.set_title(wl, fontsize=11)
        ax.set_ylim(0, max(vals + [1]) * 1.18)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
            lambda v, _: fmt_rate(v) if v else "0"))
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        for b, v in zip(bars, vals):
            ax.text(b.get_x() + b.get_width() / 2, v, fmt_rate(v) if v else "n/a",
                    ha="center", va="bottom", fontsize=8)
    axes[0][0].set_ylabel("ops/s (higher is better)")
    missing = [ln for ln in loops if not status[ln]["ok"]]
    if missing:
        title += "   (not installed: " + ", ".join(missing) + ")"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Python event loop micro-benchmarks (asyncio, uvloop, rloop, rsuv); "
                    "each run in a fresh subprocess, best of --repeats.")
    p.add_argument("--loops", default=",".join(DEFAULT_LOOPS),
                   help="comma-separated, from: " + ",".join(LOOPS) + " (default: all)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma-separated, from: " + ",".join(WORKLOADS) + " (default: all)")
    p.add_argument("--repeats", type=int, default=5, help="runs per loop and workload (best kept)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every workload size (and the call_later spread) by this")
    p.add_argument("--cpu", type=int, default=None,
                   help="pin every child to this CPU (sched_setaffinity); default: not pinned")
    p.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "loop_bench.json"),
                   help="write all results here (default: target/bench/loop_bench.json)")
    p.add_argument("--plot", default=os.path.join(ROOT, "target", "bench", "loop_bench.png"),
                   help="bar chart PNG (default: target/bench/loop_bench.png); '' for none")
    p.add_argument("--shuffle", action="store_true",
                   help="call_later: schedule the timers in random order (default: increasing)")
    p.add_argument("--no-gc", action="store_true",
                   help="disable the cyclic garbage collector during the measured run")
    p.add_argument("--timeout", type=float, default=180, help="seconds per child run")
    # The child side (hidden): one run, JSON on stdout.
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--loop", help=argparse.SUPPRESS)
    p.add_argument("--workload", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--warmup-n", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--spread-ms", type=float, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.child:
        if a.probe:
            print(json.dumps(child_probe(a.loop)))
            return 0
        n = a.n if a.n is not None else SIZES[a.workload]
        warm = a.warmup_n if a.warmup_n is not None else int(n * WARMUP)
        spread = a.spread_ms if a.spread_ms is not None else SPREAD_MS * n / SIZES["call_later"]
        print(json.dumps(child_run(a.loop, a.workload, n, warm, spread, a.shuffle, a.cpu,
                                   a.no_gc)))
        return 0

    loops = [x for x in a.loops.split(",") if x]
    workloads = [x for x in a.workloads.split(",") if x]
    for x in loops:
        if x not in LOOPS:
            raise SystemExit(f"unknown loop {x!r}; known: {', '.join(LOOPS)}")
    for x in workloads:
        if x not in SIZES:
            raise SystemExit(f"unknown workload {x!r}; known: {', '.join(WORKLOADS)}")
    if a.repeats < 1:
        raise SystemExit("--repeats must be at least 1")

    sizes = {wl: max(1, round(SIZES[wl] * a.scale)) for wl in workloads}
    spread = SPREAD_MS * a.scale
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"loop_bench: {started:%Y-%m-%d %H:%M} UTC, Python {platform.python_version()} "
          f"({sys.executable}), {os.cpu_count()} CPUs, repeats {a.repeats}, scale {a.scale}, "
          f"gc {'off' if a.no_gc else 'on'}"
          + (f", pinned to CPU {a.cpu}" if a.cpu is not None else ""))

    status = {}
    for ln in loops:
        r, err = spawn_child(["--probe", "--loop", ln], timeout=a.timeout)
        status[ln] = r if r else {"ok": False, "missing": False, "error": err}
        s = status[ln]
        if s["ok"]:
            print(f"  {ln:8} {s['version']}  ({s['loop_type']})")
        elif s.get("missing"):
            print(f"  {ln:8} not installed ({s['error']})")
        else:
            print(f"  {ln:8} error: {s['error']}")
    present = [ln for ln in loops if status[ln]["ok"]]

    runs = {ln: {wl: [] for wl in workloads} for ln in loops}
    errors = []
    load0 = cpu_busy()
    total = a.repeats * len(workloads) * len(present)
    done = 0
    for rep in range(a.repeats):
        # rotate which loop goes first, so no loop always runs right after the same other one
        order = present[rep % len(present):] + present[:rep % len(present)] if present else []
        for wl in workloads:
            for ln in order:
                args = ["--loop", ln, "--workload", wl, "--n", str(sizes[wl]),
                        "--spread-ms", str(spread)]
                if a.shuffle:
                    args.append("--shuffle")
                if a.no_gc:
                    args.append("--no-gc")
                if a.cpu is not None:
                    args += ["--cpu", str(a.cpu)]
                r, err = spawn_child(args, timeout=a.timeout)
                done += 1
                if r is None:
                    errors.append(f"{ln} {wl} repeat {rep + 1}: {err}")
                    print(f"  [{done}/{total}] {wl:10} {ln:8} FAILED {err}", file=sys.stderr)
                    continue
                runs[ln][wl].append(r)
                extra = f"  early {r['early']}" if "early" in r else ""
                print(f"  [{done}/{total}] {wl:10} {ln:8} {fmt_rate(r['ops_per_s']):>7} ops/s"
                      f"  {r['cpu_ns_per_op']:6.0f} CPU ns/op{extra}", file=sys.stderr)

    load = other_load(load0, cpu_busy())
    best = {ln: {} for ln in loops}
    for ln in present:
        for wl in workloads:
            if runs[ln][wl]:
                best[ln][wl] = max(runs[ln][wl], key=lambda r: r["ops_per_s"])

    t1, t2 = tables(loops, status, best, workloads)
    print()
    print(f"Best of {a.repeats} (ops/s, higher is better):")
    print(t1)
    if t2:
        print()
        print("CPU time per op (process_time, ns) in the best run:")
        print(t2)
    if "call_later" in workloads and present:
        print()
        print("call_later timers fired early (loop.time() < handle.when()), per run:")
        for ln in present:
            rs = runs[ln]["call_later"]
            if rs:
                print(f"  {ln:8} " + ", ".join(
                    f"{r['early']}/{r['ops']}" + (f" (max {r['max_early_ms']:.3f} ms)"
                                                  if r["early"] else "") for r in rs)
                      + (f"; {rs[0]['immediate']} ran as call_soon (no when())"
                         if rs[0]["immediate"] else ""))
    if load is not None:
        print()
        print(f"During the runs, other processes kept {load['other']:.2f} of the "
              f"{os.cpu_count()} CPUs busy on average, and the hypervisor stole "
              f"{load['steal']:.2f} (/proc/stat; ours: this script and its children).")
    if errors:
        print()
        print("Failed runs:")
        for e in errors:
            print("  " + e)

    out = {
        "started": started.isoformat(timespec="seconds"),
        "python": platform.python_version(), "executable": sys.executable,
        "platform": platform.platform(), "cpus": os.cpu_count(), "cpu_pin": a.cpu,
        "repeats": a.repeats, "scale": a.scale, "sizes": sizes, "spread_ms": spread,
        "shuffle": a.shuffle, "gc": not a.no_gc, "chains": CHAINS, "tasks": TASKS,
        "warmup_fraction": WARMUP,
        "other_cpu_load": load, "loops": status, "best": best, "runs": runs, "errors": errors,
        "table": t1, "cpu_table": t2,
    }
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"\nJSON: {a.json}")
    if a.plot and present:
        title = (f"Python event loops, best of {a.repeats}, scale {a.scale}, "
                 f"gc {'off' if a.no_gc else 'on'}, "
                 f"{started:%Y-%m-%d %H:%M} UTC")
        if plot(a.plot, loops, status, best, workloads, title):
            print(f"plot: {a.plot}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
