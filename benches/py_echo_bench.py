#!/usr/bin/env python3
"""Python event loops as echo servers: asyncio, uvloop, rloop and rsuv side by side.

Each server (benches/py_echo_server.py: one loop, one style) runs pinned to one CPU; the load
client is rsuv-bench's `echo_client` (the same program benches/run.py uses against libuv's C
echo server and tokio), pinned to the other, in its own process. For each style (Protocol,
asyncio streams, sock_*), message size (1, 10, 100 KiB) and number of connections (1, 4),
the client ping-pongs for --secs seconds after a warm-up and reports round trips and the
server's CPU time over the timed window (utime + stime from /proc). Prints two tables,
round trips/s and server CPU microseconds per round trip (the steadier figure on a 2-CPU
machine), with rsuv's ratios to the better of uvloop and rloop, and writes a JSON file.

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
        if srv.poll() is None:
            srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
    m = RESULT.search(r.stdout)
    if r.returncode != 0 or not m:
        return {"error": (r.stdout + r.stderr)[-300:]}
    res = dict(kv.split("=", 1) for kv in m.group(1).split())
    elapsed, rts = float(res["elapsed"]), int(res["rts"])
    ticks = int(res["server_ticks"]) / os.sysconf("SC_CLK_TCK")
    return {"rts_per_s": rts / elapsed, "cpu_us_per_rt": ticks * 1e6 / max(rts, 1)}


def fmt(v, unit):
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if unit == "rts" else f"{v:.1f}"


def table(results, loops, styles, key, unit, better_high):
    head = ["style", "size", "conns"] + loops + ["rsuv / best peer"]
    rows = []
    for style in styles:
        for w, size, conns in WORKLOADS:
            vals = {l: results.get((l, style, w), {}).get(key) for l in loops}
            peers = [vals[l] for l in ("uvloop", "rloop") if l in vals and vals[l]]
            ratio = ""
            if vals.get("rsuv") and peers:
                best = max(peers) if better_high else min(peers)
                ratio = f"{vals['rsuv'] / best:.2f}"
            rows.append([style, size, str(conns)] + [fmt(vals[l], unit) for l in loops] + [ratio])
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--loops", default="asyncio,uvloop,rloop,rsuv")
    p.add_argument("--styles", default="protocol,streams,sock")
    p.add_argument("--secs", type=float, default=2.0)
    p.add_argument("--cpus", default="1,0", help="server CPU, client CPU")
    p.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "py_echo.json"))
    a = p.parse_args()
    if not os.path.exists(RS_BENCH):
        sys.exit(f"py_echo_bench: {RS_BENCH} missing (run make bench once)")
    loops, styles, cpus = a.loops.split(","), a.styles.split(","), a.cpus.split(",")
    results = {}
    for style in styles:
        for w, size, conns in WORKLOADS:
            for loop in loops:
                r = run_one(loop, style, w, a.secs, cpus)
                results[(loop, style, w)] = r
                msg = r.get("error") or f"{r['rts_per_s']:,.0f} rt/s, {r['cpu_us_per_rt']:.1f} us/rt"
                print(f"  {style:8} {w:18} {loop:8} {msg}", file=sys.stderr, flush=True)
    print("Round trips/s (higher is better):\n")
    print(table(results, loops, styles, "rts_per_s", "rts", True))
    print("\nServer CPU µs per round trip (lower is better; ratio < 1: rsuv cheaper):\n")
    print(table(results, loops, styles, "cpu_us_per_rt", "cpu", False))
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({f"{l} {s} {w}": r for (l, s, w), r in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
