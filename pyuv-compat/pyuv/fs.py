"""pyuv.fs, from rsuv's extension."""

from rsuv._rsuv import _pyuv as _c

_m = getattr(_c, "fs", None)
__all__ = [n for n in dir(_m) if not n.startswith("_")] if _m is not None else []
globals().update({n: getattr(_m, n) for n in __all__})
del _c, _m
