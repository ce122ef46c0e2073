#!/usr/bin/env python3
"""HTTP and WebSocket servers on the Python loops: stdlib asyncio, uvloop and rsuv side by
side, in one run.

    .venv/bin/python benches/py_http_bench.py [--secs S] [--loops asyncio,uvloop,rsuv]

Each server (benches/py_http_server.py) runs pinned to one CPU; the load runs on the other:
`wrk` (Debian's package) against a minimal HTTP/1.1 `Protocol` server and an aiohttp "hello",
with 1 and 50 keep-alive connections (requests/s, p99 latency, server CPU µs per request),
and a WebSocket echo on `websockets` driven by a `websockets` client on stdlib asyncio in
its own process (10 connections, one message in flight each, 64 bytes: messages/s and server
CPU µs per message). Writes a table, JSON to target/bench/py_http.json and a bar chart of
the ratios to uvloop to target/bench/py_http.png.
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from py_echo_bench import save_json, stop_server  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(ROOT, "benches", "py_http_server.py")
PORT = 9141
CLK = os.sysconf("SC_CLK_TCK")

WS_CLIENT = r"""
import asyncio, sys, time
from websockets.asyncio.client import connect
async def one(port, secs, counts):
    async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
        msg = b"x" * 64
        end = time.monotonic() + secs
        n = 0
        while time.monotonic() < end:
            await ws.send(msg)
            await ws.recv()
            n += 1
        counts.append(n)
async def main(port, secs):
    counts = []
    await asyncio.gather(*(one(port, secs, counts) for _ in range(10)))
    print(sum(counts))
asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
"""


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def start(loop, app, cpu):
    srv = subprocess.Popen(["taskset", "-c", cpu, sys.executable, SERVER, "--loop", loop,
                            "--app", app, "--port", str(PORT)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if srv.stdout.readline() != b"ready\n":
        err = srv.stderr.read(500).decode(errors="replace")
        stop_server(srv)
        raise RuntimeError(err)
    return srv


def parse_latency(text):
    """wrk's latency value (`1.23ms`, `850.00us`, `1.1s`) in microseconds."""
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def run_wrk(loop, app, conns, secs, cpus):
    srv = start(loop, app, cpus[0])
    try:
        url = f"http://127.0.0.1:{PORT}/"
        subprocess.run(["taskset", "-c", cpus[1], "wrk", "-t1", f"-c{conns}", "-d1s", url],
                       capture_output=True, timeout=60)  # warm-up
        before = cpu_ticks(srv.pid)
        r = subprocess.run(["taskset", "-c", cpus[1], "wrk", "-t1", f"-c{conns}",
                            f"-d{secs}s", "--latency", url],
                           capture_output=True, text=True, timeout=secs + 60)
        ticks = cpu_ticks(srv.pid) - before
    finally:
        stop_server(srv)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", r.stdout).group(1))
    total = int(re.search(r"(\d+) requests in", r.stdout).group(1))
    p99 = parse_latency(re.search(r"99%\s+(\S+)", r.stdout).group(1))
    return {"rps": rps, "p99_us": p99, "cpu_us_per_req": ticks / CLK * 1e6 / max(total, 1)}


def run_ws(loop, secs, cpus):
    srv = start(loop, "ws", cpus[0])
    try:
        before = cpu_ticks(srv.pid)
        r = subprocess.run(["taskset", "-c", cpus[1], sys.executable, "-c", WS_CLIENT,
                            str(PORT), str(secs)], capture_output=True, text=True,
                           timeout=secs + 60)
        ticks = cpu_ticks(srv.pid) - before
    finally:
        stop_server(srv)
    n = int(r.stdout.strip())
    return {"msgs_per_s": n / secs, "cpu_us_per_msg": ticks / CLK * 1e6 / max(n, 1)}


def plot(path, results, loops, rows):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        print(f"no plot: {e}", file=sys.stderr)
        return
    labels = [label for label, _, _ in rows]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.8 / len(loops)
    for i, loop in enumerate(loops):
        vals = []
        for _, key, metric in rows:
            u, v = results.get((key, "uvloop"), {}), results.get((key, loop), {})
            vals.append(v.get(metric, 0) / u[metric] if u.get(metric) else 0)
        ax.bar([x + i * width for x in range(len(rows))], vals, width, label=loop)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks([x + width * (len(loops) - 1) / 2 for x in range(len(rows))], labels,
                  fontsize=8)
    ax.set_ylabel("throughput / uvloop's")
    ax.set_title("HTTP and WebSocket servers on the Python loops")
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--loops", default="asyncio,uvloop,rsuv")
    p.add_argument("--secs", type=int, default=3)
    p.add_argument("--cpus", default="1,0")
    p.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "py_http.json"))
    p.add_argument("--plot", default=os.path.join(ROOT, "target", "bench", "py_http.png"))
    a = p.parse_args()
    loops, cpus = a.loops.split(","), a.cpus.split(",")
    results = {}
    rows = []
    for app in ("raw", "aiohttp"):
        for conns in (1, 50):
            key = f"{app}_c{conns}"
            rows.append((f"{app} {conns} conn", key, "rps"))
            for loop in loops:
                try:
                    results[(key, loop)] = run_wrk(loop, app, conns, a.secs, cpus)
                except Exception as e:  # noqa: BLE001 (a peer that fails is reported)
                    results[(key, loop)] = {"error": str(e)[-200:]}
                print(f"  {key:12} {loop:8} {results[(key, loop)]}", flush=True)
    rows.append(("websocket echo", "ws", "msgs_per_s"))
    for loop in loops:
        try:
            results[("ws", loop)] = run_ws(loop, a.secs, cpus)
        except Exception as e:  # noqa: BLE001
            results[("ws", loop)] = {"error": str(e)[-200:]}
        print(f"  {'ws':12} {loop:8} {results[('ws', loop)]}", flush=True)
    save_json(a.json, results)
    if a.plot:
        plot(a.plot, results, loops, rows)
    print()
    print("| workload | metric | " + " | ".join(loops) + " | rsuv / uvloop |")
    print("|---|---|" + "---|" * (len(loops) + 1))
    metrics = {"rps": [("requests/s", "rps", "{:,.0f}"), ("p99 latency µs", "p99_us", "{:,.0f}"),
                       ("server CPU µs/request", "cpu_us_per_req", "{:.1f}")],
               "msgs_per_s": [("messages/s", "msgs_per_s", "{:,.0f}"),
                              ("server CPU µs/message", "cpu_us_per_msg", "{:.1f}")]}
    for label, key, kind in rows:
        for mlabel, m, fmt in metrics[kind]:
            cells = [fmt.format(results[(key, lp)][m]) if m in results[(key, lp)] else "n/a"
                     for lp in loops]
            u, r = results.get((key, "uvloop"), {}), results.get((key, "rsuv"), {})
            ratio = f"{r[m] / u[m]:.2f}" if m in u and m in r and u[m] else "n/a"
            print(f"| {label} | {mlabel} | " + " | ".join(cells) + f" | {ratio} |")


if __name__ == "__main__":
    main()
