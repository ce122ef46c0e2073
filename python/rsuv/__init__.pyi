import asyncio
from typing import Any, Coroutine, Tuple, TypeVar

from ._loop import Loop as Loop
from ._rsuv import Handle as Handle, TimerHandle as TimerHandle

_T = TypeVar("_T")

__version__: str

def libuv_version() -> Tuple[int, int, int]: ...
def new_event_loop() -> Loop: ...
def install() -> None: ...
def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = ..., **run_kwargs: Any) -> _T: ...

class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    def _loop_factory(self) -> Loop: ...
