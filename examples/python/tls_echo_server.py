#!/usr/bin/env python3
"""A TLS echo server on asyncio with a standard `ssl.SSLContext`, on rsuv.

    python examples/python/tls_echo_server.py ADDR CERT KEY

The same command line as the Rust sample (`cargo run --example tls_echo_server`): every
byte a client sends comes back; ALPN offers `http/1.1`; a client's close_notify is answered
with ours. Prints `listening on HOST:PORT` (port 0 picks one); SIGINT/SIGTERM stop it,
closing the connections it still has (exit status 0). Failures of one connection (a refused
handshake, a peer that is not speaking TLS) go to stderr and close that connection only.
"""
import asyncio
import ssl
import sys

import rsuv
from _common import host_port, parse_addr, stop_event


class Echo(asyncio.Protocol):
    def __init__(self, conns):
        self.conns = conns

    def connection_made(self, transport):
        self.transport = transport
        self.conns.add(transport)

    def data_received(self, data):
        self.transport.write(data)

    def connection_lost(self, exc):
        self.conns.discard(self.transport)
        if exc is not None:
            peer = self.transport.get_extra_info("peername")
            print(f"{peer}: {exc}", file=sys.stderr, flush=True)


async def main(addr, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    conns = set()
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(
        lambda lp, c: print(f"{c.get('message')}: {c.get('exception')}", file=sys.stderr))
    host, port = parse_addr(addr)
    server = await loop.create_server(lambda: Echo(conns), host, port, ssl=ctx)
    print(f"listening on {host_port(server.sockets[0])}", flush=True)
    await stop_event().wait()
    server.close()
    for t in list(conns):
        t.close()
    await asyncio.sleep(0.1)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: tls_echo_server.py ADDR CERT KEY")
    rsuv.run(main(*sys.argv[1:]))
