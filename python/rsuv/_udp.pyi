import asyncio
import socket
from typing import Any, Callable, Optional

class DatagramTransport(asyncio.Transport, asyncio.DatagramTransport):
    max_size: int
    def sendto(self, data: Any, addr: Any = ...) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def get_write_buffer_limits(self) -> tuple: ...
    def set_write_buffer_limits(self, high: Optional[int] = ..., low: Optional[int] = ...) -> None: ...

class DatagramMixin:
    async def create_datagram_endpoint(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
                                       local_addr: Any = ..., remote_addr: Any = ..., *,
                                       family: int = ..., proto: int = ..., flags: int = ...,
                                       reuse_address: Any = ..., reuse_port: Optional[bool] = ...,
                                       allow_broadcast: Optional[bool] = ...,
                                       sock: Optional[socket.socket] = ...) -> tuple: ...
