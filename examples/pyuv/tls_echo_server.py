#!/usr/bin/env python3
"""A TLS echo server on the pyuv API with `pyuv.TLS` (rsuv's addition to pyuv): every byte a
client sends over TLS comes back to it, on any number of connections at once, all on one
thread.

    python examples/pyuv/tls_echo_server.py ADDR CERT KEY

The same command line and behaviour as the Rust sample (`cargo run --example
tls_echo_server`) and the asyncio one (`examples/python/tls_echo_server.py`):
- it prints `listening on HOST:PORT` with the address actually bound (port 0 picks one);
- ALPN: it offers `http/1.1`;
- a client's close_notify (`on_read(handle, None, UV_EOF)`) is answered with ours
  (`shutdown`), then the connection is closed;
- a client that does not read its echo is not read from while 1 MiB waits for it;
- failures of one connection (a refused handshake, a peer that is not speaking TLS, a
  connection cut without close_notify) go to stderr and close that connection only;
- SIGINT/SIGTERM close the server and every connection still open; exit status 0.
Try it with `tls_echo_client.py`, or `openssl s_client -connect 127.0.0.1:9443 -CAfile ca.pem`.
"""
import sys

import pyuv
from _common import announce, errname, fail, format_addr, parse_addr, stop_on_signals, usage

NAME = "tls_echo_server"
USAGE = "ADDR CERT_PEM KEY_PEM   (for example 127.0.0.1:9443 server.pem server.key)"
#: Once this many echoed bytes wait to be written to a client, stop reading from it.
HIGH_WATER = 1 << 20


class TlsEchoServer:
    def __init__(self, lp, addr, cert, key):
        self.lp = lp
        self.conns = set()
        # One listener; the certificate, key and ALPN list are loaded once, here, and every
        # accepted connection does its handshake with them.
        self.server = pyuv.TLS(lp, server_side=True, certfile=cert, keyfile=key,
                               alpn=["http/1.1"])
        self.server.bind(addr)
        self.server.listen(self.on_connection, 128)

    def on_connection(self, server, error):
        if error is not None:
            return print(f"accept: {errname(error)}", file=sys.stderr)
        conn = pyuv.TLS(self.lp)
        try:
            server.accept(conn)  # the server handshake starts now, on the loop
        except pyuv.error.UVError as e:
            return print(f"accept: {e}", file=sys.stderr)
        self.conns.add(conn)
        # Reading starts at once: plaintext arrives after the handshake, and a failed
        # handshake is reported here too.
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
            # The client's close_notify: send ours after the last echo, then close.
            conn.shutdown(lambda c, _err: self.close(c))
        else:
            what = "connection closed without close_notify" if conn.truncated else (
                conn.tls_error or errname(error))
            if conn.version is None:  # no handshake done
                what = f"handshake: {what}"
            print(f"{self.peer(conn)}: {what}", file=sys.stderr, flush=True)
            self.close(conn)

    def on_written(self, conn, error):
        if error is not None:
            if error not in (pyuv.errno.UV_ECANCELED, pyuv.errno.UV_EOF):  # closed meanwhile
                print(f"{self.peer(conn)}: write: {conn.tls_error or errname(error)}",
                      file=sys.stderr, flush=True)
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

    @staticmethod
    def peer(conn):
        try:
            return format_addr(conn.getpeername())
        except pyuv.error.UVError:
            return "client"


def main(argv):
    if len(argv) != 3 or (addr := parse_addr(argv[0])) is None:
        usage(NAME, USAGE)
    lp = pyuv.Loop()
    try:
        echo = TlsEchoServer(lp, addr, argv[1], argv[2])
    except pyuv.error.UVError as e:
        fail(NAME, e.args[1] if len(e.args) > 1 else e)
    stop_on_signals(lp, echo.stop)
    announce(echo.server)
    lp.run()  # returns once the signal has closed every handle


if __name__ == "__main__":
    main(sys.argv[1:])
