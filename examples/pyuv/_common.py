"""What the pyuv examples share: the command line, the `listening on` line, and a clean stop
on SIGINT/SIGTERM with `pyuv.Signal` (the same conventions as the Rust samples'
`examples/common/mod.rs`)."""
import signal
import sys

import pyuv


def parse_addr(text):
    """`HOST:PORT` (`[::1]:PORT` for IPv6) as `(host, port)`, or None."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def usage(name, text):
    """The usage line on stderr and exit status 2, as the Rust samples do."""
    print(f"usage: {name} {text}", file=sys.stderr)
    sys.exit(2)


def fail(name, message):
    """An error on stderr and exit status 1."""
    print(f"{name}: {message}", file=sys.stderr)
    sys.exit(1)


def format_addr(addr):
    host, port = addr[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def announce(handle):
    """Prints the one line the tests wait for, with the address actually bound."""
    print(f"listening on {format_addr(handle.getsockname())}", flush=True)


def errname(code):
    """`UV_ECONNRESET: connection reset by peer` for a libuv error code."""
    return f"{pyuv.errno.errorcode.get(code, code)}: {pyuv.errno.strerror(code)}"


def stop_on_signals(lp, on_stop):
    """Calls `on_stop(signame)` at the first SIGINT or SIGTERM, after closing the two
    `pyuv.Signal` handles it starts; `on_stop` closes everything else, and `lp.run()`
    returns once the last close is done. Call it before `announce`: whoever reads that line
    may send a signal at once."""
    handles = []

    def on_signal(handle, signum):
        for h in handles:
            if not h.closed:
                h.close()
        on_stop(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM):
        h = pyuv.Signal(lp)
        h.start(on_signal, signum)
        handles.append(h)
    return handles
