#!/usr/bin/env python3
"""A pyuv TCP echo server (pyuv-compat) beside the same echo on the rsuv asyncio loop.

    .venv/bin/python benches/pyuv_echo_bench.py [--servers pyuv,rsuv] [--secs S] [--repeats R]

Servers, each pinned to one CPU (`--cpus`, default 1,0: server on 1, client on 0):
  pyuv   benches/pyuv_echo_server.py: pyuv.TCP, start_read, write of every read (callbacks);
  rsuv   benches/py_echo_server.py --loop rsuv --style protocol: an asyncio.Protocol whose
         data_received writes the data back, on rsuv's loop (py_echo_bench.py's server);
  any other loop name (asyncio, uvloop, rloop) runs py_echo_server.py's protocol server on it.
The load is py_echo_bench.py's: rsuv-bench's `echo_client` (`pingpong_1k`, `pingpong_1k_c4`:
1 KiB ping-pong on 1 or 4 connections at once, TCP_NODELAY, all connected before a 0.3 s
warm-up, then `--secs` timed; server CPU from /proc/PID/stat over the window; every echoed
byte checked) when target/rsuv-bench/release/rsuv-bench exists (built by benches/run.py,
the first step of `make bench`), else the same protocol in Python (`--client-child`, a
blocking epoll client in its own process; `--client python|rsuv-bench` to choose). Repeats
(`BENCH_ECHO_REPEATS`, default 3) rotate the server order; medians. Prints requests (round
trips)/s, server CPU µs per request, latency p50/p99 and the ratios pyuv / rsuv (> 1: pyuv
better: more requests/s, or for CPU rsuv's µs / pyuv's); JSON (every run) to `--json`.
"""
import argparse
import os
import select
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import py_echo_bench as peb  # noqa: E402  (the rsuv server, the client, result parsing)
from loop_bench import cpu_busy, md_table, other_load  # noqa: E402
from py_http_bench import cpu_ticks  # noqa: E402

ROOT = peb.ROOT
PYUV_SERVER = os.path.join(ROOT, "benches", "pyuv_echo_server.py")
PORT = 9124
WORKLOADS = [(w, size, conns) for w, size, conns in peb.WORKLOADS if size == "1 KiB"]
WARMUP = 0.3
CLK = os.sysconf("SC_CLK_TCK")


def server_cmd(name, port):
    if name == "pyuv":
        return [sys.executable, PYUV_SERVER, "--port", str(port)]
    return [sys.executable, peb.SERVER, "--loop", name, "--style", "protocol", "--port",
            str(port)]


def run_one(name, workload, secs, cpus, client, logf):
    """One server, one client run; the client's `echo_result` fields as numbers."""
    srv = subprocess.Popen(["taskset", "-c", cpus[0]] + server_cmd(name, PORT),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = srv.stdout.readline()
        if line != b"ready\n":
            return {"error": (line + srv.stderr.read(2000)).decode(errors="replace")[-300:]}
        if client == "rsuv-bench":
            cmd = [peb.RS_BENCH, "echo_client", workload]
        else:
            cmd = [sys.executable, os.path.abspath(__file__), "--client-child", workload]
        cmd += ["--secs", str(secs), "--server-pid", str(srv.pid), "--port", str(PORT)]
        r = subprocess.run(["taskset", "-c", cpus[1]] + cmd, capture_output=True, text=True,
                           timeout=120)
    finally:
        peb.stop_server(srv)
    logf.write(f"--- {name} {workload} {client} (exit {r.returncode})\n{r.stdout}{r.stderr}")
    logf.flush()
    m = peb.RESULT.search(r.stdout)
    if r.returncode != 0 or not m:
        return {"error": (r.stdout + r.stderr)[-300:]}
    res = dict(kv.split("=", 1) for kv in m.group(1).split())
    elapsed, rts = float(res["elapsed"]), int(res["rts"])
    if res.get("total_sent") != res.get("total_recv"):
        return {"error": f"unequal bytes: {res}"}
    return {"rts_per_s": rts / elapsed, "cpu_us_per_rt": int(res["server_ticks"]) / CLK * 1e6
            / max(rts, 1), "server_util": int(res["server_ticks"]) / CLK / elapsed,
            "client_util": int(res["client_ticks"]) / CLK / elapsed,
            "p50_us": peb._num(res.get("p50_us")), "p99_us": peb._num(res.get("p99_us"))}


# --------------------------------------------------------------------------------------------
# The Python load client (when rsuv-bench is not built): echo_client's protocol and output.

def client_child(workload, secs, server_pid, port):
    conns = 4 if workload.endswith("_c4") else 1
    msg = bytes(97 + i % 26 for i in range(1024))  # lower case: no server treats it as commands
    size = len(msg)
    socks = []
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        socks.append(s)
    ep = select.epoll()
    by_fd = {s.fileno(): s for s in socks}
    got = {fd: 0 for fd in by_fd}          # bytes of the current message back
    started = {fd: 0.0 for fd in by_fd}    # when the current message was sent
    sent = {fd: 0 for fd in by_fd}
    recv = {fd: 0 for fd in by_fd}
    for fd in by_fd:
        ep.register(fd, select.EPOLLIN)
    lat = []
    rts = 0
    phase = 0  # 0: warm-up, 1: timed, 2: drain (no new messages)
    now = time.perf_counter
    t_start = now()
    t_window = t_start + WARMUP
    t_end = t_window + secs
    t0 = t1 = ticks0 = ticks1 = c0 = c1 = None

    def send(fd):
        started[fd] = now()
        n = by_fd[fd].send(msg)  # 1 KiB always fits an empty socket buffer
        if n != size:
            raise SystemExit(f"short send {n}")
        sent[fd] += n

    for fd in by_fd:
        send(fd)
    inflight = conns
    while inflight:
        if now() > t_end + 10:
            raise SystemExit("no echo for 10 s")
        for fd, _ev in ep.poll(0.5):
            data = by_fd[fd].recv(65536)
            if not data:
                raise SystemExit("server closed the connection")
            off = got[fd]
            if data != msg[off:off + len(data)]:
                raise SystemExit(f"echoed bytes differ at offset {off}")
            got[fd] = off + len(data)
            recv[fd] += len(data)
            if got[fd] < size:
                continue
            got[fd] = 0
            t = now()
            if phase == 0 and t >= t_window:
                phase, t0, ticks0, c0 = 1, t, cpu_ticks(server_pid), os.times()
            elif phase == 1 and t >= t_end:
                phase, t1, ticks1, c1 = 2, t, cpu_ticks(server_pid), os.times()
            if phase == 1:
                rts += 1
                lat.append(t - started[fd])
            if phase == 2:
                inflight -= 1
            else:
                send(fd)
    for s in socks:  # half-close, then wait for the server's FIN
        s.setblocking(True)
        s.shutdown(socket.SHUT_WR)
        if s.recv(1):
            raise SystemExit("bytes after the echo")
        s.close()
    if sent != recv:
        raise SystemExit(f"sent {sent} != echoed {recv}")
    lat.sort()
    pct = lambda q: int(lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6) if lat else "none"
    client = int(round((c1.user + c1.system - c0.user - c0.system) * CLK))
    total = sum(sent.values())
    print(f"echo_result name={workload} elapsed={t1 - t0:.6f} rts={rts} "
          f"server_ticks={ticks1 - ticks0} client_ticks={client} total_sent={total} "
          f"total_recv={sum(recv.values())} p50_us={pct(0.5)} p99_us={pct(0.99)}")


# --------------------------------------------------------------------------------------------

def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def report(results, servers):
    ref = "rsuv" if "rsuv" in servers else None
    head = ["workload", "metric"] + servers + ([f"pyuv / {ref}"] if ref and "pyuv" in servers
                                               else [])
    rows = []
    for w, size, conns in WORKLOADS:
        for key, label, fmt, high in (("rts_per_s", "requests/s", "{:,.0f}", True),
                                      ("cpu_us_per_rt", "server CPU µs/request", "{:.1f}", False),
                                      ("p50_us", "latency p50 µs", "{:,.0f}", False),
                                      ("p99_us", "latency p99 µs", "{:,.0f}", False)):
            vals = {s: med(results[(s, w)], key) for s in servers}
            row = [f"1 KiB ping-pong, {conns} conn", label]
            row += ["n/a" if vals[s] is None else fmt.format(vals[s]) for s in servers]
            if len(head) > len(row):
                p, r = vals.get("pyuv"), vals.get(ref)
                row.append("" if not p or not r else f"{(p / r) if high else (r / p):.2f}")
            rows.append(row)
    return md_table(head, rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--servers", default="pyuv,rsuv",
                   help="pyuv, and/or loops for py_echo_server.py's protocol server")
    p.add_argument("--secs", type=float, default=2.0)
    p.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_ECHO_REPEATS", 3)),
                   help="runs per server and workload, median kept (default BENCH_ECHO_REPEATS "
                        "or 3)")
    p.add_argument("--cpus", default=f"{os.environ.get('BENCH_ECHO_SERVER_CPU', '1')},"
                                     f"{os.environ.get('BENCH_ECHO_CLIENT_CPU', '0')}",
                   help="server CPU, client CPU (default BENCH_ECHO_SERVER_CPU or 1, "
                        "BENCH_ECHO_CLIENT_CPU or 0)")
    p.add_argument("--client", choices=["auto", "rsuv-bench", "python"], default="auto",
                   help="load client: rsuv-bench echo_client if built (auto), or Python's")
    p.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "pyuv_echo.json"))
    p.add_argument("--client-child", help=argparse.SUPPRESS)
    p.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=PORT, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.client_child:
        return client_child(a.client_child, a.secs, a.server_pid, a.port)
    servers, cpus = [s for s in a.servers.split(",") if s], a.cpus.split(",")
    client = a.client
    if client == "auto":
        client = "rsuv-bench" if os.path.exists(peb.RS_BENCH) else "python"
    elif client == "rsuv-bench" and not os.path.exists(peb.RS_BENCH):
        sys.exit(f"pyuv_echo_bench: {peb.RS_BENCH} missing (run make bench once)")
    print(f"pyuv_echo_bench: servers {','.join(servers)} on CPU {cpus[0]}, client {client} on "
          f"CPU {cpus[1]}, {a.secs:g} s per run, {a.repeats} repeats", flush=True)
    results = {(s, w): [] for s in servers for w, _, _ in WORKLOADS}
    errors = []
    load0 = cpu_busy()
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json + ".log", "w") as logf:
        for rep in range(a.repeats):
            order = servers[rep % len(servers):] + servers[:rep % len(servers)]
            for w, _size, _conns in WORKLOADS:
                for s in order:
                    r = run_one(s, w, a.secs, cpus, client, logf)
                    if "error" in r:
                        errors.append(f"{s} {w} repeat {rep + 1}: {r['error']}")
                    else:
                        results[(s, w)].append(r)
                    msg = r.get("error") or (f"{r['rts_per_s']:,.0f} req/s, "
                                             f"{r['cpu_us_per_rt']:.1f} us/req, server "
                                             f"{r['server_util']:.0%} client "
                                             f"{r['client_util']:.0%} CPU")
                    print(f"  {w:16} {s:8} {msg}", file=sys.stderr, flush=True)
    load = other_load(load0, cpu_busy())
    print(f"\n1 KiB echo, medians of {a.repeats} ({client} client); ratio > 1: pyuv better "
          f"(requests/s: pyuv / rsuv; CPU and latency: rsuv / pyuv):\n")
    print(report(results, servers))
    if load is not None:
        print(f"\nDuring the runs, other processes kept {load['other']:.2f} of the "
              f"{os.cpu_count()} CPUs busy on average (steal {load['steal']:.2f}).")
    if errors:
        print("\nFailed runs:\n  " + "\n  ".join(errors))
    peb.save_json(a.json, {k: v for k, v in results.items()})
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
