"""pyuv.util: hrtime, cpu_info, interface_addresses, memory, loadavg,
uptime, resident_set_memory, getrusage, guess_handle_type (pyuv 1.4
src/util.c). SignalChecker is in test_watchers.py."""

import os
import resource
import socket
import time

import pytest

import pyuv

U = pyuv.util


def test_hrtime_is_monotonic_nanoseconds():
    a = U.hrtime()
    time.sleep(0.05)
    b = U.hrtime()
    assert isinstance(a, int)
    assert 0.04e9 <= b - a < 5e9  # nanoseconds
    assert abs(a / 1e9 - time.monotonic()) < 5  # CLOCK_MONOTONIC, like libuv


def test_cpu_info():
    cpus = U.cpu_info()
    assert isinstance(cpus, list) and len(cpus) == os.cpu_count()
    c = cpus[0]
    assert isinstance(c, U.cpu_info_result)
    assert isinstance(c.model, str) and isinstance(c.speed, int)
    t = c.times
    assert isinstance(t, U.cpu_info_times_result)
    assert tuple(t) == (t.sys, t.user, t.idle, t.irq, t.nice)
    assert all(isinstance(x, int) and x >= 0 for x in t)
    assert t.idle + t.user + t.sys > 0
    assert tuple(c) == (c.model, c.speed, c.times)


def test_interface_addresses_include_loopback():
    addrs = U.interface_addresses()
    assert addrs and all(isinstance(a, U.interface_addresses_result) for a in addrs)
    lo = [a for a in addrs if a.address == "127.0.0.1"]
    assert lo, addrs
    a = lo[0]
    assert a.is_internal is True
    assert a.netmask == "255.0.0.0"
    assert a.name in {n for _, n in socket.if_nameindex()}
    assert isinstance(a.mac, str) and len(a.mac.split(":")) == 6
    assert tuple(a) == (a.name, a.is_internal, a.address, a.netmask, a.mac)


def _meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def test_memory():
    total = U.get_total_memory()
    free = U.get_free_memory()
    assert isinstance(total, int) and isinstance(free, int)
    assert 0 < free <= total
    # libuv may report a cgroup limit; it is never more than the machine has
    assert total <= _meminfo("MemTotal")


def test_loadavg_matches_os():
    la = U.loadavg()
    assert isinstance(la, tuple) and len(la) == 3
    assert all(isinstance(x, float) and x >= 0 for x in la)
    ref = os.getloadavg()
    assert all(abs(a - b) < 2.0 for a, b in zip(la, ref))


def test_uptime_matches_proc():
    up = U.uptime()
    assert isinstance(up, float)
    with open("/proc/uptime") as f:
        ref = float(f.read().split()[0])
    assert abs(up - ref) < 5


def test_resident_set_memory_grows_with_allocation():
    rss = U.resident_set_memory()
    assert isinstance(rss, int) and rss > 1 << 20
    with open("/proc/self/statm") as f:
        ref = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    assert abs(rss - ref) < 64 << 20
    blob = bytearray(64 << 20)  # touched: zero-filled pages are written
    try:
        assert U.resident_set_memory() > rss + (32 << 20)
    finally:
        del blob


def test_getrusage_fields():
    ru = U.getrusage()
    assert isinstance(ru, U.rusage_result)
    names = ["ru_utime", "ru_stime", "ru_maxrss", "ru_ixrss", "ru_idrss", "ru_isrss",
             "ru_minflt", "ru_majflt", "ru_nswap", "ru_inblock", "ru_oublock",
             "ru_msgsnd", "ru_msgrcv", "ru_nsignals", "ru_nvcsw", "ru_nivcsw"]
    assert len(ru) == 16
    assert [getattr(ru, n) for n in names] == list(ru)
    ref = resource.getrusage(resource.RUSAGE_SELF)
    assert isinstance(ru.ru_utime, float) and isinstance(ru.ru_maxrss, int)
    assert ru.ru_utime <= ref.ru_utime + 0.5 and ru.ru_utime > 0
    assert abs(ru.ru_maxrss - ref.ru_maxrss) < 64 * 1024  # KiB on Linux


def test_guess_handle_type(tmp_path):
    r, w = os.pipe()
    tcp = socket.socket()
    udp = socket.socket(type=socket.SOCK_DGRAM)
    unix = socket.socket(socket.AF_UNIX)
    master, slave = os.openpty()
    f = open(tmp_path / "file", "wb")
    try:
        assert U.guess_handle_type(r) == pyuv.UV_NAMED_PIPE
        assert U.guess_handle_type(unix.fileno()) == pyuv.UV_NAMED_PIPE
        assert U.guess_handle_type(tcp.fileno()) == pyuv.UV_TCP
        assert U.guess_handle_type(udp.fileno()) == pyuv.UV_UDP
        assert U.guess_handle_type(slave) == pyuv.UV_TTY
        assert U.guess_handle_type(f.fileno()) == 17  # UV_FILE
        assert U.guess_handle_type(987654) == pyuv.UV_UNKNOWN_HANDLE
    finally:
        for fd in (r, w, master, slave):
            os.close(fd)
        for s in (tcp, udp, unix, f):
            s.close()


def test_handle_type_constants():
    assert (pyuv.UV_UNKNOWN_HANDLE, pyuv.UV_ASYNC, pyuv.UV_CHECK, pyuv.UV_FS_EVENT,
            pyuv.UV_FS_POLL, pyuv.UV_HANDLE, pyuv.UV_IDLE, pyuv.UV_NAMED_PIPE,
            pyuv.UV_POLL, pyuv.UV_PREPARE, pyuv.UV_PROCESS, pyuv.UV_STREAM,
            pyuv.UV_TCP, pyuv.UV_TIMER, pyuv.UV_TTY, pyuv.UV_UDP,
            pyuv.UV_SIGNAL) == tuple(range(17))


def test_libuv_version_constant():
    v = pyuv.LIBUV_VERSION
    assert isinstance(v, str)
    parts = v.split("-")[0].split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


def test_result_types_are_struct_sequences():
    types = [pyuv.fs.stat_result, pyuv.fs.DirEnt, pyuv.dns.addrinfo_result,
             U.cpu_info_result, U.cpu_info_times_result, U.interface_addresses_result,
             U.rusage_result]
    for t in types:
        assert isinstance(t.n_fields, int) and t.n_fields == t.n_sequence_fields


def test_result_types_pickle_and_index_like_pyuvs(tmp_path):
    import pickle
    lp = pyuv.Loop()
    st = pyuv.fs.stat(lp, str(tmp_path))
    assert type(st).__module__ == "pyuv.fs" and type(st).__name__ == "stat_result"
    assert st[0] == st.st_mode and len(st) == type(st).n_fields
    assert pickle.loads(pickle.dumps(st)) == st
    ru = U.getrusage()
    assert pickle.loads(pickle.dumps(ru)) == ru
