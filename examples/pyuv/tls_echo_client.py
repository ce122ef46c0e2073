#!/usr/bin/env python3
"""A TLS client on the pyuv API with `pyuv.TLS`, for `tls_echo_server` (pyuv, asyncio or Rust,
or any TLS echo): it sends each line of its standard input and prints what comes back.

    printf 'hello\\n' | python examples/pyuv/tls_echo_client.py ADDR CA [--servername NAME]

The same command line and behaviour as the Rust sample (`cargo run --example
tls_echo_client`) and the asyncio one (`examples/python/tls_echo_client.py`):
- it trusts CA only and checks the server's certificate against NAME (`localhost` by
  default), which is also sent as SNI; it offers ALPN `http/1.1`;
- once connected it prints one line on stderr,
  `negotiated TLSv1.3 TLS_AES_256_GCM_SHA384 ALPN http/1.1`;
- the echoed bytes go to stdout exactly as received;
- standard input is read on a thread of its own, whose lines reach the loop through a
  `pyuv.Async`; at the end of input it sends close_notify (`shutdown`) and exits 0 once the
  server's own close_notify has arrived after every echoed byte;
- errors go to stderr with exit status 1: `tls_echo_client: certificate verify failed:
  hostname mismatch`, `... unable to get local issuer certificate`, `... connection closed
  without close_notify`, ...
"""
import collections
import os
import sys
import threading

import pyuv
from _common import errname, parse_addr, usage

NAME = "tls_echo_client"
USAGE = ("ADDR CA_PEM [--servername NAME]   (for example 127.0.0.1:9443 ca.pem; "
         "NAME defaults to localhost)")


class Client:
    def __init__(self, lp, addr, ca, servername):
        self.lp = lp
        self.outcome = None  # None while it runs, then "" (a clean end) or the first error
        self.lines = collections.deque()  # from the stdin thread; None at the end of input
        self.wake = None  # the pyuv.Async, made once the handshake is done
        self.shut = False  # our close_notify is on its way
        self.tls = pyuv.TLS(lp, cafile=ca, server_hostname=servername, alpn=["http/1.1"])
        self.tls.connect(addr, self.on_connect)

    def on_connect(self, tls, error):
        if error is not None:
            return self.end(tls.tls_error or errname(error))
        print(f"negotiated {tls.version} {tls.cipher} ALPN {tls.alpn_protocol or 'none'}",
              file=sys.stderr, flush=True)
        tls.start_read(self.on_read)
        self.wake = pyuv.Async(self.lp, self.on_lines)
        threading.Thread(target=self.read_stdin, args=(self.wake,), daemon=True).start()

    def read_stdin(self, wake):
        """The stdin thread: a plain blocking read, so stdin may be a terminal, a pipe or a
        file. It is not joined: if the program ends first, it ends with it. It reads the
        file descriptor itself, not `sys.stdin`, whose lock a thread blocked in a read
        would still hold when the interpreter shuts down."""
        pending = b""
        while data := os.read(0, 65536):
            pending += data
            end = pending.rfind(b"\n") + 1
            lines = [line + b"\n" for line in pending[:end].split(b"\n")[:-1]]
            pending = pending[end:]
            self.lines.extend(lines)
            if lines and not self.send(wake):
                return
        if pending:  # a last line without its newline
            self.lines.append(pending)
        self.lines.append(None)
        self.send(wake)

    @staticmethod
    def send(wake):
        try:
            wake.send()
            return True
        except pyuv.error.HandleClosedError:  # the client is done: nobody wants the line
            return False

    def on_lines(self, wake):
        while self.lines and not self.shut:
            line = self.lines.popleft()
            try:
                if line is None:
                    # The end of input: close_notify after the last line. Reading goes on
                    # until the server's own close_notify.
                    self.shut = True
                    wake.close()
                    self.tls.shutdown()
                else:
                    self.tls.write(line, self.on_written)
            except pyuv.error.UVError as e:
                return self.end(str(e))

    def on_written(self, tls, error):
        if error is not None and error != pyuv.errno.UV_ECANCELED:
            self.end(tls.tls_error or errname(error))

    def on_read(self, tls, data, error):
        if data is not None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        elif error == pyuv.errno.UV_EOF:
            # The server's close_notify: a clean end. If it came first, answer it.
            if not self.shut:
                self.shut = True
                tls.shutdown(lambda t, _err: self.end(""))
            else:
                self.end("")
        elif tls.truncated:
            self.end("connection closed without close_notify")
        else:
            self.end(tls.tls_error or errname(error))

    def end(self, outcome):
        """Records how the connection ended (the first outcome wins) and closes every
        handle, so that the loop ends."""
        if self.outcome is None:
            self.outcome = outcome
        if self.wake is not None and not self.wake.closed:
            self.wake.close()
        if not self.tls.closed:
            self.tls.close()


def parse(argv):
    args = list(argv)
    name = "localhost"
    if "--servername" in args:
        i = args.index("--servername")
        if i + 1 >= len(args):
            return None
        name = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2 or (addr := parse_addr(args[0])) is None:
        return None
    return addr, args[1], name


def main(argv):
    parsed = parse(argv)
    if parsed is None:
        usage(NAME, USAGE)
    addr, ca, name = parsed
    lp = pyuv.Loop()
    try:
        client = Client(lp, addr, ca, name)
    except pyuv.error.UVError as e:
        print(f"{NAME}: {e.args[1] if len(e.args) > 1 else e}", file=sys.stderr)
        return 1
    lp.run()
    if client.outcome is None:
        client.outcome = "the loop ended before the connection"
    if client.outcome:
        print(f"{NAME}: {client.outcome}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
