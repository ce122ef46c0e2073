"""Pipe transports of rsuv.Loop: `connect_read_pipe` and `connect_write_pipe`.

A first version in Python over the Rust core's descriptor watching (as the datagram
transport is), with the semantics of asyncio's Unix pipe transports: pipes, FIFOs, sockets
and character devices (ttys, a pty's master) are accepted, a regular file is refused; the
descriptor is made non-blocking; a write pipe notices its reader going away (a pipe or a
socket becomes readable, or reports an error, once the other end is closed); `EIO` from a
pty whose child has gone is an end of stream, logged in debug mode only.
"""
import errno
import os
import stat
import warnings

from asyncio import constants, futures, transports
from asyncio.log import logger

from . import _rsuv
from ._transports import when_made

_MAX_READ = 256 * 1024  # bytes per read (asyncio's)


class _PipeBase:
    """What the two pipe transports share: the descriptor's checks, the protocol, closing
    state, the warning for a transport dropped open, and `connection_lost` last."""

    _refusal = "Pipe transport is for pipes/sockets only."

    def _open(self, loop, pipe, protocol):
        """Takes `pipe` (non-blocking from now on); the `stat` mode of its descriptor."""
        self._extra["pipe"] = pipe
        self._loop = loop
        self._pipe = pipe
        self._fileno = pipe.fileno()
        self._protocol = protocol
        self._closing = False
        mode = os.fstat(self._fileno).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            self._pipe = self._fileno = self._protocol = None
            raise ValueError(self._refusal)
        os.set_blocking(self._fileno, False)
        return mode

    def _made(self, waiter, *then):
        """`connection_made`, then each of `then`, then `waiter`, from the next iteration."""
        self._loop.call_soon(self._protocol.connection_made, self)
        for cb in then:
            self._loop.call_soon(cb)
        if waiter is not None:
            self._loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def __repr__(self):
        state = "closed" if self._pipe is None else ("closing" if self._closing else "open")
        return f"<{type(self).__name__} fd={self._fileno} {state}>"

    def set_protocol(self, protocol):
        self._protocol = protocol

    def get_protocol(self):
        return self._protocol

    def is_closing(self):
        return self._closing

    def __del__(self, _warn=warnings.warn):
        if getattr(self, "_pipe", None) is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._pipe.close()

    def _fatal_error(self, exc, message="Fatal error on pipe transport"):
        """Reports `exc` (in debug mode only where `_quiet` says so), then closes."""
        if self._quiet(exc):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({
                "message": message, "exception": exc, "transport": self,
                "protocol": self._protocol})
        self._close(exc)

    def _call_connection_lost(self, exc):
        if self._pipe is None:
            return
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._pipe.close()
            self._pipe = None
            self._protocol = None
            self._loop = None


class ReadPipeTransport(_PipeBase, transports.ReadTransport):
    """The read end of a pipe (or a FIFO, a socket, a character device) on an rsuv loop."""

    def __init__(self, loop, pipe, protocol, waiter=None, extra=None):
        super().__init__(extra)
        self._paused = False
        self._open(loop, pipe, protocol)
        self._made(waiter, self._watch)  # reading starts after connection_made

    def _watch(self):
        if not self._closing and not self._paused:
            _rsuv.LoopCore.add_reader(self._loop, self._fileno, self._read_ready)

    def _unwatch(self):
        _rsuv.LoopCore.remove_reader(self._loop, self._fileno)

    def _read_ready(self):
        try:
            data = os.read(self._fileno, _MAX_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fatal_error(exc, "Fatal read error on pipe transport")
            return
        if data:
            self._protocol.data_received(data)
            return
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        self._closing = True
        self._unwatch()
        self._loop.call_soon(self._protocol.eof_received)
        self._loop.call_soon(self._call_connection_lost, None)

    def pause_reading(self):
        if self._closing or self._paused:
            return
        self._paused = True
        self._unwatch()

    def resume_reading(self):
        if self._closing or not self._paused:
            return
        self._paused = False
        self._watch()

    def is_reading(self):
        return not self._paused and not self._closing

    def close(self):
        if not self._closing:
            self._close(None)

    @staticmethod
    def _quiet(exc):
        return isinstance(exc, OSError) and exc.errno == errno.EIO  # a pty's other side gone

    def _close(self, exc):
        self._closing = True
        self._unwatch()
        self._loop.call_soon(self._call_connection_lost, exc)


class WritePipeTransport(_PipeBase, transports._FlowControlMixin, transports.WriteTransport):
    """The write end of a pipe (or a FIFO, a socket, a character device) on an rsuv loop."""

    _refusal = "Pipe transport is only for pipes, sockets and character devices"

    def __init__(self, loop, pipe, protocol, waiter=None, extra=None):
        super().__init__(extra, loop)
        self._buffer = bytearray()
        self._conn_lost = 0
        self._lost_scheduled = False
        mode = self._open(loop, pipe, protocol)
        # The reader going away makes a pipe's or a socket's write end readable: watched to
        # notice it even when nothing is written (a character device does not say so).
        if stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode):
            self._made(waiter, self._watch_peer)
        else:
            self._made(waiter)

    def __repr__(self):
        state = "closed" if self._pipe is None else ("closing" if self._closing else "open")
        return f"<{type(self).__name__} fd={self._fileno} {state} bufsize={len(self._buffer)}>"

    def _watch_peer(self):
        if self._pipe is not None and not self._closing:
            _rsuv.LoopCore.add_reader(self._loop, self._fileno, self._peer_gone)

    def _peer_gone(self):
        self._close(BrokenPipeError() if self._buffer else None)

    def get_write_buffer_size(self):
        return len(self._buffer)

    def write(self, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if isinstance(data, bytearray):
            data = memoryview(data)
        if not data:
            return
        if self._conn_lost or self._closing:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("pipe closed by peer or os.write(pipe, data) raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            try:
                n = os.write(self._fileno, data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._conn_lost += 1
                self._fatal_error(exc, "Fatal write error on pipe transport")
                return
            if n == len(data):
                return
            data = memoryview(data)[n:]
            _rsuv.LoopCore.add_writer(self._loop, self._fileno, self._write_ready)
        self._buffer += data
        self._maybe_pause_protocol()

    def writelines(self, list_of_data):
        self.write(b"".join(list_of_data))

    def _write_ready(self):
        try:
            n = os.write(self._fileno, self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._buffer.clear()
            self._conn_lost += 1
            # The writer watch goes with _close, inside _fatal_error.
            self._fatal_error(exc, "Fatal write error on pipe transport")
            return
        if n < len(self._buffer):
            del self._buffer[:n]
            return
        self._buffer.clear()
        _rsuv.LoopCore.remove_writer(self._loop, self._fileno)
        self._maybe_resume_protocol()
        if self._closing:
            _rsuv.LoopCore.remove_reader(self._loop, self._fileno)
            self._lost_scheduled = True
            self._call_connection_lost(None)

    def can_write_eof(self):
        return True

    def write_eof(self):
        if self._closing:
            return
        self._closing = True
        if not self._buffer:
            _rsuv.LoopCore.remove_reader(self._loop, self._fileno)
            self._schedule_lost(None)

    def close(self):
        if self._pipe is not None and not self._closing:
            self.write_eof()  # what is queued is written first

    def abort(self):
        self._close(None)

    @staticmethod
    def _quiet(exc):
        return isinstance(exc, OSError)  # the reader went away: the protocol hears of it

    def _close(self, exc=None):
        if self._pipe is None:
            return
        self._closing = True
        if self._buffer:
            _rsuv.LoopCore.remove_writer(self._loop, self._fileno)
            self._buffer.clear()
        _rsuv.LoopCore.remove_reader(self._loop, self._fileno)
        self._schedule_lost(exc)

    def _schedule_lost(self, exc):
        """`connection_lost(exc)` from the next iteration, once."""
        if not self._lost_scheduled:
            self._lost_scheduled = True
            self._conn_lost += 1
            self._loop.call_soon(self._call_connection_lost, exc)

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
