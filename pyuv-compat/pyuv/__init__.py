"""pyuv 1.4's API on rsuv's libuv (see the package README for the differences)."""

from rsuv._rsuv import _pyuv as _c

from . import dns, errno, error, fs, thread, util  # noqa: F401  (pyuv's submodules)
from ._cpyuv import *  # noqa: F401,F403
from ._cpyuv import __all__ as _all

__version__ = "1.4.0"
__implementation__ = "rsuv"
__all__ = list(_all) + ["dns", "errno", "error", "fs", "thread", "util"]
del _c, _all
