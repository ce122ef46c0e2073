import asyncio
from typing import Any, Optional

class SendfileMixin:
    async def sendfile(self, transport: asyncio.WriteTransport, file: Any, offset: int = ...,
                       count: Optional[int] = ..., *, fallback: bool = ...) -> int: ...
