"""TCP and Unix connections and servers of rsuv.Loop, on the Rust stream transports.

`create_connection` resolves (numeric hosts without a thread), tries the addresses in turn
or races them (`happy_eyeballs_delay`, asyncio's staggered race), connects with
`sock_connect` and hands the socket to a `StreamTransport`. Servers listen on non-blocking
sockets watched by the core's `add_reader`; each connection accepted gets its transport at
once. `Server` has 3.13's semantics on every Python: `close_clients`, `abort_clients`, and
`wait_closed` that waits for the connections to be gone.
"""
import collections
import collections.abc
import errno
import functools
import itertools
import os
import socket
import stat
import sys
import weakref

from asyncio import base_events, events, exceptions, staggered, tasks, trsock
from asyncio.log import logger

from ._tls import check_ssl_args, client_context
from ._transports import StreamTransport, when_made

_ACCEPT_RETRY_DELAY = 1.0  # seconds, after EMFILE and friends (asyncio's)
_HAS_IPV6 = hasattr(socket, "AF_INET6")


def _interleave(infos, first_family_count=1):
    """Orders address infos alternating between families (RFC 8305), the first family's
    first `first_family_count` addresses first."""
    by_family = collections.OrderedDict()
    for info in infos:
        by_family.setdefault(info[0], []).append(info)
    lists = list(by_family.values())
    out = []
    if first_family_count > 1 and lists:
        out.extend(lists[0][:first_family_count - 1])
        lists[0] = lists[0][first_family_count - 1:]
    out.extend(a for a in itertools.chain.from_iterable(itertools.zip_longest(*lists))
               if a is not None)
    return out


class Server(events.AbstractServer):
    """A listening server (what `create_server` and `create_unix_server` return)."""

    def __init__(self, loop, sockets, protocol_factory, backlog, tls=None):
        self._loop = loop
        self._tls = tls  # (context, handshake timeout, shutdown timeout) of a TLS server
        self._sockets = sockets
        self._clients = weakref.WeakSet()
        self._waiters = []
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._serving = False
        self._serving_forever_fut = None

    def __repr__(self):
        return f"<{type(self).__name__} sockets={self.sockets!r}>"

    def _attach(self, transport):
        self._clients.add(transport)

    def _detach(self, transport):
        self._clients.discard(transport)
        if not self._clients and self._sockets is None:
            self._wakeup()

    def _wakeup(self):
        waiters, self._waiters = self._waiters, None
        for w in waiters or ():
            if not w.done():
                w.set_result(None)

    def _start_serving(self):
        if self._serving:
            return
        self._serving = True
        for sock in self._sockets:
            sock.listen(self._backlog)
            self._loop._start_serving(self._protocol_factory, sock, self, self._backlog)

    def get_loop(self):
        return self._loop

    def is_serving(self):
        return self._serving

    @property
    def sockets(self):
        if self._sockets is None:
            return ()
        return tuple(trsock.TransportSocket(s) for s in self._sockets)

    def close(self):
        sockets, self._sockets = self._sockets, None
        if sockets is None:
            return
        for sock in sockets:
            self._loop._stop_serving(sock)
        self._serving = False
        fut, self._serving_forever_fut = self._serving_forever_fut, None
        if fut is not None and not fut.done():
            fut.cancel()
        if not self._clients:
            self._wakeup()

    def close_clients(self):
        for transport in list(self._clients):
            transport.close()

    def abort_clients(self):
        for transport in list(self._clients):
            transport.abort()

    async def start_serving(self):
        self._start_serving()
        await tasks.sleep(0)  # the listening descriptors are watched from the next iteration

    async def serve_forever(self):
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except exceptions.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    async def wait_closed(self):
        """Waits until the server is closed and every connection it accepted is gone."""
        if self._waiters is None:
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter


class NetMixin:
    """Connections and servers for rsuv.Loop."""

    def _make_socket_transport(self, sock, protocol, waiter=None, *, extra=None, server=None,
                               keep_sock=False):
        return StreamTransport(self, sock, protocol, waiter, extra, server, keep_sock)

    async def _ensure_resolved(self, address, *, family=0, type=socket.SOCK_STREAM, proto=0,
                               flags=0):
        host, port = address[:2]
        infos = await self.getaddrinfo(host, port, family=family, type=type, proto=proto,
                                       flags=flags)
        if len(address) > 2:  # IPv6 flowinfo and scope id given: kept
            infos = [(f, t, p, c, (sa[0], sa[1]) + tuple(address[2:4]))
                     if f == socket.AF_INET6 else (f, t, p, c, sa)
                     for f, t, p, c, sa in infos]
        return infos

    async def _connect_sock(self, exceptions_, addr_info, local_addr_infos=None):
        """One connection attempt: a socket of `addr_info`'s family, bound to a matching
        local address if asked, connected. Its errors are appended to `exceptions_`."""
        mine = []
        exceptions_.append(mine)
        family, type_, proto, _, address = addr_info
        sock = None
        try:
            sock = socket.socket(family=family, type=type_, proto=proto)
            sock.setblocking(False)
            if local_addr_infos is not None:
                for lfamily, _, _, _, laddr in local_addr_infos:
                    if lfamily != family:
                        continue
                    try:
                        sock.bind(laddr)
                        break
                    except OSError as exc:
                        msg = (f"error while attempting to bind on address {laddr!r}: "
                               f"{str(exc.strerror).lower()}")
                        mine.append(OSError(exc.errno, msg))
                else:
                    if mine:
                        raise mine.pop()
                    raise OSError(f"no matching local address with family={family} found")
            await self.sock_connect(sock, address)
            return sock
        except OSError as exc:
            mine.append(exc)
            if sock is not None:
                sock.close()
            raise
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        finally:
            exceptions_ = mine = None

    async def create_connection(self, protocol_factory, host=None, port=None, *, ssl=None,
                                family=0, proto=0, flags=0, sock=None, local_addr=None,
                                server_hostname=None, ssl_handshake_timeout=None,
                                ssl_shutdown_timeout=None, happy_eyeballs_delay=None,
                                interleave=None, all_errors=False):
        """Connects to `host:port` (or wraps the connected `sock`): `(transport, protocol)`."""
        if server_hostname is not None and not ssl:
            raise ValueError("server_hostname is only meaningful with ssl")
        if server_hostname is None and ssl:
            if not host:
                raise ValueError("You must set server_hostname when using ssl without a host")
            server_hostname = host
        check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        tls = None
        if ssl:
            tls = (client_context(ssl), server_hostname, ssl_handshake_timeout,
                   ssl_shutdown_timeout)
        if happy_eyeballs_delay is not None and interleave is None:
            interleave = 1  # RFC 8305's default when racing
        if host is not None or port is not None:
            if sock is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            sock = await self._connect_any(host, port, family, proto, flags, local_addr,
                                           happy_eyeballs_delay, interleave, all_errors)
            return await self._connection_transport(sock, protocol_factory, tls=tls)
        if sock is None:
            raise ValueError("host and port was not specified and no sock specified")
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        return await self._connection_transport(sock, protocol_factory, keep_sock=True,
                                                tls=tls)

    async def _connect_any(self, host, port, family, proto, flags, local_addr, delay,
                           interleave, all_errors):
        infos = await self._ensure_resolved((host, port), family=family,
                                            type=socket.SOCK_STREAM, proto=proto, flags=flags)
        if not infos:
            raise OSError("getaddrinfo() returned empty list")
        laddr_infos = None
        if local_addr is not None:
            laddr_infos = await self._ensure_resolved(local_addr, family=family,
                                                      type=socket.SOCK_STREAM, proto=proto,
                                                      flags=flags)
            if not laddr_infos:
                raise OSError("getaddrinfo() returned empty list")
        if interleave:
            infos = _interleave(infos, interleave)
        errors = []
        sock = None
        if delay is None:
            for info in infos:
                try:
                    sock = await self._connect_sock(errors, info, laddr_infos)
                    break
                except OSError:
                    continue
        else:
            sock, _, _ = await staggered.staggered_race(
                (functools.partial(self._connect_sock, errors, info, laddr_infos)
                 for info in infos), delay, loop=self)
        if sock is not None:
            return sock
        flat = [exc for group in errors for exc in group]
        try:
            if all_errors:
                raise ExceptionGroup("create_connection failed", flat)  # noqa: F821 (3.11+)
            if len(flat) == 1 or all(str(e) == str(flat[0]) for e in flat):
                raise flat[0]
            raise OSError("Multiple exceptions: {}".format(", ".join(str(e) for e in flat)))
        finally:
            flat = errors = None

    async def _connection_transport(self, sock, protocol_factory, extra=None, keep_sock=False,
                                    tls=None, server_side=False):
        """The transport of a connected `sock`, once ready: with `tls` (context, server
        hostname, handshake and shutdown timeouts), once the handshake is done."""
        sock.setblocking(False)
        waiter = self.create_future()
        try:
            protocol = protocol_factory()
            if tls is None:
                transport = self._make_socket_transport(sock, protocol, waiter, extra=extra,
                                                        keep_sock=keep_sock)
            else:
                context, hostname, hs_timeout, sd_timeout = tls
                transport = self._make_ssl_transport(
                    sock, protocol, context, waiter, server_side=server_side,
                    server_hostname=hostname, extra=extra, ssl_handshake_timeout=hs_timeout,
                    ssl_shutdown_timeout=sd_timeout, keep_sock=keep_sock)
        except BaseException:
            if not keep_sock:
                sock.close()  # connected here, for a transport that could not be made
            raise
        return await when_made(transport, protocol, waiter)

    async def connect_accepted_socket(self, protocol_factory, sock, *, ssl=None,
                                      ssl_handshake_timeout=None, ssl_shutdown_timeout=None):
        """Wraps a connection accepted elsewhere: `(transport, protocol)`."""
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        tls = None
        if ssl:
            tls = (ssl, None, ssl_handshake_timeout, ssl_shutdown_timeout)
        return await self._connection_transport(sock, protocol_factory, keep_sock=True,
                                                tls=tls, server_side=True)

    async def create_server(self, protocol_factory, host=None, port=None, *,
                            family=socket.AF_UNSPEC, flags=socket.AI_PASSIVE, sock=None,
                            backlog=100, ssl=None, reuse_address=None, reuse_port=None,
                            keep_alive=None, ssl_handshake_timeout=None,
                            ssl_shutdown_timeout=None, start_serving=True):
        """A TCP server on `host:port` (several hosts, every address of each) or `sock`."""
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        tls = (ssl, ssl_handshake_timeout, ssl_shutdown_timeout) if ssl else None
        if host is not None or port is not None:
            if sock is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            if reuse_address is None:
                reuse_address = os.name == "posix" and sys.platform != "cygwin"
            sockets = await self._bound_sockets(host, port, family, flags, reuse_address,
                                                reuse_port, keep_alive)
        else:
            if sock is None:
                raise ValueError("Neither host/port nor sock were specified")
            if sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A Stream Socket was expected, got {sock!r}")
            sockets = [sock]
        for s in sockets:
            s.setblocking(False)
        server = Server(self, sockets, protocol_factory, backlog, tls)
        if start_serving:
            server._start_serving()
            await tasks.sleep(0)
        return server

    async def _bound_sockets(self, host, port, family, flags, reuse_address, reuse_port,
                             keep_alive):
        if host == "":
            hosts = [None]
        elif isinstance(host, str) or not isinstance(host, collections.abc.Iterable):
            hosts = [host]
        else:
            hosts = host
        resolved = await tasks.gather(*[self._server_infos(h, port, family, flags)
                                        for h in hosts])
        infos = set(itertools.chain.from_iterable(resolved))
        # The socket module as asyncio.base_events sees it (a test may patch that one).
        sm = base_events.socket
        sockets = []
        try:
            for af, socktype, proto, _, sa in infos:
                try:
                    sock = sm.socket(af, socktype, proto)
                except OSError:
                    continue  # a family this host cannot make sockets of
                sockets.append(sock)
                if reuse_address:
                    sock.setsockopt(sm.SOL_SOCKET, sm.SO_REUSEADDR, True)
                if reuse_port:
                    if not hasattr(socket, "SO_REUSEPORT"):
                        raise ValueError("reuse_port not supported by socket module")
                    sock.setsockopt(sm.SOL_SOCKET, sm.SO_REUSEPORT, True)
                if keep_alive:
                    sock.setsockopt(sm.SOL_SOCKET, sm.SO_KEEPALIVE, True)
                if _HAS_IPV6 and af == sm.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                    sock.setsockopt(sm.IPPROTO_IPV6, sm.IPV6_V6ONLY, True)
                try:
                    sock.bind(sa)
                except OSError as err:
                    if err.errno == errno.EADDRNOTAVAIL:
                        sock.close()  # e.g. an IPv6 address the host does not have
                        sockets.remove(sock)
                        continue
                    msg = (f"error while attempting to bind on address {sa!r}: "
                           f"{str(err.strerror).lower()}")
                    raise OSError(err.errno, msg) from None
            if not sockets:
                raise OSError(f"could not bind on any address out of "
                              f"{[info[4] for info in infos]!r}")
        except BaseException:
            for s in sockets:
                s.close()
            raise
        return sockets

    async def _server_infos(self, host, port, family, flags):
        infos = await self._ensure_resolved((host, port), family=family,
                                            type=socket.SOCK_STREAM, flags=flags)
        if not infos:
            raise OSError(f"getaddrinfo({host!r}) returned empty list")
        return infos

    def _start_serving(self, protocol_factory, sock, server, backlog=100):
        self.add_reader(sock.fileno(), self._accept_connections, protocol_factory, sock,
                        server, backlog)

    def _stop_serving(self, sock):
        self.remove_reader(sock.fileno())
        path = self._unix_paths().pop(sock, None)
        if path is not None:
            _remove_unix_socket(*path)
        sock.close()

    def _accept_connections(self, protocol_factory, sock, server, backlog):
        for _ in range(backlog):
            try:
                conn, addr = sock.accept()
                conn.setblocking(False)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors or memory: stop accepting for a while.
                    self.call_exception_handler({
                        "message": "socket.accept() out of system resource",
                        "exception": exc,
                        "socket": trsock.TransportSocket(sock),
                    })
                    self.remove_reader(sock.fileno())
                    self.call_later(_ACCEPT_RETRY_DELAY, self._resume_accepting,
                                    protocol_factory, sock, server, backlog)
                    return
                raise
            self._accepted(protocol_factory, conn, addr, server)

    def _resume_accepting(self, protocol_factory, sock, server, backlog):
        if server.is_serving() and sock.fileno() >= 0:
            self._start_serving(protocol_factory, sock, server, backlog)

    def _accepted(self, protocol_factory, conn, addr, server):
        if server._tls is not None:
            self.create_task(self._accepted_tls(protocol_factory, conn, addr, server))
            return
        try:
            protocol = protocol_factory()
            self._make_socket_transport(conn, protocol, extra={"peername": addr},
                                        server=server)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            conn.close()
            self.call_exception_handler({
                "message": "Error on transport creation for incoming connection",
                "exception": exc,
            })

    async def _accepted_tls(self, protocol_factory, conn, addr, server):
        """A TLS connection accepted: its handshake runs here; a failure closes it (and is
        reported in debug mode), as asyncio's servers do."""
        protocol = transport = None
        context, hs_timeout, sd_timeout = server._tls
        try:
            protocol = protocol_factory()
            waiter = self.create_future()
            transport = self._make_ssl_transport(
                conn, protocol, context, waiter, server_side=True, extra={"peername": addr},
                server=server, ssl_handshake_timeout=hs_timeout, ssl_shutdown_timeout=sd_timeout)
            try:
                await waiter
            except BaseException:
                transport.close()
                waiter = None  # the exception it holds would keep the protocol alive
                raise
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            if transport is None:
                conn.close()
            if self.get_debug():
                context = {"message": "Error on transport creation for incoming connection",
                           "exception": exc}
                if protocol is not None:
                    context["protocol"] = protocol
                if transport is not None:
                    context["transport"] = transport
                self.call_exception_handler(context)

    # --- Unix sockets ------------------------------------------------------------------

    def _unix_paths(self):
        try:
            return self._unix_server_paths
        except AttributeError:
            self._unix_server_paths = {}
            return self._unix_server_paths

    async def create_unix_connection(self, protocol_factory, path=None, *, ssl=None,
                                     sock=None, server_hostname=None,
                                     ssl_handshake_timeout=None, ssl_shutdown_timeout=None):
        """Connects to the Unix socket at `path` (or wraps `sock`)."""
        tls = None
        if ssl:
            if server_hostname is None:
                raise ValueError("you have to pass server_hostname when using ssl")
            tls = (client_context(ssl), server_hostname, ssl_handshake_timeout,
                   ssl_shutdown_timeout)
        elif server_hostname is not None:
            raise ValueError("server_hostname is only meaningful with ssl")
        check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
            try:
                sock.setblocking(False)
                await self.sock_connect(sock, path)
            except BaseException:
                sock.close()
                raise
            return await self._connection_transport(sock, protocol_factory, tls=tls)
        if sock is None:
            raise ValueError("no path and sock were specified")
        if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
        return await self._connection_transport(sock, protocol_factory, keep_sock=True,
                                                tls=tls)

    async def create_unix_server(self, protocol_factory, path=None, *, sock=None, backlog=100,
                                 ssl=None, ssl_handshake_timeout=None,
                                 ssl_shutdown_timeout=None, start_serving=True,
                                 cleanup_socket=True):
        """A server on the Unix socket `path` (a file, or an abstract name starting with a
        NUL) or `sock`. With `cleanup_socket`, the socket file is removed on close if it is
        still the one bound."""
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
        tls = (ssl, ssl_handshake_timeout, ssl_shutdown_timeout) if ssl else None
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            sock = _bound_unix_socket(path)
        else:
            if sock is None:
                raise ValueError("path was not specified, and no sock specified")
            if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
        if cleanup_socket:
            name = sock.getsockname()
            if isinstance(name, str) and name and not name.startswith("\0"):
                try:
                    self._unix_paths()[sock] = (name, os.stat(name).st_ino)
                except FileNotFoundError:
                    pass
        sock.setblocking(False)
        server = Server(self, [sock], protocol_factory, backlog, tls)
        if start_serving:
            server._start_serving()
            await tasks.sleep(0)
        return server


def _bound_unix_socket(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    remove_stale_unix_socket(path)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise OSError(errno.EADDRINUSE, f"Address {path!r} is already in use") from None
        raise
    except BaseException:
        sock.close()
        raise
    return sock


def remove_stale_unix_socket(path):
    """Removes the socket file an earlier server left at `path` (not an abstract name, not a
    file of another kind)."""
    if path[:1] in ("\0", b"\0"):
        return
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        logger.error("Unable to check or remove stale UNIX socket %r: %r", path, err)


def _remove_unix_socket(path, inode):
    try:
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        logger.error("Unable to clean up listening UNIX socket %r: %r", path, err)


__all__ = ["NetMixin", "Server"]
