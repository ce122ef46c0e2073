"""Pipe transports of rsuv.Loop: `connect_read_pipe` and `connect_write_pipe`.

The transports are the Rust stream core (src/python/transport.rs) over a libuv pipe handle on
a duplicate of the pipe's descriptor, in pipe mode: the end of stream ends the connection
(after `eof_received`), and `write_eof` closes it once what is queued is out. With asyncio's
Unix pipe semantics otherwise: pipes, FIFOs, sockets and character devices (ttys, a pty's
master) are accepted, a regular file is refused; the descriptor is made non-blocking; a write
pipe notices its reader going away (a pipe or a socket becomes readable, or reports an
error, once the other end is closed: watched by the loop's descriptor watch); `EIO` from a
pty whose child has gone ends the stream with that error. The pipe object is closed when the
connection is lost.
"""
import os
import stat
import warnings

from asyncio import futures, transports

from . import _rsuv
from ._transports import when_made


class _PipeBase:
    """What the two pipe transports share: the descriptor's checks, the core, the warning for
    a transport dropped open, and `connection_lost` last."""

    _refusal = "Pipe transport is for pipes/sockets only."
    _methods = ()

    def _open(self, loop, pipe, protocol, waiter):
        """Takes `pipe` (non-blocking from now on); the `stat` mode of its descriptor."""
        self._extra["pipe"] = pipe
        self._loop = loop
        self._pipe = pipe
        self._fileno = pipe.fileno()
        mode = os.fstat(self._fileno).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            self._pipe = None
            raise ValueError(self._refusal)
        os.set_blocking(self._fileno, False)
        self._core = core = _rsuv.StreamCore(loop, os.dup(self._fileno), True, protocol, self,
                                             pipe=True)
        for name in self._methods:
            setattr(self, name, getattr(core, name))
        loop.call_soon(protocol.connection_made, self)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)
        return mode

    def __repr__(self):
        core = getattr(self, "_core", None)
        state = ("closed" if self._pipe is None else
                 "closing" if core is not None and core.is_closing() else "open")
        return f"<{type(self).__name__} fd={self._fileno} {state}>"

    def set_protocol(self, protocol):
        self._core.set_protocol(protocol)

    def __del__(self, _warn=warnings.warn):
        if getattr(self, "_pipe", None) is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._pipe.close()

    def _call_connection_lost(self, exc):
        if self._pipe is None:
            return
        try:
            self._core.lost(exc)
        finally:
            self._unwatch()
            self._pipe.close()
            self._pipe = None
            self._loop = None

    def _unwatch(self):
        pass


class ReadPipeTransport(_PipeBase, transports.ReadTransport):
    """The read end of a pipe (or a FIFO, a socket, a character device) on an rsuv loop."""

    _methods = ("pause_reading", "resume_reading", "is_reading", "close", "is_closing",
                "get_protocol")

    def __init__(self, loop, pipe, protocol, waiter=None, extra=None):
        super().__init__(extra)
        self._open(loop, pipe, protocol, waiter)
        # Reading starts after connection_made (and after the waiter's task resumed).
        loop.call_soon(loop.call_soon, self._core.start_reading)

    def abort(self):
        self._core.abort()


class WritePipeTransport(_PipeBase, transports._FlowControlMixin, transports.WriteTransport):
    """The write end of a pipe (or a FIFO, a socket, a character device) on an rsuv loop."""

    _refusal = "Pipe transport is only for pipes, sockets and character devices"
    _methods = ("write", "writelines", "write_eof", "close", "abort", "is_closing",
                "get_write_buffer_size", "get_write_buffer_limits", "set_write_buffer_limits",
                "get_protocol")

    def __init__(self, loop, pipe, protocol, waiter=None, extra=None):
        super().__init__(extra, loop)
        self._watching = False
        mode = self._open(loop, pipe, protocol, waiter)
        # The reader going away makes a pipe's or a socket's write end readable: watched to
        # notice it even when nothing is written (a character device does not say so).
        if stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode):
            loop.call_soon(self._watch_peer)

    def can_write_eof(self):
        return True

    def _watch_peer(self):
        if self._pipe is not None and not self._core.is_closing():
            _rsuv.LoopCore.add_reader(self._loop, self._fileno, self._peer_gone)
            self._watching = True

    def _unwatch(self):
        if self._watching:
            self._watching = False
            _rsuv.LoopCore.remove_reader(self._loop, self._fileno)

    def _peer_gone(self):
        self._unwatch()
        self._core._force_close(BrokenPipeError() if self._core.get_write_buffer_size()
                                else None)


class PipeMixin:
    """`connect_read_pipe` and `connect_write_pipe` for rsuv.Loop."""

    async def connect_read_pipe(self, protocol_factory, pipe):
        return await self._connect_pipe(ReadPipeTransport, protocol_factory, pipe)

    async def connect_write_pipe(self, protocol_factory, pipe):
        return await self._connect_pipe(WritePipeTransport, protocol_factory, pipe)

    async def _connect_pipe(self, transport_class, protocol_factory, pipe):
        protocol = protocol_factory()
        waiter = self.create_future()
        transport = transport_class(self, pipe, protocol, waiter)
        return await when_made(transport, protocol, waiter)


__all__ = ["PipeMixin", "ReadPipeTransport", "WritePipeTransport"]
