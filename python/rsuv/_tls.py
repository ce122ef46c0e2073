"""TLS for rsuv.Loop's stream connections, with standard `ssl.SSLContext` objects.

The engine is Rust (`rsuv._rsuv.TlsProtocol`, src/python/tls_proto.rs): CPython 3.11+'s
`asyncio.sslproto` state machine over the standard `ssl.SSLObject` and its two
`ssl.MemoryBIO`s, so every option set on the context keeps working (verification, hostname
checks, SNI callbacks, ALPN, sessions, keylog, post-handshake authentication), on every
supported Python. The socket's Rust transport hands it ciphertext with no Python object in
between, and no Python frame runs per record. `SslTransport` is the `asyncio.Transport` the
application sees; its methods are the engine's, bound per instance.
"""
import ssl as _ssl_module
import warnings

import asyncio
from asyncio import constants

from . import _rsuv

def check_ssl_args(ssl, ssl_handshake_timeout, ssl_shutdown_timeout):
    """asyncio's checks of the TLS arguments of a connection or a server."""
    if ssl_handshake_timeout is not None and not ssl:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    if ssl_shutdown_timeout is not None and not ssl:
        raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")


def _timeout(value, default, name):
    if value is None:
        return default
    if value <= 0:
        raise ValueError(f"{name} should be a positive number, got {value}")
    return float(value)


def ssl_protocol(loop, protocol, sslcontext, waiter, *, server_side, server_hostname=None,
                 ssl_handshake_timeout=None, ssl_shutdown_timeout=None,
                 call_connection_made=True):
    """The TLS engine over `protocol` (`sslcontext` None: asyncio's default client context),
    with its application transport made."""
    hs = _timeout(ssl_handshake_timeout, constants.SSL_HANDSHAKE_TIMEOUT,
                  "ssl_handshake_timeout")
    sd = _timeout(ssl_shutdown_timeout, getattr(constants, "SSL_SHUTDOWN_TIMEOUT", 30.0),
                  "ssl_shutdown_timeout")
    if not sslcontext:
        if server_side:
            raise ValueError("Server side SSL needs a valid SSLContext")
        sslcontext = _ssl_module.create_default_context()
        if not server_hostname:
            sslcontext.check_hostname = False
    if not server_hostname or server_side:
        server_hostname = None
    incoming, outgoing = _ssl_module.MemoryBIO(), _ssl_module.MemoryBIO()
    sslobj = sslcontext.wrap_bio(incoming, outgoing, server_side=server_side,
                                 server_hostname=server_hostname)
    tls = _rsuv.TlsProtocol(loop, protocol, sslcontext, sslobj, incoming, outgoing, waiter,
                            call_connection_made, hs, sd)
    tls._init_app_transport(SslTransport(loop, tls))
    return tls


class SslTransport(asyncio.Transport):
    """The application's transport of a TLS connection on an rsuv loop."""

    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.FALLBACK

    def __init__(self, loop, tls):
        self._loop = loop
        self._ssl_protocol = tls
        for name in ("write", "writelines", "is_closing", "close", "abort", "_force_close",
                     "is_reading", "pause_reading", "resume_reading",
                     "set_write_buffer_limits", "get_write_buffer_limits",
                     "get_write_buffer_size", "set_read_buffer_limits",
                     "get_read_buffer_limits", "get_read_buffer_size", "get_extra_info",
                     "set_protocol", "get_protocol", "_test__append_write_backlog"):
            setattr(self, name, getattr(tls, name))

    def __del__(self, _warn=warnings.warn):
        tls = getattr(self, "_ssl_protocol", None)
        if tls is not None and not tls.is_closing():
            tls._mark_closed()
            _warn("unclosed transport <asyncio._SSLProtocolTransport object>",
                  ResourceWarning)

    def __repr__(self):
        state = "closing" if self._ssl_protocol.is_closing() else "open"
        return f"<{type(self).__name__} {state}>"

    @property
    def _protocol_paused(self):
        # What loop.sendfile's fallback reads for flow control.
        return self._ssl_protocol._app_writing_paused

    def write_eof(self):
        # asyncio's own SSL transport refuses half-closes the same way (sslproto.py):
        # TLS has no half-close; can_write_eof() says so.
        raise NotImplementedError("SSL doesn't support half-closes")

    def can_write_eof(self):
        return False


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


__all__ = ["TlsMixin", "SslTransport", "check_ssl_args", "client_context"]
