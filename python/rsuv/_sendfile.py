"""`loop.sendfile(transport, file, ...)` for rsuv's stream transports.

Native: once the transport's queued writes are out, reading is paused, `write` is refused,
and `os.sendfile` runs on the transport's socket (`sock_sendfile`). Fallback (another file
object, or `os.sendfile` refusing): the file is read in blocks on the default executor and
written through the transport, waiting for the protocol's flow control between blocks, the
transport's protocol swapped for a helper meanwhile (as asyncio does).
"""
import asyncio
from asyncio import constants, exceptions

from ._sock import _check_sendfile_params

_FALLBACK_BLOCK = 256 * 1024


def _writing_paused(transport):
    """Whether `transport` has paused its protocol's writing: the Rust core says so for
    rsuv's stream transports; asyncio's flow-control transports (TLS's) keep a flag."""
    core = getattr(transport, "_core", None)
    if core is not None:
        return core.writing_paused()
    return bool(getattr(transport, "_protocol_paused", False))


class _Drain(asyncio.Protocol):
    """Stands in for a transport's protocol during a fallback sendfile: turns
    pause_writing/resume_writing into a future to wait on, and hands everything back."""

    def __init__(self, transport):
        self._transport = transport
        self._proto = transport.get_protocol()
        self._resume_reading = transport.is_reading()
        self._was_paused = _writing_paused(transport)
        transport.pause_reading()
        transport.set_protocol(self)
        loop = transport._loop
        self._ready = loop.create_future() if self._was_paused else None

    async def drain(self):
        if self._transport.is_closing():
            raise ConnectionError("Connection closed by peer")
        if self._ready is not None:
            await self._ready

    def connection_made(self, transport):
        raise RuntimeError("Invalid state: connection should have been established already.")

    def connection_lost(self, exc):
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(exc or ConnectionError("Connection is closed by peer"))
        self._proto.connection_lost(exc)

    def pause_writing(self):
        if self._ready is None:
            self._ready = self._transport._loop.create_future()

    def resume_writing(self):
        ready, self._ready = self._ready, None
        if ready is not None and not ready.done():
            ready.set_result(False)

    def data_received(self, data):
        raise RuntimeError("Invalid state: reading should be paused")

    def eof_received(self):
        raise RuntimeError("Invalid state: reading should be paused")

    async def restore(self):
        self._transport.set_protocol(self._proto)
        if self._resume_reading:
            self._transport.resume_reading()
        if self._ready is not None:
            self._ready.cancel()
        if self._was_paused and not _writing_paused(self._transport):
            self._proto.resume_writing()


class SendfileMixin:
    """`loop.sendfile` for rsuv.Loop."""

    async def sendfile(self, transport, file, offset=0, count=None, *, fallback=True):
        """Sends `file` over `transport`; the number of bytes sent."""
        if transport.is_closing():
            raise RuntimeError("Transport is closing")
        mode = getattr(transport, "_sendfile_compatible", constants._SendfileMode.UNSUPPORTED)
        if mode is constants._SendfileMode.UNSUPPORTED:
            raise RuntimeError(f"sendfile is not supported for transport {transport!r}")
        if mode is constants._SendfileMode.TRY_NATIVE:
            try:
                return await self._sendfile_native(transport, file, offset, count)
            except exceptions.SendfileNotAvailableError:
                if not fallback:
                    raise
        if not fallback:
            raise RuntimeError(f"fallback is disabled and native sendfile is not supported "
                               f"for transport {transport!r}")
        return await self._sendfile_fallback(transport, file, offset, count)

    async def _sendfile_native(self, transport, file, offset, count):
        _check_sendfile_params(file, offset, count)
        core = getattr(transport, "_core", None)
        if core is None:
            raise exceptions.SendfileNotAvailableError("sendfile syscall is not supported")
        fds = self._transport_fds()
        fds.pop(transport._fd, None)
        resume_reading = transport.is_reading()
        transport.pause_reading()
        try:
            empty = self.create_future()
            core.empty_waiter(empty)
            await empty
            core.set_sendfile(True)
            sock = transport.get_extra_info("socket")._sock
            sock.setblocking(False)
            return await self.sock_sendfile(sock, file, offset, count, fallback=False)
        finally:
            core.set_sendfile(False)
            if resume_reading:
                transport.resume_reading()
            if not transport.is_closing():
                fds[transport._fd] = transport

    async def _sendfile_fallback(self, transport, file, offset, count):
        _check_sendfile_params(file, offset, count)
        if offset:
            file.seek(offset)
        block = min(count, _FALLBACK_BLOCK) if count else _FALLBACK_BLOCK
        buf = bytearray(block)
        sent = 0
        drain = _Drain(transport)
        try:
            while True:
                if count:
                    block = min(count - sent, block)
                    if block <= 0:
                        return sent
                view = memoryview(buf)[:block]
                n = await self.run_in_executor(None, file.readinto, view)
                if not n:
                    return sent
                await drain.drain()
                transport.write(bytes(view[:n]))
                sent += n
        finally:
            if sent > 0 and hasattr(file, "seek"):
                file.seek(offset + sent)
            await drain.restore()


__all__ = ["SendfileMixin"]
