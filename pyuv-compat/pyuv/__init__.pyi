"""Stubs of pyuv 1.4's API on rsuv (the ``pyuv`` package of pyuv-compat)."""

from . import dns as dns, errno as errno, error as error, fs as fs, thread as thread, util as util
from ._cpyuv import *

__all__ = [
    "Async", "Check", "FSRequest", "GAIRequest", "GNIRequest", "Handle", "Idle",
    "LIBUV_VERSION", "Loop", "Pipe", "Poll", "Prepare", "Process", "Request", "Signal", "StdIO",
    "Stream", "TCP", "TLS", "TTY", "Timer", "UDP", "UV_ASYNC", "UV_CHECK", "UV_CREATE_PIPE",
    "UV_DISCONNECT", "UV_FILE", "UV_FS_EVENT", "UV_FS_POLL", "UV_HANDLE", "UV_IDLE",
    "UV_IGNORE", "UV_INHERIT_FD", "UV_INHERIT_STREAM", "UV_JOIN_GROUP", "UV_LEAVE_GROUP",
    "UV_NAMED_PIPE", "UV_POLL", "UV_PREPARE", "UV_PRIORITIZED", "UV_PROCESS",
    "UV_PROCESS_DETACHED", "UV_PROCESS_SETGID", "UV_PROCESS_SETUID", "UV_PROCESS_WINDOWS_HIDE",
    "UV_PROCESS_WINDOWS_VERBATIM_ARGUMENTS", "UV_READABLE", "UV_READABLE_PIPE",
    "UV_RUN_DEFAULT", "UV_RUN_NOWAIT", "UV_RUN_ONCE", "UV_SIGNAL", "UV_STREAM", "UV_TCP",
    "UV_TCP_IPV6ONLY", "UV_TIMER", "UV_TTY", "UV_UDP", "UV_UDP_IPV6ONLY", "UV_UDP_PARTIAL",
    "UV_UDP_REUSEADDR", "UV_UNKNOWN_HANDLE", "UV_WRITABLE", "UV_WRITABLE_PIPE", "WorkRequest",
    "dns", "errno", "error", "fs", "thread", "util"
]

__version__: str
__implementation__: str
