"""pyuv.errno (constants, errorcode, strerror) and the pyuv.error exception
hierarchy, with args == (errno, strerror) from real failures (pyuv 1.4
src/errno.c, src/error.c)."""

import socket

import pytest

import pyuv

# Every errno constant of pyuv 1.4 with its value on Linux (the checklist).
ERRNO = {
    "UV_E2BIG": -7, "UV_EACCES": -13, "UV_EADDRINUSE": -98,
    "UV_EADDRNOTAVAIL": -99, "UV_EAFNOSUPPORT": -97, "UV_EAGAIN": -11,
    "UV_EAI_ADDRFAMILY": -3000, "UV_EAI_AGAIN": -3001, "UV_EAI_BADFLAGS": -3002,
    "UV_EAI_BADHINTS": -3013, "UV_EAI_CANCELED": -3003, "UV_EAI_FAIL": -3004,
    "UV_EAI_FAMILY": -3005, "UV_EAI_MEMORY": -3006, "UV_EAI_NODATA": -3007,
    "UV_EAI_NONAME": -3008, "UV_EAI_OVERFLOW": -3009, "UV_EAI_PROTOCOL": -3014,
    "UV_EAI_SERVICE": -3010, "UV_EAI_SOCKTYPE": -3011, "UV_EALREADY": -114,
    "UV_EBADF": -9, "UV_EBUSY": -16, "UV_ECANCELED": -125,
    "UV_ECHARSET": -4080, "UV_ECONNABORTED": -103, "UV_ECONNREFUSED": -111,
    "UV_ECONNRESET": -104, "UV_EDESTADDRREQ": -89, "UV_EEXIST": -17,
    "UV_EFAULT": -14, "UV_EFBIG": -27, "UV_EHOSTDOWN": -112,
    "UV_EHOSTUNREACH": -113, "UV_EINTR": -4, "UV_EINVAL": -22,
    "UV_EIO": -5, "UV_EISCONN": -106, "UV_EISDIR": -21,
    "UV_ELOOP": -40, "UV_EMFILE": -24, "UV_EMLINK": -31,
    "UV_EMSGSIZE": -90, "UV_ENAMETOOLONG": -36, "UV_ENETDOWN": -100,
    "UV_ENETUNREACH": -101, "UV_ENFILE": -23, "UV_ENOBUFS": -105,
    "UV_ENODEV": -19, "UV_ENOENT": -2, "UV_ENOMEM": -12,
    "UV_ENONET": -64, "UV_ENOPROTOOPT": -92, "UV_ENOSPC": -28,
    "UV_ENOSYS": -38, "UV_ENOTCONN": -107, "UV_ENOTDIR": -20,
    "UV_ENOTEMPTY": -39, "UV_ENOTSOCK": -88, "UV_ENOTSUP": -95,
    "UV_ENXIO": -6, "UV_EOF": -4095, "UV_EPERM": -1,
    "UV_EPIPE": -32, "UV_EPROTO": -71, "UV_EPROTONOSUPPORT": -93,
    "UV_EPROTOTYPE": -91, "UV_ERANGE": -34, "UV_EROFS": -30,
    "UV_ESHUTDOWN": -108, "UV_ESPIPE": -29, "UV_ESRCH": -3,
    "UV_ETIMEDOUT": -110, "UV_ETXTBSY": -26, "UV_EXDEV": -18,
    "UV_UNKNOWN": -4094,
}

# Each exception class and its direct base (src/error.c).
BASES = {
    "AsyncError": "HandleError",
    "CheckError": "HandleError",
    "FSError": "UVError",
    "FSEventError": "HandleError",
    "FSPollError": "HandleError",
    "HandleClosedError": "HandleError",
    "HandleError": "UVError",
    "IdleError": "HandleError",
    "PipeError": "StreamError",
    "PollError": "HandleError",
    "PrepareError": "HandleError",
    "ProcessError": "HandleError",
    "SignalError": "HandleError",
    "StreamError": "HandleError",
    "TCPError": "StreamError",
    "TTYError": "StreamError",
    "ThreadError": "UVError",
    "TimerError": "HandleError",
    "UDPError": "HandleError",
    "UVError": "Exception",
}


def test_errno_constants_all_present_with_values():
    for name, value in ERRNO.items():
        assert getattr(pyuv.errno, name) == value, name


def test_errno_errorcode_maps_every_constant():
    ec = pyuv.errno.errorcode
    assert isinstance(ec, dict)
    for name, value in ERRNO.items():
        assert ec[value] == name
    assert set(ec.values()) >= set(ERRNO)
    for value, name in ec.items():
        assert getattr(pyuv.errno, name) == value


def test_errno_strerror():
    assert pyuv.errno.strerror(pyuv.errno.UV_ENOENT) == "no such file or directory"
    assert pyuv.errno.strerror(pyuv.errno.UV_EOF) == "end of file"
    assert pyuv.errno.strerror(pyuv.errno.UV_EAI_NONAME) == "unknown node or service"
    for name, value in ERRNO.items():
        msg = pyuv.errno.strerror(value)
        assert isinstance(msg, str) and msg, name
    # the UV_E* system errors are the negated errno values
    for name in ("UV_ENOENT", "UV_EACCES", "UV_EPIPE", "UV_ECONNREFUSED", "UV_EINVAL"):
        assert -ERRNO[name] == getattr(__import__("errno"), name[3:])
    with pytest.raises(TypeError):
        pyuv.errno.strerror("ENOENT")


def test_error_hierarchy():
    E = pyuv.error
    for name, base in BASES.items():
        cls = getattr(E, name)
        parent = Exception if base == "Exception" else getattr(E, base)
        assert issubclass(cls, parent), (name, base)
        assert cls.__bases__[0] is parent, (name, cls.__mro__)
        assert issubclass(cls, Exception)
    assert issubclass(E.TCPError, E.HandleError)
    assert issubclass(E.PipeError, E.UVError)
    assert not issubclass(E.FSError, E.HandleError)
    assert not issubclass(E.ThreadError, E.HandleError)


def test_error_args_from_real_failures(lp, tmp_path):
    E = pyuv.error
    with pytest.raises(E.FSError) as ei:
        pyuv.fs.stat(lp, str(tmp_path / "missing"))
    assert ei.value.args == (pyuv.errno.UV_ENOENT, "no such file or directory")
    p = pyuv.Pipe(lp)
    with pytest.raises(E.PipeError) as ei:
        p.bind(str(tmp_path / "no" / "such" / "dir" / "sock"))
    # libuv turns ENOENT from bind() into EACCES "for compatibility with Windows"
    assert ei.value.args == (pyuv.errno.UV_EACCES, "permission denied")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    t = pyuv.TCP(lp)
    t.bind(s.getsockname())
    with pytest.raises(E.TCPError) as ei:
        t.listen(lambda *a: None)
    assert ei.value.args == (pyuv.errno.UV_EADDRINUSE,
                             pyuv.errno.strerror(pyuv.errno.UV_EADDRINUSE))
    s.close()
    u = pyuv.UDP(lp)
    with pytest.raises(E.UDPError) as ei:
        u.set_membership("10.0.0.1", pyuv.UV_JOIN_GROUP)
    assert ei.value.args[0] == pyuv.errno.UV_EINVAL
    assert isinstance(ei.value.args[1], str)
    with pytest.raises(E.HandleClosedError) as ei:
        t.close()
        t.close()
    assert len(ei.value.args) == 1 and isinstance(ei.value.args[0], str)
    for h in (p, u):
        h.close()
    lp.run()


def test_errors_are_raisable_and_catchable_by_base():
    E = pyuv.error
    for name in BASES:
        cls = getattr(E, name)
        with pytest.raises(E.UVError) as ei:
            raise cls(pyuv.errno.UV_EINVAL, "invalid argument")
        assert ei.value.args == (pyuv.errno.UV_EINVAL, "invalid argument")
        assert type(ei.value) is cls
