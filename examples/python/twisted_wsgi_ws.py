#!/usr/bin/env python3
"""WSGI app, WebSockets and static files from one Twisted process, on one port, on rsuv.

    python examples/python/twisted_wsgi_ws.py [ADDR] [STATIC_DIR]

ADDR defaults to 127.0.0.1:8080 (port 0 picks a free one). Twisted's asyncio reactor runs
on an rsuv loop: `/` and `/hello/NAME` are a Flask (WSGI) app, `/ws` is an Autobahn
WebSocket that echoes each message to its sender and says how many clients are connected,
`/static/` serves STATIC_DIR (default: examples/python/static). Prints
`twisted_wsgi_ws listening on HOST:PORT (loop rsuv.Loop)` once it listens; SIGINT or SIGTERM
stop it cleanly (exit status 0).
"""
import asyncio
import os
import signal
import sys

import rsuv

loop = rsuv.new_event_loop()
asyncio.set_event_loop(loop)

from twisted.internet import asyncioreactor  # noqa: E402

asyncioreactor.install(eventloop=loop)

from autobahn.twisted.resource import WebSocketResource, WSGIRootResource  # noqa: E402
from autobahn.twisted.websocket import (  # noqa: E402
    WebSocketServerFactory, WebSocketServerProtocol)
from flask import Flask  # noqa: E402
from twisted.internet import reactor  # noqa: E402
from twisted.web.server import Site  # noqa: E402
from twisted.web.static import File  # noqa: E402
from twisted.web.wsgi import WSGIResource  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

app = Flask(__name__)


@app.route("/")
def index():
    return ("<!doctype html><title>rsuv + Twisted</title><h1>Flask on Twisted on rsuv</h1>"
            "<p><a href='/static/'>static files</a>, a WebSocket at /ws</p>")


@app.route("/hello/<name>")
def hello(name):
    return {"hello": name, "loop": f"{type(loop).__module__}.{type(loop).__qualname__}"}


class Echo(WebSocketServerProtocol):
    clients = set()

    def onOpen(self):
        Echo.clients.add(self)

    def onMessage(self, payload, is_binary):
        if is_binary:
            self.sendMessage(payload, isBinary=True)
        else:
            text = payload.decode()
            self.sendMessage(f"{text} ({len(Echo.clients)} connected)".encode())

    def onClose(self, was_clean, code, reason):
        Echo.clients.discard(self)


def main():
    addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8080"
    static = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "static")
    host, _, port = addr.rpartition(":")
    ws_factory = WebSocketServerFactory()
    ws_factory.protocol = Echo
    wsgi = WSGIResource(reactor, reactor.getThreadPool(), app)
    root = WSGIRootResource(wsgi, {b"ws": WebSocketResource(ws_factory), b"static": File(static)})
    listening = reactor.listenTCP(int(port), Site(root), interface=host)
    bound = listening.getHost()
    print(f"twisted_wsgi_ws listening on {bound.host}:{bound.port} "
          f"(loop {type(loop).__module__}.{type(loop).__qualname__})", flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: reactor.callFromThread(reactor.stop))
    reactor.run(installSignalHandlers=False)
    loop.close()
    print("twisted_wsgi_ws stopped", flush=True)


if __name__ == "__main__":
    main()
