#!/usr/bin/env python3
"""A line-based chat server on the pyuv API (pyuv-compat on rsuv): every complete line a
participant sends goes to all the other participants.

    python examples/pyuv/chat_server.py ADDR

The same command line and protocol as the Rust sample (`cargo run --example chat_server`):
- each line another participant sends arrives exactly as sent (any bytes, ending with
  `\\n`), whole: a partial line is held back until its newline arrives; nothing is sent back
  to its sender;
- when a participant joins, the others get `* ADDR joined\\n`; when it leaves,
  `* ADDR left\\n`, where ADDR is its address as the server sees it (`127.0.0.1:40112`);
- a participant leaves by closing its connection (an unfinished last line is dropped); the
  server also drops one that sends a line longer than 64 KiB, or stops reading while more
  than 1 MiB waits to be sent to it.

It prints `listening on HOST:PORT` (port 0 picks a free port). SIGINT/SIGTERM stop it as the
asyncio sample (`examples/python/chat_server.py`) does: everyone gets
`* the server is stopping\\n`, then each connection is half-closed once that line is written
(closed after a second at the latest), and the program exits 0 once every handle is closed.
Try it with two or more `nc 127.0.0.1 9000`.
"""
import sys

import pyuv
from _common import announce, errname, fail, format_addr, parse_addr, stop_on_signals, usage

NAME = "chat_server"
#: The longest line accepted, newline excluded.
MAX_LINE = 64 * 1024
#: A participant with more than this waiting to be written to it is dropped.
MAX_BACKLOG = 1 << 20
#: How long the goodbye may take before the connections still open are closed.
STOP_GRACE = 1.0


class Participant:
    def __init__(self, conn, name):
        self.conn = conn
        self.name = name
        self.partial = bytearray()  # what it sent since its last newline


class Room:
    def __init__(self, lp, addr):
        self.lp = lp
        self.participants = {}  # connection -> Participant, in joining order
        self.server = pyuv.TCP(lp)
        self.server.bind(addr)
        self.server.listen(self.on_connection, 128)
        self.deadline = None  # the stop's timer
        self.left = set()  # the connections still saying goodbye

    def on_connection(self, server, error):
        if error is not None:
            return print(f"accept: {errname(error)}", file=sys.stderr)
        conn = pyuv.TCP(self.lp)
        server.accept(conn)
        try:
            name = format_addr(conn.getpeername())
        except pyuv.error.TCPError as e:
            conn.close()
            return print(f"peername: {e}", file=sys.stderr)
        self.broadcast(conn, f"* {name} joined\n".encode())
        self.participants[conn] = Participant(conn, name)
        conn.start_read(self.on_read)

    def on_read(self, conn, data, error):
        if data is None:
            if error != pyuv.errno.UV_EOF:
                print(f"read: {errname(error)}", file=sys.stderr)
            return self.leave(conn)
        p = self.participants.get(conn)
        if p is None:
            return
        p.partial += data
        end = p.partial.rfind(b"\n")
        if end >= 0:
            # The complete lines go out together, in one write to each participant.
            lines = bytes(p.partial[:end + 1])
            del p.partial[:end + 1]
            self.broadcast(conn, lines)
        if len(p.partial) > MAX_LINE and conn in self.participants:
            print(f"{p.name}: line too long, disconnected", file=sys.stderr)
            self.leave(conn)

    def broadcast(self, sender, message):
        """Sends `message` to everyone but `sender`."""
        gone = []
        for conn, p in self.participants.items():
            if conn is sender:
                continue
            if conn.write_queue_size > MAX_BACKLOG:
                print(f"{p.name}: not reading, disconnected", file=sys.stderr)
                gone.append(conn)
            else:
                try:
                    conn.write(message)
                except pyuv.error.UVError as e:
                    print(f"{p.name}: write: {e}", file=sys.stderr)
                    gone.append(conn)
        for conn in gone:
            self.leave(conn)

    def leave(self, conn):
        p = self.participants.pop(conn, None)
        if p is not None:
            conn.close()
            self.broadcast(conn, f"* {p.name} left\n".encode())

    def stop(self, _signame):
        """Says goodbye, half-closes every connection once that is written, and closes the
        ones that take longer than STOP_GRACE."""
        self.server.close()
        self.broadcast(None, b"* the server is stopping\n")
        conns = list(self.participants)
        self.participants.clear()  # no more broadcasts, no more "left"
        for conn in conns:
            conn.stop_read()
            conn.shutdown(self.closed_after_goodbye)
        self.deadline = pyuv.Timer(self.lp)
        self.deadline.start(lambda t: self.close_all(conns), STOP_GRACE, 0)
        self.left = set(conns)
        self.close_if_done()

    def closed_after_goodbye(self, conn, _error):
        if not conn.closed:
            conn.close()
        self.left.discard(conn)
        self.close_if_done()

    def close_all(self, conns):
        for conn in conns:
            if not conn.closed:
                conn.close()
        self.left.clear()
        self.close_if_done()

    def close_if_done(self):
        if not self.left and not self.deadline.closed:
            self.deadline.close()


def main(argv):
    if len(argv) != 1 or (addr := parse_addr(argv[0])) is None:
        usage(NAME, "ADDR   (for example 127.0.0.1:9000)")
    lp = pyuv.Loop()
    try:
        room = Room(lp, addr)
    except pyuv.error.UVError as e:
        fail(NAME, e.args[1] if len(e.args) > 1 else e)
    stop_on_signals(lp, room.stop)
    announce(room.server)
    lp.run()  # returns once the stop has closed every handle


if __name__ == "__main__":
    main(sys.argv[1:])
