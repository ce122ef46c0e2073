"""rsuv: a fast asyncio event loop on libuv, with its core in Rust.

A drop-in replacement for uvloop::

    import rsuv
    rsuv.run(main())                                   # or:
    asyncio.Runner(loop_factory=rsuv.new_event_loop)   # or:
    asyncio.set_event_loop_policy(rsuv.EventLoopPolicy())
"""

import asyncio as _asyncio
import sys as _sys

if getattr(_sys, "_is_gil_enabled", lambda: True)() is False:
    raise ImportError("rsuv needs the GIL: free-threaded CPython with the GIL disabled "
                      "is not supported yet")

from . import _rsuv
from ._loop import Loop
from ._rsuv import Handle, TimerHandle

__version__ = _rsuv.__version__
__all__ = ("Loop", "Handle", "TimerHandle", "new_event_loop", "EventLoopPolicy", "install",
           "run", "libuv_version")


def libuv_version():
    """The version of the libuv rsuv links (statically), as ``(major, minor, patch)``."""
    return _rsuv.libuv_version()


def new_event_loop():
    """A new rsuv event loop."""
    return Loop()


class EventLoopPolicy(_asyncio.DefaultEventLoopPolicy):
    """The default policy, making rsuv loops (``asyncio.set_event_loop_policy``)."""

    def _loop_factory(self):
        return new_event_loop()

    def __repr__(self):
        return f"<{type(self).__name__}>"


def install():
    """Makes rsuv the loop of ``asyncio.run`` and ``asyncio.new_event_loop()``."""
    _asyncio.set_event_loop_policy(EventLoopPolicy())


def run(main, *, debug=None, **run_kwargs):
    """Runs coroutine `main` on a new rsuv loop, as ``asyncio.run`` does, and returns its
    result."""
    if _asyncio.events._get_running_loop() is not None:
        raise RuntimeError("asyncio.run() cannot be called from a running event loop")
    if not _asyncio.iscoroutine(main):
        raise ValueError(f"a coroutine was expected, got {main!r}")
    if _sys.version_info >= (3, 12):
        return _asyncio.run(main, loop_factory=new_event_loop, debug=debug, **run_kwargs)
    if _sys.version_info >= (3, 11):
        if run_kwargs:
            raise TypeError(f"unexpected keyword arguments {sorted(run_kwargs)}")
        with _asyncio.Runner(loop_factory=new_event_loop, debug=debug) as runner:
            return runner.run(main)
    from ._run_legacy import run as _run
    return _run(main, debug=debug, **run_kwargs)
