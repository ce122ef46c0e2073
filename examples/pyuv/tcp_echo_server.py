#!/usr/bin/env python3
"""A TCP echo server on the pyuv API (pyuv-compat on rsuv): every byte a client sends comes
back to it, on any number of connections at once, all on one thread.

    python examples/pyuv/tcp_echo_server.py ADDR

The same command line and behaviour as the Rust sample (`cargo run --example
tcp_echo_server`): it prints `listening on HOST:PORT` with the address actually bound (port 0
picks a free one); at a client's EOF it finishes writing, half-closes back and closes; a
client that does not read its echo is not read from while 1 MiB waits for it
(`write_queue_size`, `stop_read`); SIGINT/SIGTERM close the server and every connection, and
the program exits 0 once the loop has nothing left. Errors go to stderr.
"""
import sys

import pyuv
from _common import announce, errname, fail, parse_addr, stop_on_signals, usage

NAME = "tcp_echo_server"
#: Once this many echoed bytes wait to be written to a client, stop reading from it.
HIGH_WATER = 1 << 20


class EchoServer:
    def __init__(self, lp, addr):
        self.lp = lp
        self.conns = set()
        self.server = pyuv.TCP(lp)
        self.server.bind(addr)
        self.server.listen(self.on_connection, 128)

    def on_connection(self, server, error):
        if error is not None:
            return print(f"accept: {errname(error)}", file=sys.stderr)
        conn = pyuv.TCP(self.lp)
        server.accept(conn)
        self.conns.add(conn)
        conn.start_read(self.on_read)

    def on_read(self, conn, data, error):
        if data is not None:
            if conn.write_queue_size < HIGH_WATER:
                conn.write(data, self.on_written)
            else:
                # The client is not reading its echo: stop reading until this write, the last
                # one queued, is done (writes complete in order).
                conn.stop_read()
                conn.write(data, self.resume_reading)
        elif error == pyuv.errno.UV_EOF:
            # The client has finished sending: finish writing, send our FIN, then close.
            conn.shutdown(lambda c, _err: self.close(c))
        else:
            print(f"read: {errname(error)}", file=sys.stderr)
            self.close(conn)

    def on_written(self, conn, error):
        if error is not None:
            if error != pyuv.errno.UV_ECANCELED:  # closed meanwhile
                print(f"write: {errname(error)}", file=sys.stderr)
            self.close(conn)

    def resume_reading(self, conn, error):
        self.on_written(conn, error)
        if error is None and not conn.closed:
            conn.start_read(self.on_read)

    def close(self, conn):
        self.conns.discard(conn)
        if not conn.closed:
            conn.close()

    def stop(self, _signame):
        self.server.close()
        for conn in list(self.conns):
            self.close(conn)


def main(argv):
    if len(argv) != 1 or (addr := parse_addr(argv[0])) is None:
        usage(NAME, "ADDR   (for example 127.0.0.1:9000)")
    lp = pyuv.Loop()
    try:
        echo = EchoServer(lp, addr)
    except pyuv.error.UVError as e:
        fail(NAME, e.args[1] if len(e.args) > 1 else e)
    stop_on_signals(lp, echo.stop)
    announce(echo.server)
    lp.run()  # returns once the signal has closed every handle


if __name__ == "__main__":
    main(sys.argv[1:])
