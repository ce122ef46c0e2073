"""What the Python examples share: `HOST:PORT` parsing and a clean stop on SIGINT/SIGTERM."""
import asyncio
import signal


def parse_addr(text):
    """`HOST:PORT` (`[::1]:PORT` for IPv6) as `(host, port)`."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise SystemExit(f"not HOST:PORT: {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def host_port(sock):
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def stop_event():
    """An event set by SIGINT or SIGTERM (handlers on the running loop)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
