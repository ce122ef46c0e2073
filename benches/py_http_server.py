#!/usr/bin/env python3
"""The servers of benches/py_http_bench.py, one per process:

    py_http_server.py --loop asyncio|uvloop|rsuv --app raw|aiohttp|ws --port N

raw      a minimal HTTP/1.1 `asyncio.Protocol` (keep-alive, "Hello, World!"), no framework;
aiohttp  aiohttp's web "hello" handler;
ws       a `websockets` echo server.
Prints `ready` once it listens; SIGTERM stops it.
"""
import argparse
import asyncio
import signal

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
            b"Connection: keep-alive\r\n\r\nHello, World!")


class Raw(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        buf = self.buf + data
        n = buf.count(b"\r\n\r\n")
        if n:
            self.transport.write(RESPONSE * n)
            buf = buf[buf.rfind(b"\r\n\r\n") + 4:]
        self.buf = buf


async def serve(app, port):
    loop = asyncio.get_running_loop()
    if app == "raw":
        server = await loop.create_server(Raw, "127.0.0.1", port, backlog=1024)
        stop = server.close
    elif app == "aiohttp":
        from aiohttp import web

        async def hello(request):
            return web.Response(text="Hello, World!")

        wapp = web.Application()
        wapp.router.add_get("/", hello)
        runner = web.AppRunner(wapp, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        stop = runner.cleanup
    else:
        from websockets.asyncio.server import serve as ws_serve

        async def echo(ws):
            async for message in ws:
                await ws.send(message)

        server = await ws_serve(echo, "127.0.0.1", port, compression=None)
        stop = server.close
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    print("ready", flush=True)
    await done.wait()
    r = stop()
    if asyncio.iscoroutine(r):
        await r


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--loop", required=True)
    p.add_argument("--app", required=True)
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    if a.loop == "asyncio":
        factory = asyncio.new_event_loop
    elif a.loop == "uvloop":
        import uvloop
        factory = uvloop.new_event_loop
    else:
        import rsuv
        factory = rsuv.new_event_loop
    with asyncio.Runner(loop_factory=factory) as r:
        r.run(serve(a.app, a.port))


if __name__ == "__main__":
    main()
