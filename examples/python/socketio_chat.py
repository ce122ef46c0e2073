#!/usr/bin/env python3
"""A Socket.IO chat room on rsuv: python-socketio's `AsyncServer` on aiohttp, for the
JavaScript socket.io client in a browser page and for python-socketio's own client.

    python examples/python/socketio_chat.py ADDR

`/` is the page (name, join, a log of the room, a line to send); `/socket.io.min.js` is the
socket.io client, from the npm package that `make setup` installs under target/npm (or the
file named by `RSUV_SOCKETIO_JS`). Events: a client connects with `auth={"name": ...}`,
sends `say` with a line; everyone else gets `message` with `NAME: line`, and
`* NAME joined` / `* NAME left`. Prints `socketio_chat listening on HOST:PORT`;
SIGINT/SIGTERM stop it (exit status 0).
"""
import asyncio
import os
import sys

import socketio
from aiohttp import web

import rsuv
from _common import parse_addr, stop_event

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JS = os.environ.get("RSUV_SOCKETIO_JS", os.path.join(
    ROOT, "target", "npm", "node_modules", "socket.io-client", "dist", "socket.io.min.js"))

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>rsuv Socket.IO chat</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}
#log{border:1px solid #ccc;height:20em;overflow-y:auto;padding:.5em}</style>
<script src="/socket.io.min.js"></script></head><body>
<h1>Socket.IO chat on rsuv</h1>
<p><label>Name <input id="name" value="guest"></label> <button id="join">Join</button></p>
<div id="log"></div>
<form id="form"><input id="line" size="50" autocomplete="off" disabled>
<button id="send" disabled>Send</button></form>
<script>
let sock;
const log = document.getElementById("log");
function show(text) {
  const div = document.createElement("div");
  div.className = "msg"; div.textContent = text; log.appendChild(div);
}
document.getElementById("join").onclick = () => {
  sock = io({auth: {name: document.getElementById("name").value}});
  sock.on("connect", () => { document.getElementById("line").disabled = false;
                             document.getElementById("send").disabled = false;
                             document.body.dataset.joined = "yes"; });
  sock.on("message", (text) => show(text));
};
document.getElementById("form").onsubmit = (e) => {
  e.preventDefault();
  const line = document.getElementById("line");
  if (line.value) { sock.emit("say", line.value); show("me: " + line.value); line.value = ""; }
};
</script></body></html>
"""


def make_app():
    sio = socketio.AsyncServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)
    names = {}

    @sio.event
    async def connect(sid, environ, auth):
        name = (auth or {}).get("name") or "guest"
        names[sid] = name
        await sio.emit("message", f"* {name} joined", skip_sid=sid)

    @sio.event
    async def say(sid, line):
        await sio.emit("message", f"{names.get(sid, '?')}: {line}", skip_sid=sid)

    @sio.event
    async def disconnect(sid, *reason):
        name = names.pop(sid, None)
        if name is not None:
            await sio.emit("message", f"* {name} left")

    async def page(request):
        return web.Response(text=PAGE, content_type="text/html")

    async def client_js(request):
        if not os.path.exists(JS):
            return web.Response(status=404, text=f"{JS} is missing: run make setup")
        return web.FileResponse(JS)

    app.router.add_get("/", page)
    app.router.add_get("/socket.io.min.js", client_js)
    return app


async def main(addr):
    host, port = parse_addr(addr)
    runner = web.AppRunner(make_app(), shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    h, p = runner.addresses[0][:2]
    print(f"socketio_chat listening on {h}:{p}", flush=True)
    await stop_event().wait()
    await runner.cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: socketio_chat.py ADDR")
    rsuv.run(main(sys.argv[1]))
