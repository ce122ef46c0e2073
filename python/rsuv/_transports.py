"""Stream transports of rsuv.Loop: `asyncio.Transport` subclasses over the Rust `StreamCore`.

The core (src/python/transport.rs) owns the socket (a libuv TCP or pipe handle), reads into
the protocol and writes; this class is what asyncio code sees. Its hot methods (`write`,
`writelines`, `is_closing`, ...) are bound per instance straight to the core, so a call goes
from Python to Rust with no Python frame in between.
"""
import asyncio
import os
import socket
from asyncio import constants, futures, trsock

from . import _rsuv


def _set_nodelay(sock):
    if (sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM
            and sock.proto == socket.IPPROTO_TCP):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def add_addresses(extra, sock):
    """Puts `sockname` and `peername` of `sock` into a transport's extra info (None where the
    socket has none), keeping what the caller gave."""
    for key, get in (("sockname", sock.getsockname), ("peername", sock.getpeername)):
        if key not in extra:
            try:
                extra[key] = get()
            except OSError:
                extra[key] = None


async def when_made(transport, protocol, waiter):
    """`(transport, protocol)` once `waiter` is done; the transport closed if it failed or
    the wait was cancelled."""
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol


class StreamTransport(asyncio.Transport):
    """A TCP or Unix stream socket's transport on an rsuv loop."""

    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE
    _start_tls_compatible = True

    def __init__(self, loop, sock, protocol, waiter=None, extra=None, server=None,
                 keep_sock=False):
        super().__init__(extra)
        self._loop = loop
        self._server = server
        self._family, self._type, self._proto = sock.family, sock.type, sock.proto
        add_addresses(self._extra, sock)
        _set_nodelay(sock)
        self._fd = sock.fileno()
        unix = sock.family == socket.AF_UNIX
        if keep_sock:
            # A socket the caller made and may still use (options, addresses): it stays open
            # until the connection is lost, and libuv gets a duplicate of its descriptor, so
            # that closing the caller's object cannot pull the descriptor from under libuv.
            self._sock = sock
            fd = os.dup(self._fd)
        else:
            self._sock = None
            fd = sock.detach()
        self._core = core = _rsuv.StreamCore(loop, fd, unix, protocol, self)
        for name in ("write", "writelines", "write_eof", "is_closing", "close", "abort",
                     "pause_reading", "resume_reading", "is_reading", "get_write_buffer_size",
                     "get_write_buffer_limits", "set_write_buffer_limits", "get_protocol",
                     "_force_close"):
            setattr(self, name, getattr(core, name))
        loop._transport_fds()[self._fd] = self
        if server is not None:
            server._attach(self)
        loop.call_soon(protocol.connection_made, self)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)
        # Reading starts one iteration later, after the task waiting on `waiter` resumed: the
        # read callback delivers data straight from the poll, ahead of queued callbacks, so
        # starting earlier could hand the protocol data before `create_connection` returned.
        loop.call_soon(loop.call_soon, core.start_reading)

    def __del__(self, _warn=__import__("warnings").warn):
        # Reached only once the loop let go of the connection without closing it (the loop
        # itself was closed with the transport open): say so, as asyncio's transports do.
        core = getattr(self, "_core", None)
        if core is not None and not core.is_closing():
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            if self._sock is not None:
                self._sock.close()

    def __repr__(self):
        state = "closing" if self._core.is_closing() else "open"
        return f"<{type(self).__name__} fd={self._fd} {state}>"

    def can_write_eof(self):
        return True

    def set_protocol(self, protocol):
        self._core.set_protocol(protocol)

    def get_extra_info(self, name, default=None):
        if name == "socket" and "socket" not in self._extra:
            self._extra["socket"] = self._socket_object()
        return self._extra.get(name, default)

    def _socket_object(self):
        """The caller's socket, or a socket object on a duplicate of the transport's
        descriptor: usable for options and addresses, and closing it cannot close the
        transport's socket."""
        if self._sock is not None:
            return trsock.TransportSocket(self._sock)
        fd = self._core.fileno()
        if fd < 0:
            return None
        return trsock.TransportSocket(
            socket.socket(self._family, self._type, self._proto, fileno=os.dup(fd)))

    def _call_connection_lost(self, exc):
        """Runs once, from a callback: `protocol.connection_lost(exc)`, then the socket and
        the server let go of the connection."""
        try:
            self._core.lost(exc)
        finally:
            fds = self._loop._transport_fds()
            if fds.get(self._fd) is self:
                del fds[self._fd]
            sock = self._extra.get("socket")
            if sock is not None:
                sock._sock.close()
            if self._sock is not None:
                self._sock.close()
            server, self._server = self._server, None
            if server is not None:
                server._detach(self)
