#!/usr/bin/env python3
"""A clean stop on SIGINT/SIGTERM with `pyuv.Signal`: a tick server that closes every handle
it has and lets `Loop.run()` return by itself.

    python examples/pyuv/signal_shutdown.py [ADDR]     (ADDR defaults to 127.0.0.1:0)

Each client that connects gets `tick N\\n` every 100 ms from one repeating `pyuv.Timer`
(what a client sends is ignored). It prints `listening on HOST:PORT` (port 0 picks a free
port). At the first SIGINT or SIGTERM it does not stop the loop: it closes the signal
handles, the timer and the server, sends each client `bye\\n`, half-closes and then closes
its connection (or closes it after a second if it does not take the goodbye), so the loop
ends because nothing is left in it. Then it prints `stopped on SIGTERM: N handles closed`
(checking that every handle of `Loop.handles` is closed) and exits 0.
"""
import sys

import pyuv
from _common import announce, errname, fail, parse_addr, stop_on_signals, usage

NAME = "signal_shutdown"
TICK = 0.1
#: How long a client may take to receive the goodbye before it is closed anyway.
GRACE = 1.0


class TickServer:
    def __init__(self, lp, addr):
        self.lp = lp
        self.clients = set()
        self.ticks = 0
        self.stopped_by = None
        self.server = pyuv.TCP(lp)
        self.server.bind(addr)
        self.server.listen(self.on_connection)
        self.timer = pyuv.Timer(lp)
        self.timer.start(self.on_tick, TICK, TICK)
        self.grace = pyuv.Timer(lp)

    def on_connection(self, server, error):
        if error is not None:
            return print(f"accept: {errname(error)}", file=sys.stderr)
        conn = pyuv.TCP(self.lp)
        server.accept(conn)
        self.clients.add(conn)
        conn.start_read(self.on_read)

    def on_read(self, conn, data, error):
        if data is None:  # the client left (or failed): forget it
            self.clients.discard(conn)
            conn.close()

    def on_tick(self, timer):
        self.ticks += 1
        for conn in self.clients:
            conn.write(b"tick %d\n" % self.ticks)

    def stop(self, signame):
        """Closes everything; `Loop.run()` returns once the last close is done."""
        self.stopped_by = signame
        self.timer.close()
        self.server.close()
        for conn in self.clients:
            conn.stop_read()
            conn.write(b"bye\n")
            conn.shutdown(self.on_goodbye)  # after the write
        if self.clients:
            self.grace.start(self.on_grace_over, GRACE, 0)
        else:
            self.grace.close()

    def on_goodbye(self, conn, _error):
        self.clients.discard(conn)
        conn.close()
        if not self.clients and not self.grace.closed:
            self.grace.close()

    def on_grace_over(self, timer):
        for conn in self.clients:
            conn.close()
        self.clients.clear()
        timer.close()


def main(argv):
    if len(argv) > 1 or (addr := parse_addr(argv[0] if argv else "127.0.0.1:0")) is None:
        usage(NAME, "[ADDR]   (for example 127.0.0.1:9000; port 0 by default)")
    lp = pyuv.Loop()
    try:
        ticks = TickServer(lp, addr)
    except pyuv.error.UVError as e:
        fail(NAME, e.args[1] if len(e.args) > 1 else e)
    stop_on_signals(lp, ticks.stop)
    announce(ticks.server)
    lp.run()  # no lp.stop() anywhere: it returns when no handle is left
    handles = lp.handles
    still_open = [h for h in handles if not h.closed]
    if still_open:
        fail(NAME, f"handles left open: {still_open}")
    print(f"stopped on {ticks.stopped_by}: {len(handles)} handles closed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
