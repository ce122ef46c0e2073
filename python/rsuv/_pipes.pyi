import asyncio
from typing import Any, Callable, Optional, Tuple

class ReadPipeTransport(asyncio.ReadTransport):
    def __init__(self, loop: Any, pipe: Any, protocol: asyncio.BaseProtocol,
                 waiter: Optional[asyncio.Future] = ..., extra: Optional[dict] = ...) -> None: ...

class WritePipeTransport(asyncio.WriteTransport):
    def __init__(self, loop: Any, pipe: Any, protocol: asyncio.BaseProtocol,
                 waiter: Optional[asyncio.Future] = ..., extra: Optional[dict] = ...) -> None: ...

class PipeMixin:
    async def connect_read_pipe(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
                                pipe: Any) -> Tuple[ReadPipeTransport, Any]: ...
    async def connect_write_pipe(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
                                 pipe: Any) -> Tuple[WritePipeTransport, Any]: ...
