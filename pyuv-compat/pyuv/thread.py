"""pyuv.thread, from rsuv's extension."""

from rsuv._rsuv import _pyuv as _c

_m = _c.thread
__all__ = [n for n in dir(_m) if not n.startswith("_")]
globals().update({n: getattr(_m, n) for n in __all__})
del _c, _m
