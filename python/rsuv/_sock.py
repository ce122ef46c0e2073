"""The `sock_*` methods of rsuv.Loop: non-blocking socket calls that wait on the loop.

Each call tries the socket at once; only if it would block does it register the descriptor
with `add_reader`/`add_writer` (the Rust core's epoll set) and wait for a future, which the
callback settles when the call succeeds or fails. Cancelling the awaiting task unregisters
the descriptor; a callback that finds its future already done does nothing, so no byte is
read into a future nobody waits for. The errors are asyncio's: `ValueError` for a blocking
socket, the socket's own `OSError`s otherwise.
"""
import errno as _errno
import os
import socket
import weakref

from asyncio import exceptions, futures

try:
    import ssl
except ImportError:  # pragma: no cover - Python built without OpenSSL
    ssl = None

_RETRY = (BlockingIOError, InterruptedError)
_PLAIN = socket.socket


class _SockFuture(futures.Future):
    """The future of a `sock_recv`/`sock_recv_into`/`sock_sendall` waiting in the Rust core
    (src/python/sockops.rs): cancelling it unregisters the call first, so that no byte is
    read or sent for a call nobody waits for. `_rsuv_io` is where it waits: fd * 2 + writer."""

    __slots__ = ("_rsuv_io",)

    def cancel(self, msg=None):
        if not self.done():
            self._loop._sock_op_cancel(self._rsuv_io, self)
        return super().cancel(msg=msg)


def _check_nonblocking(sock):
    if ssl is not None and isinstance(sock, ssl.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")
    if sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")


def _settle(fut, fn, *args):
    """Calls `fn(*args)` for `fut`; whether `fut` is settled (False: it would block)."""
    if fut.done():
        return True
    try:
        result = fn(*args)
    except _RETRY:
        return False
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
    return True


class SockMixin:
    """`sock_*` for rsuv.Loop (which provides add_reader/add_writer and create_future)."""

    def _ensure_fd_no_transport(self, fd):
        """Refuses a descriptor that an open transport owns (`RuntimeError`), as asyncio
        does: watching it too would steal the transport's events."""
        fileno = fd
        if not isinstance(fileno, int):
            try:
                fileno = int(fileno.fileno())
            except (AttributeError, TypeError, ValueError):
                raise ValueError(f"Invalid file object: {fd!r}") from None
        transport = self._transport_fds().get(fileno)
        if transport is not None and not transport.is_closing():
            raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}")

    def _transport_fds(self):
        try:
            return self._transports
        except AttributeError:
            self._transports = weakref.WeakValueDictionary()
            return self._transports

    def add_reader(self, fd, callback, *args):
        self._ensure_fd_no_transport(fd)
        return super().add_reader(fd, callback, *args)

    def add_writer(self, fd, callback, *args):
        self._ensure_fd_no_transport(fd)
        return super().add_writer(fd, callback, *args)

    def _add_reader(self, fd, callback, *args):
        self._ensure_fd_no_transport(fd)
        return super()._add_reader(fd, callback, *args)

    def _add_writer(self, fd, callback, *args):
        self._ensure_fd_no_transport(fd)
        return super()._add_writer(fd, callback, *args)

    def remove_reader(self, fd):
        self._ensure_fd_no_transport(fd)
        return super().remove_reader(fd)

    def remove_writer(self, fd):
        self._ensure_fd_no_transport(fd)
        return super().remove_writer(fd)

    async def _wait_io(self, sock, writer, fn, *args):
        """Waits until `fn(*args)` succeeds on `sock` without blocking; its result."""
        fd = sock.fileno()
        fut = self.create_future()
        add, remove = ((self._add_writer, self.remove_writer) if writer
                       else (self._add_reader, self.remove_reader))
        handle = add(fd, self._io_ready, fut, fn, args)
        # Unregistered when done, unless another call took the descriptor over meanwhile
        # (which cancelled this handle): a cancelled recv must not remove the next one's.
        fut.add_done_callback(lambda _f: handle.cancelled() or remove(fd))
        try:
            return await fut
        finally:
            fut = None  # no cycle through the traceback

    @staticmethod
    def _io_ready(fut, fn, args):
        _settle(fut, fn, *args)


    async def sock_recv(self, sock, n):
        """Receives up to `n` bytes from `sock`."""
        if type(sock) is _PLAIN:  # in Rust (see _SockFuture)
            r = self._sock_recv_native(sock, n)
            return await r if type(r) is _SockFuture else r
        _check_nonblocking(sock)
        try:
            return sock.recv(n)
        except _RETRY:
            pass
        return await self._wait_io(sock, False, _on(sock, "recv"), n)

    async def sock_recv_into(self, sock, buf):
        """Receives into `buf`; the number of bytes received."""
        if type(sock) is _PLAIN:
            r = self._sock_recv_into_native(sock, buf)
            return await r if type(r) is _SockFuture else r
        _check_nonblocking(sock)
        try:
            return sock.recv_into(buf)
        except _RETRY:
            pass
        return await self._wait_io(sock, False, _on(sock, "recv_into"), buf)

    async def sock_recvfrom(self, sock, bufsize):
        """Receives a datagram of up to `bufsize` bytes: `(data, address)`."""
        _check_nonblocking(sock)
        try:
            return sock.recvfrom(bufsize)
        except _RETRY:
            pass
        return await self._wait_io(sock, False, _on(sock, "recvfrom"), bufsize)

    async def sock_recvfrom_into(self, sock, buf, nbytes=0):
        """Receives a datagram into `buf`: `(nbytes, address)`."""
        _check_nonblocking(sock)
        if not nbytes:
            nbytes = len(buf)
        try:
            return sock.recvfrom_into(buf, nbytes)
        except _RETRY:
            pass
        return await self._wait_io(sock, False, _on(sock, "recvfrom_into"), buf, nbytes)

    async def sock_sendto(self, sock, data, address):
        """Sends a datagram to `address`; the number of bytes sent."""
        _check_nonblocking(sock)
        try:
            return sock.sendto(data, address)
        except _RETRY:
            pass
        return await self._wait_io(sock, True, _on(sock, "sendto"), data, address)

    async def sock_sendall(self, sock, data):
        """Sends all of `data`, waiting for room as often as needed."""
        if type(sock) is _PLAIN:
            r = self._sock_sendall_native(sock, data)
            return await r if type(r) is _SockFuture else r
        _check_nonblocking(sock)
        try:
            sent = sock.send(data)
        except _RETRY:
            sent = 0
        view = memoryview(data).cast("B")
        if sent == len(view):
            return None
        fd = sock.fileno()
        fut = self.create_future()
        pos = [sent]

        def on_writable():
            if fut.done():
                return
            try:
                n = sock.send(view[pos[0]:])
            except _RETRY:
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                fut.set_exception(exc)
                return
            pos[0] += n
            if pos[0] == len(view):
                fut.set_result(None)

        handle = self._add_writer(fd, on_writable)
        fut.add_done_callback(lambda _f: handle.cancelled() or self.remove_writer(fd))
        try:
            return await fut
        finally:
            fut = None

    async def sock_connect(self, sock, address):
        """Connects `sock` to `address` (resolved first for IP sockets)."""
        _check_nonblocking(sock)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            infos = await self.getaddrinfo(*address[:2], family=sock.family,
                                           type=sock.type, proto=sock.proto)
            if not infos:
                raise OSError(f"getaddrinfo({address[0]!r}) returned empty list")
            address = infos[0][4] if len(address) <= 2 else (infos[0][4][0],) + tuple(address[1:])
        try:
            sock.connect(address)
            return None
        except _RETRY:
            pass
        return await self._wait_io(sock, True, _connect_result, sock, address)

    async def sock_accept(self, sock):
        """Accepts a connection: `(conn, address)`, `conn` non-blocking."""
        _check_nonblocking(sock)
        try:
            return _accept(sock)
        except _RETRY:
            pass
        return await self._wait_io(sock, False, _accept, sock)

    async def sock_sendfile(self, sock, file, offset=0, count=None, *, fallback=True):
        """Sends `file` over `sock` with os.sendfile, or by reads and sends if it cannot
        (and `fallback`); the number of bytes sent."""
        if sock.type != socket.SOCK_STREAM:
            raise ValueError("only SOCK_STREAM type sockets are supported")
        _check_nonblocking(sock)
        _check_sendfile_params(file, offset, count)
        try:
            return await self._sock_sendfile_native(sock, file, offset, count)
        except exceptions.SendfileNotAvailableError:
            if not fallback:
                raise
        return await self._sock_sendfile_fallback(sock, file, offset, count)

    async def _sock_sendfile_native(self, sock, file, offset, count):
        try:
            fileno = file.fileno()
        except (AttributeError, OSError) as exc:
            raise exceptions.SendfileNotAvailableError("not a regular file") from exc
        try:
            size = os.fstat(fileno).st_size
        except OSError as exc:
            raise exceptions.SendfileNotAvailableError("not a regular file") from exc
        end = size if count is None else min(size, offset + count)
        if offset >= end:
            return 0
        pos = [offset]

        def step():
            n = os.sendfile(sock.fileno(), fileno, pos[0], end - pos[0])
            if n == 0:
                return True  # end of file
            pos[0] += n
            return pos[0] >= end

        try:
            while True:
                try:
                    done = step()
                except _RETRY:
                    await self._wait_io(sock, True, lambda: None)
                    continue
                except OSError as exc:
                    if pos[0] == offset and exc.errno in (_errno.ENOTSOCK, _errno.EINVAL,
                                                          _errno.ENOSYS, _errno.EOPNOTSUPP):
                        raise exceptions.SendfileNotAvailableError(str(exc)) from exc
                    raise
                if done:
                    return pos[0] - offset
        finally:
            if pos[0] > offset:
                file.seek(pos[0])

    async def _sock_sendfile_fallback(self, sock, file, offset, count):
        if offset:
            file.seek(offset)
        blocksize = min(count, 256 * 1024) if count else 256 * 1024
        buf = bytearray(blocksize)
        sent = 0
        try:
            while True:
                if count:
                    blocksize = min(count - sent, blocksize)
                    if blocksize <= 0:
                        break
                view = memoryview(buf)[:blocksize]
                n = await self.run_in_executor(None, file.readinto, view)
                if not n:
                    break
                await self.sock_sendall(sock, view[:n])
                sent += n
            return sent
        finally:
            if sent > 0 and hasattr(file, "seek"):
                file.seek(offset + sent)


def _on(sock, name):
    """A call of `sock.<name>`, looked up at each attempt as asyncio's callbacks do (so that
    a method swapped while a call waits is the one called)."""
    return lambda *args: getattr(sock, name)(*args)


def _connect_result(sock, address):
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err in (_errno.EINPROGRESS, _errno.EALREADY, _errno.EAGAIN):
        raise BlockingIOError(err, os.strerror(err))
    if err != 0:
        raise OSError(err, f"Connect call failed {address}")
    return None


def _accept(sock):
    conn, address = sock.accept()
    conn.setblocking(False)
    return conn, address


def _check_sendfile_params(file, offset, count):
    if "b" not in getattr(file, "mode", "b"):
        raise ValueError("file should be opened in binary mode")
    if not isinstance(offset, int):
        raise TypeError(f"offset must be a non-negative integer (got {offset!r})")
    if offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")
    if count is not None:
        if not isinstance(count, int):
            raise TypeError(f"count must be a positive integer (got {count!r})")
        if count <= 0:
            raise ValueError(f"count must be a positive integer (got {count!r})")


__all__ = ["SockMixin"]
