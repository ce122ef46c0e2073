#!/usr/bin/env python3
"""A TCP echo server on pyuv's callback API (pyuv-compat), for pyuv_echo_bench.py.

    pyuv_echo_server.py [--port P]

Prints `ready` on stdout once it listens on 127.0.0.1:P (default 9124), then echoes every
byte back on every connection until SIGTERM. What a pyuv 1.4 program would write: a
`pyuv.TCP` listening with backlog 128; per accepted connection `nodelay(True)` (asyncio's
transports set TCP_NODELAY too), `start_read`, and `write(data)` of every read; at EOF a
`shutdown` then `close` (as py_echo_server.py's Protocol answers the client's half-close with
`write_eof()`). SIGTERM through a `pyuv.Signal` closes every handle, so `Loop.run()` returns.
"""
import argparse
import signal
import sys

import pyuv


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=9124)
    a = p.parse_args()
    loop = pyuv.Loop.default_loop()
    clients = set()

    def on_read(conn, data, error):
        if data is not None:
            conn.write(data)
            return
        # EOF (or an error): half-close our side, then close.
        clients.discard(conn)
        if error == pyuv.errno.UV_EOF:
            conn.shutdown(lambda h, _err: h.close())
        else:
            conn.close()

    def on_connection(server, error):
        if error is not None:
            return
        conn = pyuv.TCP(loop)
        server.accept(conn)
        conn.nodelay(True)
        clients.add(conn)
        conn.start_read(on_read)

    server = pyuv.TCP(loop)
    server.bind(("127.0.0.1", a.port))
    server.listen(on_connection, 128)

    def on_sigterm(handle, _signum):
        for c in list(clients):
            c.close()
        clients.clear()
        server.close()
        handle.close()

    sig = pyuv.Signal(loop)
    sig.start(on_sigterm, signal.SIGTERM)
    print("ready", flush=True)
    loop.run()


if __name__ == "__main__":
    sys.exit(main())
