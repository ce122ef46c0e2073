#!/usr/bin/env python3
"""A chat room on rsuv: over TCP (asyncio streams, one line per message) and in a browser
page over WebSocket (aiohttp), both in the same room.

    python examples/python/chat_server.py TCP_ADDR HTTP_ADDR

Every line a participant sends goes to every other participant as `NAME: line`; joins and
leaves are announced as `* NAME joined` / `* NAME left`. A TCP participant is named after its
address, a browser one after the name it gives in the page (`/`, the WebSocket at `/ws`).
Prints `chat_server listening on TCP HOST:PORT, HTTP HOST:PORT` (port 0 picks one);
SIGINT/SIGTERM stop it, saying goodbye to everyone (exit status 0).
"""
import asyncio
import sys

from aiohttp import web

import rsuv
from _common import host_port, parse_addr, stop_event

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>rsuv chat</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}
#log{border:1px solid #ccc;height:20em;overflow-y:auto;padding:.5em;white-space:pre-wrap}
</style></head><body>
<h1>rsuv chat</h1>
<p><label>Name <input id="name" value="guest"></label> <button id="join">Join</button></p>
<div id="log"></div>
<form id="form"><input id="line" size="50" autocomplete="off" disabled>
<button id="send" disabled>Send</button></form>
<script>
let ws;
const log = document.getElementById("log");
function show(text) {
  const div = document.createElement("div");
  div.className = "msg"; div.textContent = text;
  log.appendChild(div); log.scrollTop = log.scrollHeight;
}
document.getElementById("join").onclick = () => {
  const name = document.getElementById("name").value;
  ws = new WebSocket(`ws://${location.host}/ws?name=${encodeURIComponent(name)}`);
  ws.onopen = () => { document.getElementById("line").disabled = false;
                      document.getElementById("send").disabled = false;
                      document.body.dataset.joined = "yes"; };
  ws.onmessage = (e) => show(e.data);
  ws.onclose = () => show("* disconnected");
};
document.getElementById("form").onsubmit = (e) => {
  e.preventDefault();
  const line = document.getElementById("line");
  if (line.value) { ws.send(line.value); show("me: " + line.value); line.value = ""; }
};
</script></body></html>
"""


class Room:
    def __init__(self):
        self.members = {}  # participant -> send(text)

    def join(self, who, send):
        self.broadcast(f"* {who} joined", None)
        self.members[who] = send

    def leave(self, who):
        if self.members.pop(who, None) is not None:
            self.broadcast(f"* {who} left", None)

    def broadcast(self, text, sender):
        for who, send in list(self.members.items()):
            if who != sender:
                send(text)


async def tcp_participant(room, reader, writer):
    peer = writer.get_extra_info("peername")
    who = f"{peer[0]}:{peer[1]}"
    room.join(who, lambda text: writer.write(text.encode() + b"\n"))
    try:
        while line := await reader.readline():
            room.broadcast(f"{who}: {line.decode(errors='replace').rstrip()}", who)
    except ConnectionError:
        pass
    finally:
        room.leave(who)
        writer.close()


async def page(request):
    return web.Response(text=PAGE, content_type="text/html")


async def ws_participant(request):
    room = request.app["room"]
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    who = request.query.get("name", "guest") + "@web"
    room.join(who, lambda text: asyncio.ensure_future(ws.send_str(text)))
    try:
        async for msg in ws:
            if msg.type == web.WSMsgType.TEXT:
                room.broadcast(f"{who}: {msg.data}", who)
    finally:
        room.leave(who)
    return ws


async def main(tcp_addr, http_addr):
    room = Room()
    host, port = parse_addr(tcp_addr)
    tcp = await asyncio.start_server(lambda r, w: tcp_participant(room, r, w), host, port)
    app = web.Application()
    app["room"] = room
    app.router.add_get("/", page)
    app.router.add_get("/ws", ws_participant)
    runner = web.AppRunner(app)
    await runner.setup()
    h, p = parse_addr(http_addr)
    site = web.TCPSite(runner, h, p)
    await site.start()
    http_host, http_port = runner.addresses[0][:2]
    print(f"chat_server listening on TCP {host_port(tcp.sockets[0])}, "
          f"HTTP {http_host}:{http_port}", flush=True)
    await stop_event().wait()
    room.broadcast("* the server is stopping", None)
    await asyncio.sleep(0.05)
    tcp.close()
    await runner.cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: chat_server.py TCP_ADDR HTTP_ADDR")
    rsuv.run(main(*sys.argv[1:]))
