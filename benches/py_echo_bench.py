#!/usr/bin/env python3
"""Python event loops as echo servers: asyncio, uvloop, rloop and rsuv side by side.

Each server (benches/py_echo_server.py: one loop, one style) runs pinned to one CPU; the load
client is rsuv-bench's `echo_client` (the same program benches/run.py uses against libuv's C
echo server and tokio), pinned to the other, in its own process. For each style (Protocol,
asyncio streams, sock_*), message size (1, 10, 100 KiB) and number of connections (1, 4),
the client ping-pongs for --secs seconds after a warm-up and reports round trips and the
server's CPU time over the timed window (utime + stime from /proc). Prints two tables,
round trips/s and server CPU microseconds per round trip (the steadier figure on a 2-CPU
machine), with rsuv's ratios to the better of uvloop and rloop, and a third of round-trip
latency p50/p99 (µs, measured by the client); writes a JSON file. Floors, measured once per
workload with the same client: libuv's C echo server (echo-server.c, Nagle off) and a tokio
current-thread echo server (rsuv-bench echo_server tokio); they are the same in every style.

    .venv/bin/python benches/py_echo_bench.py [--loops ...] [--styles ...] [--secs S]

Needs target/rsuv-bench/release/rsuv-bench (built by `make bench`, or
`cargo build --release --manifest-path benches/rsuv-bench/Cargo.toml
--target-dir target/rsuv-bench`).
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as rb  # noqa: E402  (benches/run.py: the floors' servers and their parsing)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RS_BENCH = os.path.join(ROOT, "target", "rsuv-bench", "release", "rsuv-bench")
SERVER = os.path.join(ROOT, "benches", "py_echo_server.py")
WORKLOADS = [  # echo_client workload, size label, connections
    ("pingpong_1k", "1 KiB", 1), ("pingpong_1k_c4", "1 KiB", 4),
    ("pingpong_10k", "10 KiB", 1), ("pingpong_10k_c4", "10 KiB", 4),
    ("pingpong_100k", "100 KiB", 1), ("pingpong_100k_c4", "100 KiB", 4),
]
RESULT = re.compile(r"^echo_result (.*)$", re.M)
PORT = 9123


def run_one(loop, style, workload, secs, cpus):
    srv = subprocess.Popen(["taskset", "-c", cpus[0], sys.executable, SERVER, "--loop", loop,
                            "--style", style, "--port", str(PORT)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = srv.stdout.readline()
        if line != b"ready\n":
            return {"error": (line + srv.stderr.read(2000)).decode(errors="replace")[-300:]}
        r = subprocess.run(["taskset", "-c", cpus[1], RS_BENCH, "echo_client", workload,
                            "--secs", str(secs), "--server-pid", str(srv.pid)],
                           capture_output=True, text=True, timeout=120)
    finally:
        stop_server(srv)
    m = RESULT.search(r.stdout)
    if r.returncode != 0 or not m:
        return {"error": (r.stdout + r.stderr)[-300:]}
    res = dict(kv.split("=", 1) for kv in m.group(1).split())
    elapsed, rts = float(res["elapsed"]), int(res["rts"])
    ticks = int(res["server_ticks"]) / os.sysconf("SC_CLK_TCK")
    return {"rts_per_s": rts / elapsed, "cpu_us_per_rt": ticks * 1e6 / max(rts, 1),
            "p50_us": _num(res.get("p50_us")), "p99_us": _num(res.get("p99_us"))}


def save_json(path, results):
    """`results` (keyed by tuples) as JSON, keys joined by spaces."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({" ".join(k): v for k, v in results.items()}, f, indent=1)


def stop_server(srv):
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if srv.poll() is None:
        srv.send_signal(signal.SIGTERM)
    try:
        srv.wait(timeout=10)
    except subprocess.TimeoutExpired:
        srv.kill()
        srv.wait()


def _num(v):
    return None if v in (None, "none") else int(v)


FLOORS = ["C", "tokio"]


def run_floor(server, workload, secs, cpus, logf):
    """A floor's figures: libuv's C echo server or tokio's, through benches/run.py."""
    r = rb.run_echo(server, workload, secs, cpus, logf)
    ticks = r["server_ticks"] / os.sysconf("SC_CLK_TCK")
    return {"rts_per_s": r["rts"] / r["elapsed"], "cpu_us_per_rt": ticks * 1e6 / max(r["rts"], 1),
            "p50_us": r.get("p50_us"), "p99_us": r.get("p99_us")}


def fmt(v, unit):
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if unit == "rts" else f"{v:.1f}"


def table(results, loops, styles, key, unit, better_high, floors=()):
    head = ["style", "size", "conns"] + loops + ["rsuv / best peer"] + list(floors)
    rows = []
    for style in styles:
        for w, size, conns in WORKLOADS:
            vals = {l: results.get((l, style, w), {}).get(key) for l in loops}
            peers = [vals[l] for l in ("uvloop", "rloop") if l in vals and vals[l]]
            ratio = ""
            if vals.get("rsuv") and peers:
                best = max(peers) if better_high else min(peers)
                ratio = f"{vals['rsuv'] / best:.2f}"
            floor = [fmt(results.get((f, "", w), {}).get(key), unit) for f in floors]
            rows.append([style, size, str(conns)] + [fmt(vals[l], unit) for l in loops] + [ratio]
                        + floor)
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def latency_table(results, loops, styles, floors):
    """p50/p99 round-trip µs per loop; rsuv's p50 over C's."""
    head = ["style", "size", "conns"] + loops + list(floors) + ["rsuv p50 / C p50"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for style in styles:
        for w, size, conns in WORKLOADS:
            cells, p50 = [], {}
            for name, key in [(l, (l, style, w)) for l in loops] + [(f, (f, "", w)) for f in floors]:
                r = results.get(key, {})
                p50[name] = r.get("p50_us")
                cells.append("n/a" if r.get("p50_us") is None else f"{r['p50_us']} / {r['p99_us']}")
            ratio = f"{p50['rsuv'] / p50['C']:.2f}" if p50.get("rsuv") and p50.get("C") else ""
            out.append("| " + " | ".join([style, size, str(conns)] + cells + [ratio]) + " |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--loops", default="asyncio,uvloop,rloop,rsuv")
    p.add_argument("--styles", default="protocol,streams,sock")
    p.add_argument("--secs", type=float, default=2.0)
    p.add_argument("--cpus", default="1,0", help="server CPU, client CPU")
    p.add_argument("--floors", default=",".join(FLOORS),
                   help="C and/or tokio (empty: none); C needs make bench's libuv build")
    p.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "py_echo.json"))
    a = p.parse_args()
    if not os.path.exists(RS_BENCH):
        sys.exit(f"py_echo_bench: {RS_BENCH} missing (run make bench once)")
    loops, styles, cpus = a.loops.split(","), a.styles.split(","), a.cpus.split(",")
    floors = [f for f in a.floors.split(",") if f]
    if "C" in floors and not os.path.exists(rb.C_RUNNER):
        sys.exit(f"py_echo_bench: {rb.C_RUNNER} missing (run make bench once, or --floors tokio)")
    results = {}
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json + ".log", "w") as logf:
        for w, _size, _conns in WORKLOADS:
            for f in floors:
                if f == "C" and not os.path.exists(rb.NODELAY_SO):
                    os.makedirs(rb.OUT, exist_ok=True)
                    rb.build_nodelay()
                r = run_floor(f, w, a.secs, cpus, logf)
                results[(f, "", w)] = r
                print(f"  {'floor':8} {w:18} {f:8} {r['rts_per_s']:,.0f} rt/s, "
                      f"{r['cpu_us_per_rt']:.1f} us/rt", file=sys.stderr, flush=True)
    for style in styles:
        for w, size, conns in WORKLOADS:
            for loop in loops:
                r = run_one(loop, style, w, a.secs, cpus)
                results[(loop, style, w)] = r
                msg = r.get("error") or f"{r['rts_per_s']:,.0f} rt/s, {r['cpu_us_per_rt']:.1f} us/rt"
                print(f"  {style:8} {w:18} {loop:8} {msg}", file=sys.stderr, flush=True)
    print("Round trips/s (higher is better):\n")
    print(table(results, loops, styles, "rts_per_s", "rts", True, floors))
    print("\nServer CPU µs per round trip (lower is better; ratio < 1: rsuv cheaper):\n")
    print(table(results, loops, styles, "cpu_us_per_rt", "cpu", False, floors))
    print("\nRound-trip latency p50 / p99, µs (measured by the client):\n")
    print(latency_table(results, loops, styles, floors))
    with open(a.json, "w") as f:
        json.dump({f"{l} {s} {w}".replace("  ", " "): r for (l, s, w), r in results.items()},
                  f, indent=1)


if __name__ == "__main__":
    main()
