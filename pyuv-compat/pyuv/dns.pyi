"""Stubs of pyuv.dns: getaddrinfo and getnameinfo.

Without a callback they block and return the result (raising ``pyuv.error.UVError``);
with one they run on libuv's threadpool, return a request, and call
``callback(result, errorno)``: ``(result, None)`` or ``(None, code)``.
"""

from _typeshed import structseq
from typing import Any, Callable, List, Optional, Tuple, Union, overload

from ._cpyuv import GAIRequest, GNIRequest, Loop, _SockAddr, _SockAddrIn

__all__ = ["addrinfo_result", "getaddrinfo", "getnameinfo"]

class addrinfo_result(structseq[Any], Tuple[int, int, int, str, _SockAddr]):
    @property
    def family(self) -> int: ...
    @property
    def socktype(self) -> int: ...
    @property
    def proto(self) -> int: ...
    @property
    def canonname(self) -> str: ...
    @property
    def sockaddr(self) -> _SockAddr: ...

_Host = Optional[Union[str, bytes]]
_Port = Optional[Union[int, str, bytes]]
_GAICallback = Callable[[Optional[List[addrinfo_result]], Optional[int]], object]
_GNICallback = Callable[[Optional[Tuple[str, str]], Optional[int]], object]

@overload
def getaddrinfo(
    loop: Loop,
    host: _Host,
    port: _Port = None,
    family: int = 0,
    socktype: int = 0,
    protocol: int = 0,
    flags: int = 0,
    callback: None = None,
) -> List[addrinfo_result]: ...
@overload
def getaddrinfo(
    loop: Loop,
    host: _Host,
    port: _Port = None,
    family: int = 0,
    socktype: int = 0,
    protocol: int = 0,
    flags: int = 0,
    *,
    callback: _GAICallback,
) -> GAIRequest: ...
@overload
def getaddrinfo(
    loop: Loop, host: _Host, port: _Port, family: int, socktype: int, protocol: int, flags: int, callback: _GAICallback
) -> GAIRequest: ...

# (host, service)
@overload
def getnameinfo(loop: Loop, address: _SockAddrIn, flags: int = 0, callback: None = None) -> Tuple[str, str]: ...
@overload
def getnameinfo(loop: Loop, address: _SockAddrIn, flags: int = 0, *, callback: _GNICallback) -> GNIRequest: ...
@overload
def getnameinfo(loop: Loop, address: _SockAddrIn, flags: int, callback: _GNICallback) -> GNIRequest: ...
