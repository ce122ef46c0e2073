"""pyuv.UDP on 127.0.0.1 (pyuv 1.4 src/udp.c)."""

import os
import socket
import struct

import pytest

import pyuv

LOCAL = ("127.0.0.1", 0)


def _sockopt(fd, level, opt):
    s = socket.socket(fileno=os.dup(fd))
    try:
        return s.getsockopt(level, opt)
    finally:
        s.close()


def test_udp_bind_send_start_recv(lp, run):
    server = pyuv.UDP(lp)
    assert server.bind(LOCAL) is None
    addr = server.getsockname()
    assert addr[0] == "127.0.0.1" and addr[1] > 0
    client = pyuv.UDP(lp)
    client.bind(LOCAL)
    caddr = client.getsockname()
    got, sent = [], []

    def on_recv(h, address, flags, data, error):
        got.append((h, address, flags, data, error))
        if len(got) == 3:
            h.close()
            client.close()
    assert server.start_recv(on_recv) is None
    client.send(addr, b"one", lambda h, e: sent.append((h, e)))
    client.send(addr, [b"tw", bytearray(b"o")])
    client.send(addr, b"")
    run(lp)
    assert sent == [(client, None)]
    assert got == [(server, caddr, 0, b"one", None),
                   (server, caddr, 0, b"two", None),
                   (server, caddr, 0, b"", None)]  # an empty datagram is b""


def test_udp_stop_recv(lp, run):
    u = pyuv.UDP(lp)
    u.bind(LOCAL)
    got = []
    u.start_recv(lambda *a: got.append(a))
    assert u.active
    assert u.stop_recv() is None
    assert not u.active
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"ignored", u.getsockname())
        t = pyuv.Timer(lp)
        t.start(lambda h: h.close(), 0.05, 0)
        run(lp)
    assert got == []
    u.close()
    run(lp)


def test_udp_try_send_and_send_queue_size(lp, run):
    server = pyuv.UDP(lp)
    server.bind(LOCAL)
    addr = server.getsockname()
    client = pyuv.UDP(lp, socket.AF_INET)
    assert client.send_queue_size == 0
    assert client.try_send(addr, b"quick") == 5
    got = []

    def on_recv(h, a, flags, data, error):
        got.append(data)
        if len(got) == 2:
            got.append(client.send_queue_size)
            h.close()
            client.close()
    server.start_recv(on_recv)
    client.send(addr, b"queued!")
    queued = client.send_queue_size  # bytes waiting in libuv's send queue
    with pytest.raises(pyuv.error.UDPError) as ei:
        client.try_send(addr, b"x")  # libuv: EAGAIN while sends are queued
    run(lp)
    assert queued == 7
    assert ei.value.args[0] == pyuv.errno.UV_EAGAIN
    assert got == [b"quick", b"queued!", 0]


def test_udp_try_send_too_big(lp, run):
    u = pyuv.UDP(lp)
    u.bind(LOCAL)
    with pytest.raises(pyuv.error.UDPError) as ei:
        u.try_send(u.getsockname(), b"x" * 70000)
    assert ei.value.args[0] == pyuv.errno.UV_EMSGSIZE
    u.close()
    run(lp)


def test_udp_family_fileno_open(lp, run):
    u = pyuv.UDP(lp, socket.AF_INET)
    assert u.family == socket.AF_INET
    fd = u.fileno()
    assert isinstance(fd, int) and fd >= 0
    assert _sockopt(fd, socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_DGRAM
    u.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(LOCAL)
    addr = s.getsockname()
    o = pyuv.UDP(lp)
    assert o.open(s.detach()) is None
    assert o.getsockname() == addr
    got = []
    o.start_recv(lambda h, a, f, d, e: (got.append(d), h.close()))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.sendto(b"to opened", addr)
        run(lp)
    assert got == [b"to opened"]


def test_udp_getsockname_unbound_is_einval(lp):
    u = pyuv.UDP(lp)
    with pytest.raises(pyuv.error.UDPError) as ei:
        u.getsockname()
    assert ei.value.args[0] == pyuv.errno.UV_EINVAL
    u.close()


def test_udp_getsockname_unbound_raises_udperror(lp):
    u = pyuv.UDP(lp)
    with pytest.raises(pyuv.error.UDPError) as ei:
        u.getsockname()
    assert isinstance(ei.value, pyuv.error.HandleError)
    assert ei.value.args[0] in (pyuv.errno.UV_EINVAL, pyuv.errno.UV_EBADF)
    u.close()


def test_udp_bind_errors_and_flags(lp, run):
    u = pyuv.UDP(lp)
    with pytest.raises(OverflowError):
        u.bind(("127.0.0.1", 65536))
    u.bind(LOCAL, pyuv.UV_UDP_REUSEADDR)
    assert _sockopt(u.fileno(), socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
    same = pyuv.UDP(lp)
    same.bind(u.getsockname(), pyuv.UV_UDP_REUSEADDR)  # shared port
    assert same.getsockname() == u.getsockname()
    other = pyuv.UDP(lp)
    with pytest.raises(pyuv.error.UDPError) as ei:
        other.bind(u.getsockname())
    assert ei.value.args[0] == pyuv.errno.UV_EADDRINUSE
    assert (pyuv.UV_UDP_IPV6ONLY, pyuv.UV_UDP_PARTIAL, pyuv.UV_UDP_REUSEADDR) == (1, 2, 4)
    for h in (u, same, other):
        h.close()
    run(lp)


def test_udp_bind_broadcast_name(lp, run):
    u = pyuv.UDP(lp)
    u.bind(("<broadcast>", 0))
    assert u.getsockname()[0] == "255.255.255.255"
    u.close()
    run(lp)


def test_udp_set_broadcast_and_ttl(lp, run):
    u = pyuv.UDP(lp)
    u.bind(LOCAL)
    fd = u.fileno()
    assert u.set_broadcast(True) is None
    assert _sockopt(fd, socket.SOL_SOCKET, socket.SO_BROADCAST) == 1
    u.set_broadcast(False)
    assert _sockopt(fd, socket.SOL_SOCKET, socket.SO_BROADCAST) == 0
    with pytest.raises(TypeError):
        u.set_broadcast(1)
    assert u.set_ttl(17) is None
    assert _sockopt(fd, socket.IPPROTO_IP, socket.IP_TTL) == 17
    u.close()
    run(lp)


def test_udp_ttl_out_of_range_is_valueerror(lp, run):
    u = pyuv.UDP(lp)
    u.bind(LOCAL)
    try:
        with pytest.raises(ValueError):
            u.set_ttl(300)
        with pytest.raises(ValueError):
            u.set_multicast_ttl(-1)
    finally:
        u.close()
        run(lp)


def test_udp_multicast_options(lp, run):
    u = pyuv.UDP(lp)
    u.bind(("0.0.0.0", 0))
    fd = u.fileno()
    assert u.set_multicast_ttl(3) is None
    assert _sockopt(fd, socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 3
    assert u.set_multicast_loop(False) is None
    assert _sockopt(fd, socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP) == 0
    u.set_multicast_loop(True)
    assert _sockopt(fd, socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP) == 1
    with pytest.raises(TypeError):
        u.set_multicast_loop(1)
    assert u.set_multicast_interface("127.0.0.1") is None
    raw = _sockopt(fd, socket.IPPROTO_IP, socket.IP_MULTICAST_IF)
    assert socket.inet_ntoa(struct.pack("=I", raw)) == "127.0.0.1"
    assert u.set_multicast_interface() is None
    assert u.set_membership("239.255.42.1", pyuv.UV_JOIN_GROUP) is None
    assert u.set_membership("239.255.42.1", pyuv.UV_LEAVE_GROUP) is None
    assert u.set_membership("239.255.42.2", pyuv.UV_JOIN_GROUP, "127.0.0.1") is None
    with pytest.raises(pyuv.error.UDPError) as ei:
        u.set_membership("10.1.2.3", pyuv.UV_JOIN_GROUP)  # not a multicast address
    assert ei.value.args[0] == pyuv.errno.UV_EINVAL
    assert (pyuv.UV_JOIN_GROUP, pyuv.UV_LEAVE_GROUP) == (1, 0)
    u.close()
    run(lp)


def _loopback_multicast_works():
    group = "239.255.43.7"
    try:
        r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        r.bind(("0.0.0.0", 0))
        r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                     socket.inet_aton(group) + socket.inet_aton("127.0.0.1"))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        s.sendto(b"probe", (group, r.getsockname()[1]))
        r.settimeout(0.5)
        return r.recv(10) == b"probe"
    except OSError:
        return False
    finally:
        r.close()
        s.close()


@pytest.mark.skipif(not _loopback_multicast_works(), reason="no multicast on lo")
def test_udp_multicast_roundtrip_on_loopback(lp, run):
    group = "239.255.43.8"
    recv = pyuv.UDP(lp)
    recv.bind(("0.0.0.0", 0), pyuv.UV_UDP_REUSEADDR)
    recv.set_membership(group, pyuv.UV_JOIN_GROUP, "127.0.0.1")
    port = recv.getsockname()[1]
    send = pyuv.UDP(lp)
    send.bind(LOCAL)
    send.set_multicast_interface("127.0.0.1")
    send.set_multicast_loop(True)
    got = []
    recv.start_recv(lambda h, a, f, d, e: (got.append(d), h.close(), send.close()))
    send.send((group, port), b"to the group")
    run(lp)
    assert got == [b"to the group"]


def test_udp_buffer_sizes(lp, run):
    u = pyuv.UDP(lp)
    u.bind(LOCAL)
    u.send_buffer_size = 65536
    assert u.send_buffer_size == _sockopt(u.fileno(), socket.SOL_SOCKET, socket.SO_SNDBUF)
    assert u.send_buffer_size >= 65536
    u.receive_buffer_size = 65536
    assert u.receive_buffer_size == _sockopt(u.fileno(), socket.SOL_SOCKET, socket.SO_RCVBUF)
    u.close()
    run(lp)


def test_udp_bad_arguments(lp, run):
    u = pyuv.UDP(lp)
    u.bind(LOCAL)
    addr = u.getsockname()
    with pytest.raises(TypeError):
        u.send(addr, "text")
    with pytest.raises(TypeError):
        u.send(addr, b"x", 5)
    with pytest.raises(TypeError):
        u.start_recv(None)
    with pytest.raises(ValueError):
        u.send(addr, [])
    u.close()
    with pytest.raises(pyuv.error.HandleClosedError):
        u.send(addr, b"x")
    run(lp)


def test_udp_send_to_unreachable_reports_error_or_none(lp, run):
    # A send callback gets (handle, error) with error None or a UV errno.
    u = pyuv.UDP(lp)
    u.bind(LOCAL)
    res = []
    u.send(("127.0.0.1", 9), b"discard", lambda h, e: (res.append((h, e)), h.close()))
    run(lp)
    assert len(res) == 1 and res[0][0] is u
    assert res[0][1] is None or res[0][1] < 0


def test_udp_recv_callback_exception_to_excepthook(lp, run):
    seen = []
    lp.excepthook = lambda typ, val, tb: seen.append(typ)
    u = pyuv.UDP(lp)
    u.bind(LOCAL)

    def on_recv(h, a, f, d, e):
        h.close()
        raise KeyError
    u.start_recv(on_recv)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", u.getsockname())
        run(lp)
    assert seen == [KeyError]


def test_udp_open_takes_ownership_of_fd(lp, run):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    addr = sock.getsockname()
    fd = sock.detach()
    u = pyuv.UDP(lp)
    u.open(fd)
    assert u.fileno() == fd
    assert u.getsockname() == addr
    u.close()
    run(lp)
    with pytest.raises(OSError):
        os.fstat(fd)
