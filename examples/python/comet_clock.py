#!/usr/bin/env python3
"""A "comet" clock on rsuv: a page whose clock the server pushes once a second over a
streamed HTTP response (Server-Sent Events), with no framework or with aiohttp.

    python examples/python/comet_clock.py ADDR [--aiohttp]

`/` is the page (it shows each tick as it arrives, and keeps a list of them); `/clock` is the
stream: `data: HH:MM:SS` events, one at the start of every second, on one long response. By
default the server is a plain `asyncio.Protocol` speaking just enough HTTP/1.1 (no framework);
`--aiohttp` serves the same page and stream with aiohttp. Prints
`comet_clock listening on HOST:PORT (plain|aiohttp)`; SIGINT/SIGTERM stop it (exit 0).
"""
import asyncio
import sys
import time

import rsuv
from _common import host_port, parse_addr, stop_event

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>rsuv comet clock</title>
<style>body{font-family:sans-serif;text-align:center;margin-top:3em}
#clock{font-size:4em;font-variant-numeric:tabular-nums}</style></head>
<body><h1>Pushed by the server, once a second</h1><div id="clock">--:--:--</div>
<ol id="ticks"></ol>
<script>
const src = new EventSource("/clock");
src.onmessage = (e) => {
  document.getElementById("clock").textContent = e.data;
  const li = document.createElement("li");
  li.textContent = e.data + " (received at " + (performance.now() / 1000).toFixed(2) + " s)";
  document.getElementById("ticks").appendChild(li);
};
</script></body></html>
"""


class Ticks:
    """The clock's ticks: the current second first, then each following second by name (so
    a timer firing a hair before the second begins still names the right one)."""

    def __init__(self):
        self.second = int(time.time())

    def text(self):
        return time.strftime("%H:%M:%S", time.localtime(self.second))

    def advance(self):
        """Moves to the next second; how long until it begins."""
        self.second += 1
        return max(0.0, self.second - time.time())


class Http(asyncio.Protocol):
    """Just enough HTTP/1.1: one GET per connection, `/` or `/clock`."""

    open = set()

    def connection_made(self, transport):
        Http.open.add(self)
        self.transport = transport
        self.buf = b""
        self.timer = None
        self.ticks = Ticks()

    def data_received(self, data):
        self.buf += data
        if b"\r\n\r\n" not in self.buf or self.timer is not None:
            return
        parts = self.buf.split(b"\r\n", 1)[0].split()
        path = parts[1] if len(parts) >= 2 else b"/"
        if path == b"/":
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(PAGE)
                                 + PAGE)
            self.transport.close()
        elif path == b"/clock":
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                 b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n")
            self.tick()
        else:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
            self.transport.close()

    def tick(self):
        self.transport.write(f"data: {self.ticks.text()}\n\n".encode())
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.ticks.advance(), self.tick)

    def connection_lost(self, exc):
        Http.open.discard(self)
        if self.timer is not None:
            self.timer.cancel()


async def serve_plain(host, port):
    server = await asyncio.get_running_loop().create_server(Http, host, port)

    async def stop():
        server.close()
        for conn in list(Http.open):
            conn.transport.close()
        await server.wait_closed()

    return host_port(server.sockets[0]), stop


async def serve_aiohttp(host, port):
    from aiohttp import web

    async def page(request):
        return web.Response(body=PAGE, content_type="text/html")

    async def clock(request):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)
        ticks = Ticks()
        while True:
            await resp.write(f"data: {ticks.text()}\n\n".encode())
            await asyncio.sleep(ticks.advance())

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/clock", clock)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    h, p = runner.addresses[0][:2]
    return f"{h}:{p}", runner.cleanup


async def main(addr, use_aiohttp):
    host, port = parse_addr(addr)
    where, stop = await (serve_aiohttp if use_aiohttp else serve_plain)(host, port)
    kind = "aiohttp" if use_aiohttp else "plain"
    print(f"comet_clock listening on {where} ({kind})", flush=True)
    await stop_event().wait()
    await stop()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--aiohttp"]
    if len(args) != 1:
        sys.exit("usage: comet_clock.py ADDR [--aiohttp]")
    rsuv.run(main(args[0], "--aiohttp" in sys.argv))
