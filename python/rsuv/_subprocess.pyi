import asyncio
from typing import Any, Callable, Tuple, Union

class SubprocessTransport(asyncio.SubprocessTransport): ...

class SubprocessMixin:
    async def subprocess_exec(self, protocol_factory: Callable[[], asyncio.SubprocessProtocol],
                              program: Any, *args: Any, stdin: Any = ..., stdout: Any = ...,
                              stderr: Any = ..., universal_newlines: bool = ...,
                              shell: bool = ..., bufsize: int = ..., encoding: Any = ...,
                              errors: Any = ..., text: Any = ...,
                              **kwargs: Any) -> Tuple[SubprocessTransport, Any]: ...
    async def subprocess_shell(self, protocol_factory: Callable[[], asyncio.SubprocessProtocol],
                               cmd: Union[str, bytes], *, stdin: Any = ..., stdout: Any = ...,
                               stderr: Any = ..., universal_newlines: bool = ...,
                               shell: bool = ..., bufsize: int = ..., encoding: Any = ...,
                               errors: Any = ..., text: Any = ...,
                               **kwargs: Any) -> Tuple[SubprocessTransport, Any]: ...
