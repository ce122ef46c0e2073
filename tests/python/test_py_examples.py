"""The Python examples (examples/python/), each run as its own process on rsuv and driven
over loopback: the chat room (TCP and WebSocket participants), the port forwarder (1 MiB both
ways, half-close passed on), the comet clock (plain and aiohttp: ticks a second apart), the
TLS echo pair (with each other and with the Rust samples, both ways) and the Twisted WSGI +
WebSocket + static site. Each prints one line when it listens and exits 0 on SIGTERM."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from test_tls import pki  # noqa: F401 (fixture)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(ROOT, "examples", "python")
RUST_EXAMPLES = os.path.join(ROOT, "target", "debug", "examples")
ADDR = re.compile(rb"(127\.0\.0\.1):(\d+)")

pytestmark = pytest.mark.rsuv_only


class Example:
    """An example program: started, its listening line read, stopped with SIGTERM."""

    def __init__(self, name, *args, stdin=None):
        self.proc = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, name), *args],
                                     stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=ROOT)
        self.line = self.proc.stdout.readline()
        if not self.line:
            self.proc.kill()
            raise AssertionError(f"{name} printed nothing: {self.proc.stderr.read()!r}")
        self.ports = [int(p) for _, p in ADDR.findall(self.line)]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err


@pytest.fixture
def example():
    started = []

    def start(*args, **kw):
        ex = Example(*args, **kw)
        started.append(ex)
        return ex

    yield start
    for ex in started:
        if ex.proc.poll() is None:
            ex.proc.kill()
            ex.proc.communicate()


def _lines(sock, n, timeout=10):
    sock.settimeout(timeout)
    f = sock.makefile("rb")
    return [f.readline().decode().rstrip("\n") for _ in range(n)]


def test_chat_room_over_tcp_and_websocket(example):
    ws_client = pytest.importorskip("websockets.sync.client")
    ex = example("chat_server.py", "127.0.0.1:0", "127.0.0.1:0")
    tcp_port, http_port = ex.ports
    a = socket.create_connection(("127.0.0.1", tcp_port))
    fa = a.makefile("rb")
    a.settimeout(10)
    b = socket.create_connection(("127.0.0.1", tcp_port))
    b_name = "%s:%d" % b.getsockname()
    assert fa.readline().decode().strip() == f"* {b_name} joined"
    with ws_client.connect(f"ws://127.0.0.1:{http_port}/ws?name=ann", open_timeout=10) as ws:
        assert fa.readline().decode().strip() == "* ann@web joined"
        b.sendall(b"hello room\n")
        assert fa.readline().decode().strip() == f"{b_name}: hello room"
        assert ws.recv(timeout=10) == f"{b_name}: hello room"
        ws.send("hi from the browser")
        assert fa.readline().decode().strip() == "ann@web: hi from the browser"
    assert fa.readline().decode().strip() == "* ann@web left"
    b.close()
    assert fa.readline().decode().strip() == f"* {b_name} left"
    with socket.create_connection(("127.0.0.1", http_port)) as h:
        h.sendall(b"GET / HTTP/1.0\r\n\r\n")
        h.settimeout(10)
        page = b"".join(iter(lambda: h.recv(65536), b""))
    assert b"new WebSocket" in page
    rc, _, err = ex.stop()
    assert fa.readline().decode().strip() == "* the server is stopping"
    a.close()
    assert rc == 0, err


def _echo_upstream():
    """A blocking echo server: echoes until EOF, then half-closes back."""
    lsock = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = lsock.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        lsock.close()

    threading.Thread(target=serve, daemon=True).start()
    return lsock.getsockname()[1]


def test_port_forwarder_copies_both_ways_and_passes_the_half_close_on(example):
    up = _echo_upstream()
    ex = example("port_forwarder.py", "127.0.0.1:0", f"127.0.0.1:{up}")
    payload = os.urandom(1 << 20)
    c = socket.create_connection(("127.0.0.1", ex.ports[0]))
    c.settimeout(20)
    got = bytearray()

    def read_all():
        while data := c.recv(65536):
            got.extend(data)

    t = threading.Thread(target=read_all)
    t.start()
    c.sendall(payload)
    c.shutdown(socket.SHUT_WR)  # the upstream sees EOF, echoes the rest, half-closes back
    t.join(20)
    c.close()
    assert bytes(got) == payload
    rc, _, err = ex.stop()
    assert rc == 0, err


@pytest.mark.parametrize("flavour", [[], ["--aiohttp"]], ids=["plain", "aiohttp"])
def test_comet_clock_pushes_a_tick_every_second(example, flavour):
    if flavour:
        pytest.importorskip("aiohttp")
    ex = example("comet_clock.py", "127.0.0.1:0", *flavour)
    with socket.create_connection(("127.0.0.1", ex.ports[0])) as s:
        s.sendall(b"GET /clock HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        f = s.makefile("rb")
        head = []
        while (line := f.readline()) not in (b"\r\n", b""):
            head.append(line)
        assert head[0].startswith(b"HTTP/1.1 200")
        assert any(h.lower().startswith(b"content-type: text/event-stream") for h in head)
        ticks = []
        while len(ticks) < 4:
            line = f.readline()
            if line.startswith(b"data: "):
                ticks.append((line[6:].strip().decode(), time.monotonic()))
    names = [t for t, _ in ticks]
    assert len(set(names)) == 4 and all(re.fullmatch(r"\d\d:\d\d:\d\d", n) for n in names)
    gaps = [b - a for (_, a), (_, b) in zip(ticks[1:], ticks[2:])]
    assert all(0.7 < g < 1.3 for g in gaps), gaps
    with socket.create_connection(("127.0.0.1", ex.ports[0])) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.settimeout(10)
        page = b"".join(iter(lambda: s.recv(65536), b""))
    assert b"EventSource" in page
    rc, _, err = ex.stop()
    assert rc == 0, err


def _rust(name):
    path = os.path.join(RUST_EXAMPLES, name)
    if not os.path.exists(path):
        subprocess.run(["cargo", "build", "--quiet", "--example", name], cwd=ROOT, check=True)
    return path


def _run_client(cmd, port, ca, stdin):
    return subprocess.run(cmd + [f"127.0.0.1:{port}", str(ca)], input=stdin,
                          capture_output=True, timeout=60)


@pytest.mark.parametrize("server,client", [("py", "py"), ("py", "rust"), ("rust", "py")])
def test_tls_echo_pair_interoperates_with_the_rust_samples(example, pki, server, client):
    lines = b"".join(b"line %d %s\n" % (i, os.urandom(8).hex().encode()) for i in range(200))
    if server == "py":
        ex = example("tls_echo_server.py", "127.0.0.1:0", str(pki / "server.pem"),
                     str(pki / "server.key"))
        port = ex.ports[0]
    else:
        proc = subprocess.Popen([_rust("tls_echo_server"), "127.0.0.1:0",
                                 str(pki / "server.pem"), str(pki / "server.key")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        port = int(ADDR.search(proc.stdout.readline()).group(2))
    try:
        cmd = ([sys.executable, os.path.join(EXAMPLES, "tls_echo_client.py")]
               if client == "py" else [_rust("tls_echo_client")])
        r = _run_client(cmd, port, pki / "ca.pem", lines)
        bad = _run_client(cmd + ["--servername", "wrong.example"], port, pki / "ca.pem",
                          b"x\n") if client == "py" else None
    finally:
        if server == "py":
            rc, _, err = ex.stop()
            assert rc == 0, err
        else:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout == lines
    assert re.search(rb"negotiated TLSv1\.[23] \S+ ALPN http/1\.1", r.stderr), r.stderr
    if bad is not None:
        assert bad.returncode == 1
        assert b"certificate verify failed" in bad.stderr, bad.stderr


def test_twisted_wsgi_websocket_and_static_on_one_port(example):
    pytest.importorskip("twisted")
    pytest.importorskip("flask")
    pytest.importorskip("autobahn")
    ws_client = pytest.importorskip("websockets.sync.client")
    import json
    import urllib.request
    ex = example("twisted_wsgi_ws.py", "127.0.0.1:0")
    assert b"(loop rsuv.Loop)" in ex.line
    base = f"http://127.0.0.1:{ex.ports[0]}"
    with urllib.request.urlopen(base + "/", timeout=10) as r:
        assert b"Flask on Twisted on rsuv" in r.read()
    with urllib.request.urlopen(base + "/hello/ann", timeout=10) as r:
        assert json.loads(r.read()) == {"hello": "ann", "loop": "rsuv.Loop"}
    with urllib.request.urlopen(base + "/static/style.css", timeout=10) as r:
        assert r.read() == open(os.path.join(EXAMPLES, "static", "style.css"), "rb").read()
    with ws_client.connect(f"ws://127.0.0.1:{ex.ports[0]}/ws", open_timeout=10) as a, \
            ws_client.connect(f"ws://127.0.0.1:{ex.ports[0]}/ws", open_timeout=10) as b:
        a.send("ping")
        assert a.recv(timeout=10) == "ping (2 connected)"
        b.send(b"\x00\x01")
        assert b.recv(timeout=10) == b"\x00\x01"
    rc, out, err = ex.stop()
    assert rc == 0, err
    assert b"twisted_wsgi_ws stopped" in out


def test_socketio_chat_with_python_clients(example):
    socketio = pytest.importorskip("socketio")
    import asyncio

    import rsuv
    ex = example("socketio_chat.py", "127.0.0.1:0")
    url = f"http://127.0.0.1:{ex.ports[0]}"

    async def main():
        inbox = {"ann": asyncio.Queue(), "bob": asyncio.Queue()}
        clients = {}
        for name in ("ann", "bob"):
            c = socketio.AsyncClient()
            c.on("message", lambda text, q=inbox[name]: q.put_nowait(text))
            await c.connect(url, auth={"name": name}, transports=["websocket"],
                            wait_timeout=10)
            clients[name] = c
        joined = await asyncio.wait_for(inbox["ann"].get(), 10)
        await clients["bob"].emit("say", "hello ann")
        said = await asyncio.wait_for(inbox["ann"].get(), 10)
        await clients["bob"].disconnect()
        left = await asyncio.wait_for(inbox["ann"].get(), 10)
        await clients["ann"].disconnect()
        return joined, said, left

    assert rsuv.run(asyncio.wait_for(main(), 30)) == ("* bob joined", "bob: hello ann",
                                                      "* bob left")
    rc, _, err = ex.stop()
    assert rc == 0, err


def _get_json(url):
    import json
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _wait_for(fn, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_gunicorn_with_two_rsuv_uvicorn_workers_on_one_port():
    pytest.importorskip("gunicorn")
    pytest.importorskip("uvicorn_worker")
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-k", "gunicorn_rsuv.RsuvUvicornWorker",
         "--bind", f"fd://{sock.fileno()}", "--graceful-timeout", "5", "asgi_app:app"],
        pass_fds=[sock.fileno()], cwd=EXAMPLES, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    sock.close()
    try:
        import json
        _wait_for(lambda: _get_json(f"http://127.0.0.1:{port}/"))
        seen = {}
        for _ in range(20):  # rounds of 40 connections open at once, until both answered
            conns = [socket.create_connection(("127.0.0.1", port), timeout=10)
                     for _ in range(40)]
            for c in conns:
                c.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            for c in conns:
                with c:
                    reply = b"".join(iter(lambda: c.recv(4096), b""))
                info = json.loads(reply.split(b"\r\n\r\n", 1)[1])
                seen[info["pid"]] = info["loop"]
            if len(seen) == 2:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert len(seen) == 2, out.decode(errors="replace")
    assert set(seen.values()) == {"rsuv.Loop"}
    assert proc.returncode == 0, out.decode(errors="replace")


def test_reuse_port_server_spreads_connections_over_its_processes(example):
    ex = example("reuse_port_server.py", "127.0.0.1:0", "--processes", "2")
    assert b"(2 processes)" in ex.line
    pids = set()
    for _ in range(400):
        with socket.create_connection(("127.0.0.1", ex.ports[0]), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            reply = b"".join(iter(lambda: s.recv(4096), b""))
        pids.add(reply.rsplit(b"pid ", 1)[1].strip())
        if len(pids) == 2:
            break
    assert len(pids) == 2
    rc, _, err = ex.stop()
    assert rc == 0, err
