#!/usr/bin/env python3
"""`make demo`'s tour of the Python examples: each started as its own process on rsuv, used
for a moment over loopback, stopped with SIGTERM; one line each.

    python examples/python/tour.py
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ADDR = re.compile(rb"127\.0\.0\.1:(\d+)")


def start(name, *args):
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, name), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"{name}: {proc.stderr.read().decode()}")
    return proc, [int(p) for p in ADDR.findall(line)]


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    return proc.returncode


def chat():
    try:
        import aiohttp  # noqa: F401 (the chat server's WebSocket side)
    except ImportError:
        return "chat_server: skipped (aiohttp not installed)"
    proc, (tcp, _http) = start("chat_server.py", "127.0.0.1:0", "127.0.0.1:0")
    a = socket.create_connection(("127.0.0.1", tcp))
    a.settimeout(10)
    fa = a.makefile("rb")
    b = socket.create_connection(("127.0.0.1", tcp))
    joined = fa.readline().decode().strip()
    b.sendall(b"hello room\n")
    said = fa.readline().decode().strip()
    b.close()
    a.close()
    return f"chat_server: {joined!r}, then {said!r} (exit {stop(proc)})"


def forwarder():
    up = socket.create_server(("127.0.0.1", 0))
    fwd, ports = start("port_forwarder.py", "127.0.0.1:0", "127.0.0.1:%d" % up.getsockname()[1])
    port = ports[0]
    c = socket.create_connection(("127.0.0.1", port))
    s, _ = up.accept()
    c.sendall(b"x" * 100_000)
    c.shutdown(socket.SHUT_WR)
    got = b"".join(iter(lambda: s.recv(65536), b""))
    s.close()
    c.close()
    up.close()
    return f"port_forwarder: {len(got):,} bytes and the half-close passed on (exit {stop(fwd)})"


def clock():
    proc, (port,) = start("comet_clock.py", "127.0.0.1:0")
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    s.sendall(b"GET /clock HTTP/1.1\r\nHost: x\r\n\r\n")
    f = s.makefile("rb")
    ticks = []
    while len(ticks) < 3:
        line = f.readline()
        if line.startswith(b"data: "):
            ticks.append(line[6:].strip().decode())
    s.close()
    return f"comet_clock: ticks {', '.join(ticks)} pushed a second apart (exit {stop(proc)})"


def tls():
    d = tempfile.mkdtemp(prefix="rsuv-tour-")
    run = lambda *a: subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "key.pem", "-out", "cert.pem", "-days", "1", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost")
    proc, (port,) = start("tls_echo_server.py", "127.0.0.1:0", f"{d}/cert.pem", f"{d}/key.pem")
    r = subprocess.run([sys.executable, os.path.join(HERE, "tls_echo_client.py"),
                        f"127.0.0.1:{port}", f"{d}/cert.pem"], input=b"hello over TLS\n",
                       capture_output=True, timeout=30)
    return (f"tls_echo: {r.stdout.decode().strip()!r} echoed, client "
            f"{r.stderr.decode().strip()} (exit {r.returncode}, server exit {stop(proc)})")


def twisted():
    try:
        import flask, twisted, autobahn  # noqa: F401,E401
    except ImportError:
        return "twisted_wsgi_ws: skipped (Twisted, Flask or autobahn not installed)"
    proc, (port,) = start("twisted_wsgi_ws.py", "127.0.0.1:0")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello/tour", timeout=10) as r:
        reply = json.loads(r.read())
    return f"twisted_wsgi_ws: Flask on Twisted answered {reply} (exit {stop(proc)})"


def main():
    t = time.monotonic()
    for step in (chat, forwarder, clock, tls, twisted):
        print(step(), flush=True)
    print(f"tour done in {time.monotonic() - t:.1f} s")


if __name__ == "__main__":
    main()
