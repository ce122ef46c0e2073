#!/usr/bin/env python3
"""An echo server on one Python event loop, in one of three styles, for py_echo_bench.py.

    py_echo_server.py --loop {asyncio,uvloop,rloop,rsuv} --style {protocol,streams,sock} --port P

Prints `ready` on stdout once it listens on 127.0.0.1:P, then echoes every byte back on
every connection until SIGTERM. Each style is what an application would write:
  protocol  an asyncio.Protocol whose data_received writes the data back;
  streams   asyncio.start_server, `data = await reader.read(65536)`, `writer.write(data)`,
            `await writer.drain()`;
  sock      a listening socket, loop.sock_accept, loop.sock_recv / loop.sock_sendall.
"""
import argparse
import asyncio
import signal
import socket
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def eof_received(self):
        # The client's half-close is answered with ours before the close: rloop 0.5's close
        # after EOF never sends a FIN (its servers hang the client otherwise). Every loop runs
        # this, after the timed window.
        self.transport.write_eof()


async def protocol_server(loop, port):
    return await loop.create_server(Echo, "127.0.0.1", port, backlog=128)


async def streams_server(loop, port):
    async def handle(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    writer.write_eof()  # as Echo.eof_received: rloop's close sends no FIN
                    break
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port, backlog=128)


async def sock_server(loop, port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    srv.setblocking(False)

    async def serve(conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                data = await loop.sock_recv(conn, 65536)
                if not data:
                    break
                await loop.sock_sendall(conn, data)
        finally:
            conn.close()

    async def accept():
        while True:
            conn, _ = await loop.sock_accept(srv)
            loop.create_task(serve(conn))

    task = loop.create_task(accept())
    return task


STYLES = {"protocol": protocol_server, "streams": streams_server, "sock": sock_server}


def new_loop(name):
    if name == "asyncio":
        return asyncio.new_event_loop()
    mod = __import__(name)
    return mod.new_event_loop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--loop", required=True)
    p.add_argument("--style", required=True, choices=list(STYLES))
    p.add_argument("--port", type=int, default=9123)
    a = p.parse_args()
    loop = new_loop(a.loop)
    asyncio.set_event_loop(loop)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    server = loop.run_until_complete(STYLES[a.style](loop, a.port))
    print("ready", flush=True)
    loop.run_until_complete(stop)
    if isinstance(server, asyncio.Task):
        server.cancel()
    else:
        server.close()
    loop.close()


if __name__ == "__main__":
    sys.exit(main())
