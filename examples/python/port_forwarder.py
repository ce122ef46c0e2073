#!/usr/bin/env python3
"""A TCP port forwarder on rsuv (asyncio streams).

    python examples/python/port_forwarder.py LISTEN_ADDR UPSTREAM_ADDR

Each connection accepted on LISTEN_ADDR gets its own connection to UPSTREAM_ADDR, and bytes
are copied both ways with backpressure (`drain()`: a side that does not read stops the other
side being read). An end of stream on one side is passed on as a half-close (`write_eof`) to
the other; once both directions have ended, both connections are closed. Prints
`port_forwarder listening on HOST:PORT -> UPSTREAM` (port 0 picks one); SIGINT/SIGTERM stop
it (exit status 0).
"""
import asyncio
import sys

import rsuv
from _common import host_port, parse_addr, stop_event


async def pipe(reader, writer):
    """Copies until the end of `reader`, then half-closes `writer`."""
    try:
        while data := await reader.read(256 * 1024):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except ConnectionError:
        writer.close()


async def forward(upstream, client_reader, client_writer):
    try:
        up_reader, up_writer = await asyncio.open_connection(*upstream)
    except OSError as e:
        print(f"upstream {upstream}: {e}", file=sys.stderr, flush=True)
        client_writer.close()
        return
    try:
        await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))
    finally:
        for w in (client_writer, up_writer):
            w.close()


async def main(listen, upstream):
    host, port = parse_addr(listen)
    up = parse_addr(upstream)
    server = await asyncio.start_server(lambda r, w: forward(up, r, w), host, port)
    print(f"port_forwarder listening on {host_port(server.sockets[0])} -> {upstream}",
          flush=True)
    await stop_event().wait()
    server.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: port_forwarder.py LISTEN_ADDR UPSTREAM_ADDR")
    rsuv.run(main(*sys.argv[1:]))
