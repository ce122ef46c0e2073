import asyncio
import socket
from typing import Any, Callable, Iterable, Optional, Union

class Server(asyncio.AbstractServer):
    def get_loop(self) -> Any: ...
    def is_serving(self) -> bool: ...
    @property
    def sockets(self) -> tuple: ...
    def close(self) -> None: ...
    def close_clients(self) -> None: ...
    def abort_clients(self) -> None: ...
    async def start_serving(self) -> None: ...
    async def serve_forever(self) -> None: ...
    async def wait_closed(self) -> None: ...

class NetMixin:
    async def create_connection(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
                                host: Optional[str] = ..., port: Optional[int] = ..., *,
                                ssl: Any = ..., family: int = ..., proto: int = ...,
                                flags: int = ..., sock: Optional[socket.socket] = ...,
                                local_addr: Optional[tuple] = ...,
                                server_hostname: Optional[str] = ...,
                                ssl_handshake_timeout: Optional[float] = ...,
                                ssl_shutdown_timeout: Optional[float] = ...,
                                happy_eyeballs_delay: Optional[float] = ...,
                                interleave: Optional[int] = ...,
                                all_errors: bool = ...) -> tuple: ...
    async def connect_accepted_socket(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
                                      sock: socket.socket, *, ssl: Any = ...,
                                      ssl_handshake_timeout: Optional[float] = ...,
                                      ssl_shutdown_timeout: Optional[float] = ...) -> tuple: ...
    async def create_server(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
                            host: Union[str, Iterable[str], None] = ..., port: Optional[int] = ...,
                            *, family: int = ..., flags: int = ...,
                            sock: Optional[socket.socket] = ..., backlog: int = ...,
                            ssl: Any = ..., reuse_address: Optional[bool] = ...,
                            reuse_port: Optional[bool] = ..., keep_alive: Optional[bool] = ...,
                            ssl_handshake_timeout: Optional[float] = ...,
                            ssl_shutdown_timeout: Optional[float] = ...,
                            start_serving: bool = ...) -> Server: ...
    async def create_unix_connection(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
                                     path: Optional[str] = ..., *, ssl: Any = ...,
                                     sock: Optional[socket.socket] = ...,
                                     server_hostname: Optional[str] = ...,
                                     ssl_handshake_timeout: Optional[float] = ...,
                                     ssl_shutdown_timeout: Optional[float] = ...) -> tuple: ...
    async def create_unix_server(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
                                 path: Optional[str] = ..., *, sock: Optional[socket.socket] = ...,
                                 backlog: int = ..., ssl: Any = ...,
                                 ssl_handshake_timeout: Optional[float] = ...,
                                 ssl_shutdown_timeout: Optional[float] = ...,
                                 start_serving: bool = ...,
                                 cleanup_socket: bool = ...) -> Server: ...
