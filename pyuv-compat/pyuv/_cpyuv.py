"""pyuv's core classes and constants, from rsuv's extension."""

from rsuv._rsuv import _pyuv as _c

__all__ = [n for n in dir(_c) if not n.startswith("_") and n not in (
    "dns", "errno", "error", "fs", "thread", "util")]
globals().update({n: getattr(_c, n) for n in __all__})
