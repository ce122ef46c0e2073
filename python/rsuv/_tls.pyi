import asyncio
import ssl
from typing import Any, Optional

def check_ssl_args(ssl: Any, ssl_handshake_timeout: Optional[float],
                   ssl_shutdown_timeout: Optional[float]) -> None: ...
def client_context(ssl: Any) -> Optional[ssl.SSLContext]: ...
def ssl_protocol(loop: asyncio.AbstractEventLoop, protocol: asyncio.BaseProtocol,
                 sslcontext: Optional[ssl.SSLContext], waiter: Optional[asyncio.Future], *,
                 server_side: bool, server_hostname: Optional[str] = ...,
                 ssl_handshake_timeout: Optional[float] = ...,
                 ssl_shutdown_timeout: Optional[float] = ...,
                 call_connection_made: bool = ...) -> asyncio.BaseProtocol: ...

class SslTransport(asyncio.Transport):
    """The application's transport of a TLS connection (methods bound to the engine)."""
    _start_tls_compatible: bool
    def __init__(self, loop: asyncio.AbstractEventLoop, tls: Any) -> None: ...
    def write_eof(self) -> None: ...
    def can_write_eof(self) -> bool: ...

class TlsMixin:
    async def start_tls(self, transport: asyncio.BaseTransport,
                        protocol: asyncio.BaseProtocol, sslcontext: ssl.SSLContext, *,
                        server_side: bool = ..., server_hostname: Optional[str] = ...,
                        ssl_handshake_timeout: Optional[float] = ...,
                        ssl_shutdown_timeout: Optional[float] = ...) -> asyncio.Transport: ...
