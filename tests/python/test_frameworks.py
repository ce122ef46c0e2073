"""Real frameworks on the loop, each talked to over loopback: aiohttp (a page, static files
and a WebSocket on one port, plain and over TLS, fetched by aiohttp's own client),
`websockets` (an echo server and 20 clients at once), and uvicorn serving a Starlette app
(HTTP and a WebSocket route) in its own process, rsuv selected both ways uvicorn allows.
The in-process tests run on stdlib asyncio and on rsuv (the `loop` fixture)."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from _helpers import run
from test_tls import client_ctx, pki, server_ctx  # noqa: F401 (fixture)

aiohttp = pytest.importorskip("aiohttp")
from aiohttp import web  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _aiohttp_app(static_dir):
    async def page(request):
        return web.Response(text="<h1>rsuv</h1>", content_type="text/html")

    async def ws_echo(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str("echo: " + msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
        return ws

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/ws", ws_echo)
    app.router.add_static("/static/", static_dir)
    return app


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_aiohttp_page_static_and_websocket_on_one_port(loop, pki, tmp_path, tls):
    blob = os.urandom(300_000)
    (tmp_path / "blob.bin").write_bytes(blob)
    (tmp_path / "style.css").write_text("body { color: teal }")
    scheme = "https" if tls else "http"

    async def main():
        runner = web.AppRunner(_aiohttp_app(tmp_path))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx(pki) if tls else None)
        await site.start()
        port = runner.addresses[0][1]
        base = f"{scheme}://localhost:{port}"
        kw = {"ssl": client_ctx(pki)} if tls else {}
        try:
            async with aiohttp.ClientSession() as s:
                async with s.get(base + "/", **kw) as r:
                    page = (r.status, r.headers["Content-Type"], await r.text())
                async with s.get(base + "/static/blob.bin", **kw) as r:
                    got_blob = await r.read()
                async with s.get(base + "/static/style.css", **kw) as r:
                    css = await r.text()
                async with s.get(base + "/static/missing", **kw) as r:
                    missing = r.status
                async with s.ws_connect(base + "/ws", **kw) as ws:
                    await ws.send_str("hello")
                    text = await ws.receive_str()
                    await ws.send_bytes(b"abc")
                    binary = await ws.receive_bytes()
        finally:
            await runner.cleanup()
        return page, got_blob, css, missing, text, binary

    page, got_blob, css, missing, text, binary = run(loop, main(), timeout=30)
    assert page == (200, "text/html; charset=utf-8", "<h1>rsuv</h1>")
    assert got_blob == blob
    assert css == "body { color: teal }"
    assert missing == 404
    assert (text, binary) == ("echo: hello", b"cba")


def test_websockets_echo_with_twenty_clients_at_once(loop):
    websockets = pytest.importorskip("websockets")
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def client(port, i):
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            got = []
            for j in range(10):
                await ws.send(f"client {i} message {j}")
                got.append(await ws.recv())
            await ws.send(os.urandom(100_000) if i == 0 else b"x")
            big = await ws.recv()
            return got, len(big)

    async def main():
        async with serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            return await asyncio.gather(*(client(port, i) for i in range(20)))

    results = run(loop, main(), timeout=30)
    assert websockets.__version__
    for i, (got, big) in enumerate(results):
        assert got == [f"client {i} message {j}" for j in range(10)]
        assert big == (100_000 if i == 0 else 1)


def _uvicorn(args, sock):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(HERE, "apps"),
                                                       os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, *args, "starlette_app:app", "--fd",
                             str(sock.fileno()), "--log-level", "info", "--no-access-log"],
                            pass_fds=[sock.fileno()], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _get(url, deadline):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.loads(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.rsuv_only
@pytest.mark.parametrize("how", ["--loop", "install"])
def test_uvicorn_serves_starlette_http_and_websocket_on_rsuv(how):
    pytest.importorskip("uvicorn")
    pytest.importorskip("starlette")
    websockets = pytest.importorskip("websockets.sync.client")
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    if how == "--loop":
        args = ["-m", "uvicorn", "--loop", "rsuv:new_event_loop"]
    else:
        args = [os.path.join(HERE, "apps", "rsuv_then_uvicorn.py"), "--loop", "none"]
    proc = _uvicorn(args, sock)
    sock.close()
    try:
        info = _get(f"http://127.0.0.1:{port}/loop", time.monotonic() + 30)
        with websockets.connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10) as ws:
            replies = []
            for word in ("one", "two", "three"):
                ws.send(word)
                replies.append(ws.recv(timeout=10))
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert info == {"loop": "rsuv.Loop"}, out
    assert replies == ["ONE", "TWO", "THREE"]
    # A graceful shutdown on SIGTERM, after which uvicorn re-raises the signal (so the exit
    # status is the signal's, as on stdlib asyncio).
    text = out.decode(errors="replace")
    assert "Application shutdown complete." in text and "Finished server process" in text, text
    assert proc.returncode == -signal.SIGTERM, text
