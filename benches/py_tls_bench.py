#!/usr/bin/env python3
"""TLS echo on the Python loops: stdlib asyncio, uvloop and rsuv side by side, with rsuv's
Rust `TlsStream` echo server as the floor (rloop 0.5 is run too: its `create_server(ssl=)`
raises NotImplementedError, shown as n/a).

    .venv/bin/python benches/py_tls_bench.py [--secs S] [--loops asyncio,uvloop,rsuv]

Each server is an `asyncio.Protocol` echo under `create_server(ssl=ctx)` with a standard
`ssl.SSLContext` (a P-256 certificate made with `openssl` at start-up), pinned to one CPU;
the load client (`rsuv-bench tls_client`, rsuv's Rust TLS, AES-256-GCM only) runs on the
other. Workloads: a 1 KiB ping-pong on one connection (round trips/s, server CPU µs per
round trip) and bulk echo on one connection, 64 KiB writes with 1 MiB in flight (MB/s each
way, server CPU µs per MB), on TLS 1.2 and TLS 1.3. Needs `make bench` to have built
`target/rsuv-bench` once.
"""
import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from py_echo_bench import save_json, stop_server  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RS_BENCH = os.path.join(ROOT, "target", "rsuv-bench", "release", "rsuv-bench")
RESULT = re.compile(r"^tls_result (.*)$", re.M)
PORT = 9131
WORKLOADS = [("pingpong_1k", "1 KiB ping-pong"), ("bulk", "bulk echo")]
PROTOS = [("tls12", "TLS 1.2"), ("tls13", "TLS 1.3")]


def serve(loop_name, port, cert, key):
    """The server process: an echo Protocol under TLS until SIGTERM."""
    import ssl
    if loop_name == "asyncio":
        loop = asyncio.new_event_loop()
    else:
        loop = __import__(loop_name).new_event_loop()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    class Echo(asyncio.Protocol):
        def connection_made(self, tr):
            self.tr = tr

        def data_received(self, data):
            self.tr.write(data)

    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    srv = loop.run_until_complete(loop.create_server(Echo, "127.0.0.1", port, ssl=ctx))
    print("ready", flush=True)
    loop.run_until_complete(stop)
    srv.close()
    loop.close()


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    return cert, key


def run_one(server_cmd, workload, proto, secs, cpus):
    srv = subprocess.Popen(["taskset", "-c", cpus[0]] + server_cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    try:
        if srv.stdout.readline() != b"ready\n":
            err = srv.stderr.read(4000).decode(errors="replace").strip().splitlines()
            return {"error": err[-1] if err else "no output"}
        r = subprocess.run(["taskset", "-c", cpus[1], RS_BENCH, "tls_client", workload, proto,
                            "--secs", str(secs), "--port", str(PORT),
                            "--server-pid", str(srv.pid)],
                           capture_output=True, text=True, timeout=120)
    finally:
        stop_server(srv)
    m = RESULT.search(r.stdout)
    if r.returncode != 0 or not m:
        return {"error": (r.stdout + r.stderr)[-300:]}
    res = dict(kv.split("=", 1) for kv in m.group(1).split())
    tck, el = os.sysconf("SC_CLK_TCK"), float(res["elapsed"])
    work = int(res["bytes"]) / 1e6 if workload == "bulk" else int(res["rts"])
    return {"rate": work / el, "cpu_us": int(res["server_ticks"]) / tck * 1e6 / max(work, 1e-9)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--loops", default="asyncio,uvloop,rloop,rsuv")
    p.add_argument("--secs", type=float, default=2.0)
    p.add_argument("--cpus", default="1,0", help="server CPU, client CPU")
    p.add_argument("--json", default=os.path.join(ROOT, "target", "bench", "py_tls.json"))
    p.add_argument("--serve", help=argparse.SUPPRESS)
    p.add_argument("--cert", help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.serve:
        return serve(a.serve, PORT, a.cert, a.key)
    if not os.path.exists(RS_BENCH):
        sys.exit(f"py_tls_bench: {RS_BENCH} missing (run make bench once)")
    loops, cpus = a.loops.split(","), a.cpus.split(",")
    results = {}
    with tempfile.TemporaryDirectory() as d:
        cert, key = make_cert(d)
        for w, _ in WORKLOADS:
            for proto, _ in PROTOS:
                cmds = [(l, [sys.executable, __file__, "--serve", l, "--cert", cert,
                             "--key", key]) for l in loops]
                cmds.append(("Rust TlsStream", [RS_BENCH, "tls_server", proto, str(PORT)]))
                for name, cmd in cmds:
                    r = run_one(cmd, w, proto, a.secs, cpus)
                    results[(name, w, proto)] = r
                    unit = "MB/s" if w == "bulk" else "rt/s"
                    msg = r.get("error") or (f"{r['rate']:,.0f} {unit}, "
                                             f"{r['cpu_us']:.1f} us/{unit[:-2]}")
                    print(f"  {w:12} {proto:6} {name:15} {msg}", file=sys.stderr, flush=True)
    names = loops + ["Rust TlsStream"]
    head = ["workload", "TLS", "metric"] + names + ["rsuv / uvloop"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w, wl in WORKLOADS:
        for proto, pl in PROTOS:
            for key, metric in (("rate", "MB/s each way" if w == "bulk" else "round trips/s"),
                                ("cpu_us", "server CPU µs/" + ("MB" if w == "bulk" else "rt"))):
                vals = {n: results[(n, w, proto)].get(key) for n in names}
                ratio = (f"{vals['rsuv'] / vals['uvloop']:.2f}"
                         if vals.get("rsuv") and vals.get("uvloop") else "")
                cells = ["n/a" if v is None else (f"{v:,.0f}" if key == "rate" else f"{v:.1f}")
                         for v in vals.values()]
                out.append("| " + " | ".join([wl, pl, metric] + cells + [ratio]) + " |")
    print("\n".join(out))
    save_json(a.json, results)


if __name__ == "__main__":
    sys.exit(main())
