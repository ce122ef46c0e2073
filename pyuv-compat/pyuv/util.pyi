"""Stubs of pyuv.util: machine and process facts from libuv, and SignalChecker."""

from typing import List, NamedTuple, Tuple

from typing_extensions import Self

from ._cpyuv import Handle, Loop, _FD

__all__ = [
    "SignalChecker", "cpu_info", "cpu_info_result", "cpu_info_times_result", "get_free_memory",
    "get_total_memory", "getrusage", "guess_handle_type", "hrtime", "interface_addresses",
    "interface_addresses_result", "loadavg", "resident_set_memory", "rusage_result", "uptime"
]

class cpu_info_times_result(NamedTuple):
    sys: int
    user: int
    idle: int
    irq: int
    nice: int

class cpu_info_result(NamedTuple):
    model: str
    # MHz
    speed: int
    times: cpu_info_times_result

class interface_addresses_result(NamedTuple):
    name: str
    is_internal: bool
    address: str
    netmask: str
    mac: str

class rusage_result(NamedTuple):
    # seconds
    ru_utime: float
    ru_stime: float
    ru_maxrss: int
    ru_ixrss: int
    ru_idrss: int
    ru_isrss: int
    ru_minflt: int
    ru_majflt: int
    ru_nswap: int
    ru_inblock: int
    ru_oublock: int
    ru_msgsnd: int
    ru_msgrcv: int
    ru_nsignals: int
    ru_nvcsw: int
    ru_nivcsw: int

class SignalChecker(Handle):
    """Watches the socket given to signal.set_wakeup_fd() and runs Python's signal handlers."""

    def __new__(cls, loop: Loop, fd: _FD) -> Self: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...

# Nanoseconds, monotonic.
def hrtime() -> int: ...
def get_free_memory() -> int: ...
def get_total_memory() -> int: ...
def loadavg() -> Tuple[float, float, float]: ...
# Seconds.
def uptime() -> float: ...
def resident_set_memory() -> int: ...
# A UV_* handle type (pyuv.UV_TCP, pyuv.UV_TTY, ...).
def guess_handle_type(fd: _FD) -> int: ...
def cpu_info() -> List[cpu_info_result]: ...
def interface_addresses() -> List[interface_addresses_result]: ...
def getrusage() -> rusage_result: ...
