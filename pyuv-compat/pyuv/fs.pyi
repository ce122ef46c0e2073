"""Stubs of pyuv.fs: libuv's file-system requests, and the FSEvent and FSPoll handles.

Each request function runs synchronously without a callback (returning its result, or
raising ``pyuv.error.FSError``), asynchronously with one: it then returns an ``FSRequest``
and calls ``callback(req)`` when done, with ``req.result`` (as the synchronous call returns
it), ``req.error`` (``None`` or a ``pyuv.errno`` code) and ``req.path``.
"""

from typing import Callable, List, NamedTuple, Optional, overload

from typing_extensions import Buffer, Self

from ._cpyuv import FSRequest, Handle, Loop

__all__ = [
    "DirEnt", "FSEvent", "FSPoll", "UV_CHANGE", "UV_DIRENT_BLOCK", "UV_DIRENT_CHAR",
    "UV_DIRENT_DIR", "UV_DIRENT_FIFO", "UV_DIRENT_FILE", "UV_DIRENT_LINK", "UV_DIRENT_SOCKET",
    "UV_DIRENT_UNKNOWN", "UV_FS_EVENT_RECURSIVE", "UV_FS_EVENT_STAT", "UV_FS_EVENT_WATCH_ENTRY",
    "UV_FS_SYMLINK_DIR", "UV_FS_SYMLINK_JUNCTION", "UV_RENAME", "access", "chmod", "chown",
    "close", "fchmod", "fchown", "fdatasync", "fstat", "fsync", "ftruncate", "futime", "link",
    "lstat", "mkdir", "open", "read", "readlink", "realpath", "rename", "rmdir", "scandir",
    "sendfile", "stat", "stat_float_times", "stat_result", "symlink", "unlink", "utime", "write"
]

_FSCallback = Callable[[FSRequest], object]

UV_RENAME: int
UV_CHANGE: int
UV_FS_EVENT_WATCH_ENTRY: int
UV_FS_EVENT_STAT: int
UV_FS_EVENT_RECURSIVE: int
UV_FS_SYMLINK_DIR: int
UV_FS_SYMLINK_JUNCTION: int
UV_DIRENT_UNKNOWN: int
UV_DIRENT_FILE: int
UV_DIRENT_DIR: int
UV_DIRENT_LINK: int
UV_DIRENT_FIFO: int
UV_DIRENT_SOCKET: int
UV_DIRENT_CHAR: int
UV_DIRENT_BLOCK: int

class stat_result(NamedTuple):
    st_mode: int
    st_ino: int
    st_dev: int
    st_nlink: int
    st_uid: int
    st_gid: int
    st_size: int
    # Seconds: floats, or ints after stat_float_times(False).
    st_atime: float
    st_mtime: float
    st_ctime: float
    st_blksize: int
    st_blocks: int
    st_rdev: int
    st_flags: int
    st_gen: int
    st_birthtime: float

class DirEnt(NamedTuple):
    name: str
    # UV_DIRENT_*
    type: int

class FSEvent(Handle):
    def __new__(cls, loop: Loop) -> Self: ...
    # flags: UV_FS_EVENT_*; callback(handle, filename, events, error), events UV_RENAME | UV_CHANGE.
    def start(self, path: str, flags: int, callback: Callable[[Self, Optional[str], int, Optional[int]], object]) -> None: ...
    def stop(self) -> None: ...
    # None when not started.
    @property
    def path(self) -> Optional[str]: ...

class FSPoll(Handle):
    def __new__(cls, loop: Loop) -> Self: ...
    # interval in seconds; callback(handle, prev_stat, curr_stat, error).
    def start(
        self,
        path: str,
        interval: float,
        callback: Callable[[Self, Optional[stat_result], Optional[stat_result], Optional[int]], object],
    ) -> None: ...
    def stop(self) -> None: ...
    # None when not started.
    @property
    def path(self) -> Optional[str]: ...

@overload
def stat(loop: Loop, path: str, callback: None = None) -> stat_result: ...
@overload
def stat(loop: Loop, path: str, callback: _FSCallback) -> FSRequest: ...

@overload
def lstat(loop: Loop, path: str, callback: None = None) -> stat_result: ...
@overload
def lstat(loop: Loop, path: str, callback: _FSCallback) -> FSRequest: ...

@overload
def fstat(loop: Loop, fd: int, callback: None = None) -> stat_result: ...
@overload
def fstat(loop: Loop, fd: int, callback: _FSCallback) -> FSRequest: ...

@overload
def unlink(loop: Loop, path: str, callback: None = None) -> None: ...
@overload
def unlink(loop: Loop, path: str, callback: _FSCallback) -> FSRequest: ...

@overload
def mkdir(loop: Loop, path: str, mode: int, callback: None = None) -> None: ...
@overload
def mkdir(loop: Loop, path: str, mode: int, callback: _FSCallback) -> FSRequest: ...

@overload
def rmdir(loop: Loop, path: str, callback: None = None) -> None: ...
@overload
def rmdir(loop: Loop, path: str, callback: _FSCallback) -> FSRequest: ...

@overload
def rename(loop: Loop, path: str, new_path: str, callback: None = None) -> None: ...
@overload
def rename(loop: Loop, path: str, new_path: str, callback: _FSCallback) -> FSRequest: ...

@overload
def chmod(loop: Loop, path: str, mode: int, callback: None = None) -> None: ...
@overload
def chmod(loop: Loop, path: str, mode: int, callback: _FSCallback) -> FSRequest: ...

@overload
def fchmod(loop: Loop, fd: int, mode: int, callback: None = None) -> None: ...
@overload
def fchmod(loop: Loop, fd: int, mode: int, callback: _FSCallback) -> FSRequest: ...

@overload
def link(loop: Loop, path: str, new_path: str, callback: None = None) -> None: ...
@overload
def link(loop: Loop, path: str, new_path: str, callback: _FSCallback) -> FSRequest: ...

@overload
def symlink(loop: Loop, path: str, new_path: str, flags: int, callback: None = None) -> None: ...
@overload
def symlink(loop: Loop, path: str, new_path: str, flags: int, callback: _FSCallback) -> FSRequest: ...

@overload
def readlink(loop: Loop, path: str, callback: None = None) -> str: ...
@overload
def readlink(loop: Loop, path: str, callback: _FSCallback) -> FSRequest: ...

@overload
def realpath(loop: Loop, path: str, callback: None = None) -> str: ...
@overload
def realpath(loop: Loop, path: str, callback: _FSCallback) -> FSRequest: ...

@overload
def chown(loop: Loop, path: str, uid: int, gid: int, callback: None = None) -> None: ...
@overload
def chown(loop: Loop, path: str, uid: int, gid: int, callback: _FSCallback) -> FSRequest: ...

@overload
def fchown(loop: Loop, fd: int, uid: int, gid: int, callback: None = None) -> None: ...
@overload
def fchown(loop: Loop, fd: int, uid: int, gid: int, callback: _FSCallback) -> FSRequest: ...

@overload
def open(loop: Loop, path: str, flags: int, mode: int, callback: None = None) -> int: ...
@overload
def open(loop: Loop, path: str, flags: int, mode: int, callback: _FSCallback) -> FSRequest: ...

@overload
def close(loop: Loop, fd: int, callback: None = None) -> None: ...
@overload
def close(loop: Loop, fd: int, callback: _FSCallback) -> FSRequest: ...

@overload
def read(loop: Loop, fd: int, length: int, offset: int, callback: None = None) -> bytes: ...
@overload
def read(loop: Loop, fd: int, length: int, offset: int, callback: _FSCallback) -> FSRequest: ...

@overload
def write(loop: Loop, fd: int, write_data: Buffer, offset: int, callback: None = None) -> int: ...
@overload
def write(loop: Loop, fd: int, write_data: Buffer, offset: int, callback: _FSCallback) -> FSRequest: ...

@overload
def fsync(loop: Loop, fd: int, callback: None = None) -> None: ...
@overload
def fsync(loop: Loop, fd: int, callback: _FSCallback) -> FSRequest: ...

@overload
def fdatasync(loop: Loop, fd: int, callback: None = None) -> None: ...
@overload
def fdatasync(loop: Loop, fd: int, callback: _FSCallback) -> FSRequest: ...

@overload
def ftruncate(loop: Loop, fd: int, offset: int, callback: None = None) -> None: ...
@overload
def ftruncate(loop: Loop, fd: int, offset: int, callback: _FSCallback) -> FSRequest: ...

@overload
def scandir(loop: Loop, path: str, callback: None = None) -> List[DirEnt]: ...
@overload
def scandir(loop: Loop, path: str, callback: _FSCallback) -> FSRequest: ...

@overload
def sendfile(loop: Loop, out_fd: int, in_fd: int, in_offset: int, length: int, callback: None = None) -> int: ...
@overload
def sendfile(loop: Loop, out_fd: int, in_fd: int, in_offset: int, length: int, callback: _FSCallback) -> FSRequest: ...

@overload
def utime(loop: Loop, path: str, atime: float, mtime: float, callback: None = None) -> None: ...
@overload
def utime(loop: Loop, path: str, atime: float, mtime: float, callback: _FSCallback) -> FSRequest: ...

@overload
def futime(loop: Loop, fd: int, atime: float, mtime: float, callback: None = None) -> None: ...
@overload
def futime(loop: Loop, fd: int, atime: float, mtime: float, callback: _FSCallback) -> FSRequest: ...

@overload
def access(loop: Loop, path: str, flags: int, callback: None = None) -> None: ...
@overload
def access(loop: Loop, path: str, flags: int, callback: _FSCallback) -> FSRequest: ...

# Without an argument: whether stat times are floats (the default); with one: sets it.
@overload
def stat_float_times(newval: None = None) -> bool: ...
@overload
def stat_float_times(newval: bool) -> None: ...
