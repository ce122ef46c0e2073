"""UDP and Unix datagram endpoints of rsuv.Loop: `create_datagram_endpoint` and its
transport.

The transport is Python over the Rust core's descriptor watching (a first version: the
stream transports are Rust, this one is not yet). `sendto` tries the socket at once and
queues only what would block; received datagrams go to `datagram_received`, socket errors
to `error_received`, as asyncio's selector transport does.
"""
import collections
import socket
import sys
import warnings

import asyncio
from asyncio import constants, futures, trsock
from asyncio.log import logger

from . import _rsuv
from ._net import remove_stale_unix_socket
from ._transports import add_addresses, when_made

_PY313 = sys.version_info >= (3, 13)
_UNSET = object()


class DatagramTransport(asyncio.Transport, asyncio.DatagramTransport):
    """A datagram socket's transport on an rsuv loop (an `asyncio.Transport` too, as the
    stdlib's datagram transport is)."""

    max_size = 256 * 1024  # bytes read per datagram at most (asyncio's)

    def __init__(self, loop, sock, protocol, address=None, waiter=None, extra=None):
        super().__init__(extra)
        self._loop = loop
        self._sock = sock
        self._sock_fd = sock.fileno()
        self._protocol = protocol
        self._address = address
        self._buffer = collections.deque()
        self._buffer_size = 0
        self._closing = False
        self._conn_lost = 0
        self._paused = False
        self._high, self._low = 64 * 1024, 16 * 1024
        self._extra["socket"] = trsock.TransportSocket(sock)
        add_addresses(self._extra, sock)
        loop._transport_fds()[self._sock_fd] = self
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def __repr__(self):
        return f"<{type(self).__name__} fd={self._sock_fd}{' closing' if self._closing else ''}>"

    # The descriptor is the transport's: watched through the core directly (the loop's own
    # add_reader refuses descriptors that transports own).
    def _start_reading(self):
        if not self._closing:
            _rsuv.LoopCore.add_reader(self._loop, self._sock_fd, self._read_ready)

    def _watch_writable(self, on):
        if on:
            _rsuv.LoopCore.add_writer(self._loop, self._sock_fd, self._sendto_ready)
        else:
            _rsuv.LoopCore.remove_writer(self._loop, self._sock_fd)

    def is_closing(self):
        return self._closing

    def get_protocol(self):
        return self._protocol

    def set_protocol(self, protocol):
        self._protocol = protocol

    def get_write_buffer_size(self):
        return self._buffer_size

    def get_write_buffer_limits(self):
        return (self._low, self._high)

    def set_write_buffer_limits(self, high=None, low=None):
        if high is None:
            high = 64 * 1024 if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self):
        if self._buffer_size > self._high and not self._paused:
            self._paused = True
            self._call_protocol("pause_writing")

    def _maybe_resume_protocol(self):
        if self._paused and self._buffer_size <= self._low:
            self._paused = False
            self._call_protocol("resume_writing")

    def _call_protocol(self, name):
        try:
            getattr(self._protocol, name)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                "message": f"protocol.{name}() failed", "exception": exc,
                "transport": self, "protocol": self._protocol})

    def _read_ready(self):
        if self._conn_lost:
            return
        try:
            data, addr = self._sock.recvfrom(self.max_size)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self._protocol.error_received(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on datagram transport")
        else:
            self._protocol.datagram_received(data, addr)

    def sendto(self, data, addr=None):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if not data and not _PY313:
            return  # before 3.13 asyncio drops empty datagrams
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._conn_lost and self._address:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            try:
                if self._extra["peername"]:
                    self._sock.send(data)
                else:
                    self._sock.sendto(data, addr)
                return
            except (BlockingIOError, InterruptedError):
                self._watch_writable(True)
            except OSError as exc:
                self._protocol.error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
        self._buffer.append((bytes(data), addr))
        self._buffer_size += len(data) + (8 if _PY313 else 0)
        self._maybe_pause_protocol()

    def _sendto_ready(self):
        while self._buffer:
            data, addr = self._buffer.popleft()
            self._buffer_size -= len(data) + (8 if _PY313 else 0)
            try:
                if self._extra["peername"]:
                    self._sock.send(data)
                else:
                    self._sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                self._buffer.appendleft((data, addr))
                self._buffer_size += len(data) + (8 if _PY313 else 0)
                break
            except OSError as exc:
                self._protocol.error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
        self._maybe_resume_protocol()
        if not self._buffer:
            self._watch_writable(False)
            if self._closing:
                self._call_connection_lost(None)

    def close(self):
        if self._closing:
            return
        self._closing = True
        _rsuv.LoopCore.remove_reader(self._loop, self._sock_fd)
        if not self._buffer:
            self._conn_lost += 1
            self._loop.call_soon(self._call_connection_lost, None)

    def abort(self):
        self._force_close(None)

    def _fatal_error(self, exc, message):
        if not isinstance(exc, OSError):
            self._loop.call_exception_handler({
                "message": message, "exception": exc,
                "transport": self, "protocol": self._protocol})
        self._force_close(exc)

    def _force_close(self, exc):
        if self._conn_lost:
            return
        if self._buffer:
            self._buffer.clear()
            self._buffer_size = 0
            self._watch_writable(False)
        if not self._closing:
            self._closing = True
            _rsuv.LoopCore.remove_reader(self._loop, self._sock_fd)
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc):
        try:
            self._protocol.connection_lost(exc)
        finally:
            fds = self._loop._transport_fds()
            if fds.get(self._sock_fd) is self:
                del fds[self._sock_fd]
            self._sock.close()
            self._sock = self._protocol = None


class DatagramMixin:
    """`create_datagram_endpoint` for rsuv.Loop."""

    if sys.version_info >= (3, 11):  # `reuse_address` is gone from 3.11 on, as in asyncio
        async def create_datagram_endpoint(self, protocol_factory, local_addr=None,
                                           remote_addr=None, *, family=0, proto=0, flags=0,
                                           reuse_port=None, allow_broadcast=None, sock=None):
            """A datagram endpoint: `(transport, protocol)`."""
            return await self._datagram_endpoint(protocol_factory, local_addr, remote_addr,
                                                 family, proto, flags, _UNSET, reuse_port,
                                                 allow_broadcast, sock)
    else:
        async def create_datagram_endpoint(self, protocol_factory, local_addr=None,
                                           remote_addr=None, *, family=0, proto=0, flags=0,
                                           reuse_address=_UNSET, reuse_port=None,
                                           allow_broadcast=None, sock=None):
            """A datagram endpoint: `(transport, protocol)`."""
            return await self._datagram_endpoint(protocol_factory, local_addr, remote_addr,
                                                 family, proto, flags, reuse_address,
                                                 reuse_port, allow_broadcast, sock)

    async def _datagram_endpoint(self, protocol_factory, local_addr, remote_addr, family,
                                 proto, flags, reuse_address, reuse_port, allow_broadcast,
                                 sock):
        r_addr = None
        if sock is not None:
            if sock.type == socket.SOCK_STREAM:
                raise ValueError(f"A datagram socket was expected, got {sock!r}")
            opts = dict(local_addr=local_addr, remote_addr=remote_addr, family=family,
                        proto=proto, flags=flags, reuse_address=reuse_address,
                        reuse_port=reuse_port, allow_broadcast=allow_broadcast)
            given = [f"{k}={v}" for k, v in opts.items() if v and v is not _UNSET]
            if given:
                raise ValueError("socket modifier keyword arguments can not be used when "
                                 f"sock is specified. ({', '.join(given)})")
            sock.setblocking(False)
        else:
            pairs = await self._datagram_addresses(local_addr, remote_addr, family, proto,
                                                   flags)
            if reuse_address is not _UNSET:
                if reuse_address:
                    raise ValueError("Passing `reuse_address=True` is no longer supported, "
                                     "as the usage of SO_REUSEPORT in UDP poses a "
                                     "significant security concern.")
                warnings.warn("The *reuse_address* parameter has been deprecated as of "
                              "3.5.10 and is scheduled for removal in 3.11.",
                              DeprecationWarning, stacklevel=2)
            sock, r_addr = await self._datagram_socket(pairs, local_addr, remote_addr,
                                                       reuse_port, allow_broadcast)
        protocol = protocol_factory()
        waiter = self.create_future()
        transport = DatagramTransport(self, sock, protocol, r_addr, waiter)
        return await when_made(transport, protocol, waiter)

    async def _datagram_addresses(self, local_addr, remote_addr, family, proto, flags):
        """`((family, proto), (local, remote))` pairs to try, in order."""
        if not (local_addr or remote_addr):
            if family == 0:
                raise ValueError("unexpected address family")
            return [((family, proto), (None, None))]
        if family == socket.AF_UNIX:
            for addr in (local_addr, remote_addr):
                if addr is not None and not isinstance(addr, str):
                    raise TypeError("string is expected")
            if local_addr:
                remove_stale_unix_socket(local_addr)
            return [((family, proto), (local_addr, remote_addr))]
        by_key = {}
        for idx, addr in ((0, local_addr), (1, remote_addr)):
            if addr is None:
                continue
            if not (isinstance(addr, tuple) and len(addr) == 2):
                raise TypeError("2-tuple is expected")
            infos = await self._ensure_resolved(addr, family=family, type=socket.SOCK_DGRAM,
                                                proto=proto, flags=flags)
            if not infos:
                raise OSError("getaddrinfo() returned empty list")
            for fam, _, pro, _, address in infos:
                by_key.setdefault((fam, pro), [None, None])[idx] = address
        pairs = [(key, pair) for key, pair in by_key.items()
                 if not ((local_addr and pair[0] is None) or (remote_addr and pair[1] is None))]
        if not pairs:
            raise ValueError("can not get address information")
        return pairs

    async def _datagram_socket(self, pairs, local_addr, remote_addr, reuse_port,
                               allow_broadcast):
        errors = []
        for (family, proto), (local, remote) in pairs:
            sock = None
            try:
                sock = socket.socket(family=family, type=socket.SOCK_DGRAM, proto=proto)
                if reuse_port:
                    if not hasattr(socket, "SO_REUSEPORT"):
                        raise ValueError("reuse_port not supported by socket module")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, True)
                if allow_broadcast:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                sock.setblocking(False)
                if local_addr:
                    sock.bind(local)
                if remote_addr:
                    if not allow_broadcast:
                        await self.sock_connect(sock, remote)
                    return sock, remote
                return sock, None
            except OSError as exc:
                if sock is not None:
                    sock.close()
                errors.append(exc)
            except BaseException:
                if sock is not None:
                    sock.close()
                raise
        raise errors[0]


__all__ = ["DatagramMixin", "DatagramTransport"]
