"""TLS for rsuv.Loop's stream connections, with standard `ssl.SSLContext` objects.

The TLS engine is the standard library's own `asyncio.sslproto.SSLProtocol` (an
`ssl.SSLObject` over two `ssl.MemoryBIO`s) sitting between the Rust stream transport and the
application's protocol, exactly as asyncio's own loops stack it: every option set on the
context keeps working (verification, hostname checks, SNI callbacks, ALPN, sessions, keylog,
post-handshake authentication), and the semantics are those of the running Python's asyncio
(CPython 3.11+'s rewritten `sslproto` on 3.11 and later). The Rust transport underneath
reads straight into `SSLProtocol`'s buffer (it is a `BufferedProtocol` from 3.11 on).
"""
import ssl as _ssl_module
import sys

from asyncio import sslproto

_HAS_SHUTDOWN_TIMEOUT = sys.version_info >= (3, 11)


def check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout):
    """asyncio's checks of the TLS arguments of a connection or a server."""
    if ssl_handshake_timeout is not None and not ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and not ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and not _HAS_SHUTDOWN_TIMEOUT:
        raise TypeError("ssl_shutdown_timeout needs Python 3.11 or later")


def ssl_protocol(loop, protocol, sslcontext, waiter, *, server_side, server_hostname=None,
                 ssl_handshake_timeout=None, ssl_shutdown_timeout=None,
                 call_connection_made=True):
    """An `SSLProtocol` over `protocol` (None for the context: asyncio's default one)."""
    kwargs = {"ssl_handshake_timeout": ssl_handshake_timeout,
              "call_connection_made": call_connection_made}
    if _HAS_SHUTDOWN_TIMEOUT:
        kwargs["ssl_shutdown_timeout"] = ssl_shutdown_timeout
    return sslproto.SSLProtocol(loop, protocol, sslcontext, waiter, server_side,
                                server_hostname, **kwargs)


def client_context(ssl):
    """The context for `create_connection(ssl=...)`: None (asyncio's default) for `True`."""
    return None if isinstance(ssl, bool) else ssl


class TlsMixin:
    """`start_tls` and the TLS half of connections and servers for rsuv.Loop."""

    def _make_ssl_transport(self, sock, protocol, sslcontext, waiter=None, *,
                            server_side=False, server_hostname=None, extra=None, server=None,
                            ssl_handshake_timeout=None, ssl_shutdown_timeout=None,
                            keep_sock=False):
        """The raw transport under an `SSLProtocol`; returns the application's transport."""
        tls = ssl_protocol(self, protocol, sslcontext, waiter, server_side=server_side,
                           server_hostname=server_hostname,
                           ssl_handshake_timeout=ssl_handshake_timeout,
                           ssl_shutdown_timeout=ssl_shutdown_timeout)
        self._make_socket_transport(sock, tls, extra=extra, server=server, keep_sock=keep_sock)
        return tls._app_transport

    async def start_tls(self, transport, protocol, sslcontext, *, server_side=False,
                        server_hostname=None, ssl_handshake_timeout=None,
                        ssl_shutdown_timeout=None):
        """Upgrades `transport` to TLS; returns the transport `protocol` uses from now on."""
        if not isinstance(sslcontext, _ssl_module.SSLContext):
            raise TypeError(f"sslcontext is expected to be an instance of ssl.SSLContext, "
                            f"got {sslcontext!r}")
        if not getattr(transport, "_start_tls_compatible", False):
            raise TypeError(f"transport {transport!r} is not supported by start_tls()")
        check_ssl_args(sslcontext, ssl_handshake_timeout, ssl_shutdown_timeout)
        waiter = self.create_future()
        tls = ssl_protocol(self, protocol, sslcontext, waiter, server_side=server_side,
                           server_hostname=server_hostname,
                           ssl_handshake_timeout=ssl_handshake_timeout,
                           ssl_shutdown_timeout=ssl_shutdown_timeout,
                           call_connection_made=False)
        # Paused first, so that no data reaches the TLS protocol before connection_made.
        transport.pause_reading()
        transport.set_protocol(tls)
        made = self.call_soon(tls.connection_made, transport)
        resumed = self.call_soon(transport.resume_reading)
        try:
            await waiter
        except BaseException:
            transport.close()
            made.cancel()
            resumed.cancel()
            raise
        return tls._app_transport


__all__ = ["TlsMixin", "check_ssl_args", "client_context"]
