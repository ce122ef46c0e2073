"""pyuv.Stream through pyuv.TCP on 127.0.0.1 (pyuv 1.4 src/stream.c, tcp.c)."""

import fcntl
import os
import socket

import pytest

import pyuv

LOCAL = ("127.0.0.1", 0)


class EchoServer:
    """A pyuv TCP echo server; closes each connection at EOF."""

    def __init__(self, lp):
        self.lp = lp
        self.conns = []
        self.events = []  # (data, error) seen by the server side
        self.listen_errors = []
        self.server = pyuv.TCP(lp)
        self.server.bind(LOCAL)
        self.server.listen(self._on_connection)
        self.addr = self.server.getsockname()

    def _on_connection(self, server, error):
        assert server is self.server
        self.listen_errors.append(error)
        conn = pyuv.TCP(self.lp)
        assert server.accept(conn) is None
        self.conns.append(conn)
        conn.start_read(self._on_read)

    def _on_read(self, conn, data, error):
        self.events.append((data, error))
        if data is None:
            conn.close()
            self.server.close()
        else:
            conn.write(data)


def _connected_client(lp, addr, on_connect=None):
    c = pyuv.TCP(lp)
    results = []

    def cb(h, error):
        results.append((h, error))
        if on_connect:
            on_connect(h, error)
    assert c.connect(addr, cb) is None
    return c, results


def test_tcp_echo_roundtrip_shutdown_and_eof(lp, run):
    srv = EchoServer(lp)
    got = []
    writes = []
    shut = []

    def on_read(h, data, error):
        got.append((data, error))
        if data is not None and b"".join(d for d, _ in got if d) == b"hello":
            h.shutdown(lambda hh, err: shut.append((hh, err)))
        if data is None:
            h.close()

    def on_connect(h, error):
        assert error is None
        h.start_read(on_read)
        h.write(b"hello", lambda hh, err: writes.append((hh, err)))

    c, connected = _connected_client(lp, srv.addr, on_connect)
    run(lp)
    assert connected == [(c, None)]
    assert writes == [(c, None)]
    assert shut == [(c, None)]
    assert b"".join(d for d, e in got if d is not None) == b"hello"
    assert got[-1] == (None, pyuv.errno.UV_EOF)  # the server closed after our EOF
    assert srv.events[-1] == (None, pyuv.errno.UV_EOF)
    assert srv.listen_errors == [None]
    assert all(e is None for d, e in got[:-1])


def test_tcp_reading_stops_after_eof(lp, run):
    srv = EchoServer(lp)
    state = {}

    def on_read(h, data, error):
        if data is None:
            state["error"] = error
            # pyuv stopped reading for us: no longer active, not closed
            state["active"] = h.active
            state["closed"] = h.closed
            h.close()

    def on_connect(h, error):
        h.start_read(on_read)
        h.shutdown()

    _connected_client(lp, srv.addr, on_connect)
    run(lp)
    assert state == {"error": pyuv.errno.UV_EOF, "active": False, "closed": False}


def test_tcp_write_sequence_of_buffers(lp, run):
    srv = EchoServer(lp)
    got = bytearray()

    def on_read(h, data, error):
        if data:
            got.extend(data)
            if len(got) == 6:
                h.close()
                srv.conns[0].close()
                srv.server.close()

    def on_connect(h, error):
        h.start_read(on_read)
        h.write([b"ab", bytearray(b"cd"), memoryview(b"ef")])

    _connected_client(lp, srv.addr, on_connect)
    run(lp)
    assert bytes(got) == b"abcdef"


def test_tcp_write_rejects_bad_data(lp, run):
    srv = EchoServer(lp)
    errors = {}

    def on_connect(h, error):
        for name, args in (("str", ("text",)), ("int", (5,)),
                           ("callback", (b"x", 3))):
            try:
                h.write(*args)
            except Exception as e:  # noqa: BLE001 - the class is the point
                errors[name] = type(e)
        h.close()
        srv.server.close()

    _connected_client(lp, srv.addr, on_connect)
    run(lp)
    assert errors == {"str": TypeError, "int": TypeError, "callback": TypeError}


def test_tcp_write_sequence_with_str_item_is_typeerror(lp, run):
    srv = EchoServer(lp)
    errors = []

    def on_connect(h, error):
        for bad in ([b"a", "b"], [b"a", 5]):
            try:
                h.write(bad)
            except Exception as e:  # noqa: BLE001
                errors.append(type(e))
        with pytest.raises(ValueError):
            h.write([])  # "iterable is empty" (src/stream.c:356)
        with pytest.raises(TypeError):
            h.try_write("text")
        h.close()
        srv.server.close()

    _connected_client(lp, srv.addr, on_connect)
    run(lp)
    assert errors == [TypeError, TypeError]


def test_tcp_write_non_sequence_is_typeerror(lp, run):
    t = pyuv.TCP(lp)
    for bad in ({}, {b"a": 1}, set(), (x for x in [b"a"])):
        with pytest.raises(TypeError):
            t.write(bad)
    t.close()
    run(lp)


def test_tcp_io_without_connection_raises_tcperror(lp, run):
    t = pyuv.TCP(lp)
    with pytest.raises(pyuv.error.TCPError) as ei:
        t.write(b"x")
    assert ei.value.args[0] == pyuv.errno.UV_EBADF
    with pytest.raises(pyuv.error.TCPError) as ei:
        t.try_write(b"x")
    assert ei.value.args[0] == pyuv.errno.UV_EBADF
    with pytest.raises(pyuv.error.TCPError) as ei:
        t.shutdown()
    assert ei.value.args[0] == pyuv.errno.UV_ENOTCONN
    t.close()
    run(lp)


def test_tcp_getsockname_getpeername(lp, run):
    srv = EchoServer(lp)
    names = {}

    def on_connect(h, error):
        names["client_sock"] = h.getsockname()
        names["client_peer"] = h.getpeername()

        def later(t):
            t.close()
            names["server_peer"] = srv.conns[0].getpeername()
            names["server_sock"] = srv.conns[0].getsockname()
            h.close()
            srv.conns[0].close()
            srv.server.close()
        t = pyuv.Timer(lp)
        t.start(later, 0.02, 0)

    _connected_client(lp, srv.addr, on_connect)
    run(lp)
    assert srv.addr[0] == "127.0.0.1" and srv.addr[1] > 0
    assert names["client_peer"] == srv.addr
    assert names["server_sock"] == srv.addr
    assert names["server_peer"] == names["client_sock"]
    assert isinstance(names["client_sock"], tuple) and len(names["client_sock"]) == 2


def _sockopt(fd, level, opt):
    s = socket.socket(fileno=os.dup(fd))
    try:
        return s.getsockopt(level, opt)
    finally:
        s.close()


def test_tcp_nodelay_keepalive_simultaneous_accepts(lp, run):
    srv = EchoServer(lp)
    seen = {}

    def on_connect(h, error):
        fd = h.fileno()
        assert h.nodelay(True) is None
        seen["nodelay_on"] = _sockopt(fd, socket.IPPROTO_TCP, socket.TCP_NODELAY)
        h.nodelay(False)
        seen["nodelay_off"] = _sockopt(fd, socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert h.keepalive(True, 77) is None
        seen["keepalive"] = _sockopt(fd, socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        seen["keepidle"] = _sockopt(fd, socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
        h.keepalive(False, 0)
        seen["keepalive_off"] = _sockopt(fd, socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        for call in (lambda: h.nodelay(1), lambda: h.keepalive(1, 5),
                     lambda: srv.server.simultaneous_accepts(1)):
            with pytest.raises(TypeError):
                call()
        h.close()
        srv.server.close()

    assert srv.server.simultaneous_accepts(True) is None
    assert srv.server.simultaneous_accepts(False) is None
    _connected_client(lp, srv.addr, on_connect)
    run(lp)
    assert seen == {"nodelay_on": 1, "nodelay_off": 0, "keepalive": 1,
                    "keepidle": 77, "keepalive_off": 0}


def test_tcp_fileno_set_blocking_and_buffer_sizes(lp, run):
    t = pyuv.TCP(lp, socket.AF_INET)
    fd = t.fileno()
    assert isinstance(fd, int) and fd >= 0
    assert t.family == socket.AF_INET
    assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK
    assert t.set_blocking(True) is None
    assert not fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK
    t.set_blocking(False)
    assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK
    with pytest.raises(TypeError):
        t.set_blocking(1)
    t.send_buffer_size = 65536
    assert t.send_buffer_size == _sockopt(fd, socket.SOL_SOCKET, socket.SO_SNDBUF)
    assert t.send_buffer_size >= 65536
    t.receive_buffer_size = 32768
    assert t.receive_buffer_size == _sockopt(fd, socket.SOL_SOCKET, socket.SO_RCVBUF)
    assert t.receive_buffer_size >= 32768
    t.close()
    run(lp)


def test_tcp_family_and_fileno_without_socket(lp, run):
    t = pyuv.TCP(lp)
    with pytest.raises(pyuv.error.TCPError) as ei:
        t.family
    assert ei.value.args[0] == pyuv.errno.UV_EINVAL
    assert isinstance(ei.value, pyuv.error.StreamError)
    with pytest.raises(pyuv.error.TCPError):
        t.fileno()
    assert t.readable is False and t.writable is False
    t.close()
    run(lp)


def test_tcp_getsockname_without_socket_is_einval(lp):
    t = pyuv.TCP(lp)
    with pytest.raises(pyuv.error.TCPError) as ei:
        t.getsockname()
    assert ei.value.args[0] == pyuv.errno.UV_EINVAL
    t.close()


def test_tcp_readable_writable_write_queue_size_try_write(lp, run):
    srv = EchoServer(lp)
    seen = {}

    def on_connect(h, error):
        seen["rw"] = (h.readable, h.writable)
        assert h.try_write(b"abc") == 3
        h.send_buffer_size = 4096
        peer = srv.conns[0]
        peer.stop_read()  # nobody reads: the kernel buffers fill up
        chunk = b"x" * 65536
        with pytest.raises(pyuv.error.TCPError) as ei:
            for _ in range(10000):
                n = h.try_write(chunk)
                assert 0 < n <= len(chunk)
        seen["eagain"] = ei.value.args
        assert h.write_queue_size == 0
        h.write(b"y" * 100000)
        seen["queued"] = h.write_queue_size
        h.close()
        peer.close()
        srv.server.close()

    c = pyuv.TCP(lp)
    c.connect(srv.addr, lambda h, e: pyuv.Timer(lp).start(
        lambda t: (t.close(), on_connect(h, e)), 0.02, 0))
    run(lp)
    assert seen["rw"] == (True, True)
    assert seen["eagain"][0] == pyuv.errno.UV_EAGAIN
    assert isinstance(seen["eagain"][1], str)
    assert seen["queued"] > 0


def test_tcp_stop_read_pauses_delivery(lp, run):
    srv = EchoServer(lp)
    got = []

    def on_read(h, data, error):
        got.append(data)
        h.stop_read()
        assert not h.active

        def resume(t):
            t.close()
            got.append("resumed")
            h.start_read(on_second)
        pyuv.Timer(lp).start(resume, 0.05, 0)

    def on_second(h, data, error):
        got.append(data)
        h.close()
        srv.conns[0].close()
        srv.server.close()

    def on_connect(h, error):
        h.start_read(on_read)
        h.write(b"one")
        # The echo of "two" arrives while reading is stopped.
        pyuv.Timer(lp).start(lambda t: (t.close(), h.write(b"two")), 0.01, 0)

    _connected_client(lp, srv.addr, on_connect)
    run(lp)
    assert got == [b"one", "resumed", b"two"]


def test_tcp_connect_refused(lp, run):
    s = socket.socket()
    s.bind(LOCAL)
    addr = s.getsockname()
    s.close()  # nobody listens there now
    c, results = _connected_client(lp, addr, lambda h, e: h.close())
    run(lp)
    assert results == [(c, pyuv.errno.UV_ECONNREFUSED)]


def test_tcp_connect_requires_callable(lp):
    c = pyuv.TCP(lp)
    with pytest.raises(TypeError):
        c.connect(("127.0.0.1", 1), None)
    c.close()


def test_tcp_bind_port_overflow_and_address_in_use(lp, run):
    t = pyuv.TCP(lp)
    with pytest.raises(OverflowError):
        t.bind(("127.0.0.1", 65536))
    srv = pyuv.TCP(lp)
    srv.bind(LOCAL)
    srv.listen(lambda *a: None)
    t.bind(srv.getsockname())  # libuv defers EADDRINUSE to listen()
    with pytest.raises(pyuv.error.TCPError) as ei:
        t.listen(lambda *a: None)
    assert ei.value.args[0] == pyuv.errno.UV_EADDRINUSE
    t.close()
    srv.close()
    run(lp)


def test_tcp_listen_bad_arguments(lp, run):
    t = pyuv.TCP(lp)
    t.bind(LOCAL)
    with pytest.raises(TypeError):
        t.listen(None)
    with pytest.raises(ValueError):
        t.listen(lambda *a: None, -1)
    t.listen(lambda *a: None, 5)
    assert t.active
    t.close()
    run(lp)


def test_tcp_accept_rejects_non_streams(lp, run):
    srv = EchoServer(lp)
    srv.server.close()
    with pytest.raises(TypeError):
        pyuv.TCP(lp).accept(pyuv.Timer(lp))
    run(lp)


def test_tcp_open_existing_socket(lp, run):
    srv = EchoServer(lp)
    sock = socket.create_connection(srv.addr, timeout=5)
    sock.setblocking(False)
    got = []
    c = pyuv.TCP(lp)
    assert c.open(sock.detach()) is None
    assert c.getpeername() == srv.addr

    def on_read(h, data, error):
        got.append(data)
        h.close()
        srv.conns[0].close()
        srv.server.close()
    c.start_read(on_read)
    c.write(b"opened")
    run(lp)
    assert got == [b"opened"]


def test_tcp_open_takes_ownership_of_fd(lp, run):
    srv = EchoServer(lp)
    sock = socket.create_connection(srv.addr, timeout=5)
    fd = sock.detach()
    c = pyuv.TCP(lp)
    c.open(fd)
    try:
        assert c.fileno() == fd
    finally:
        c.close()
        srv.server.close()
        for conn in srv.conns:
            conn.close()
        run(lp)
    with pytest.raises(OSError):
        os.fstat(fd)


def test_tcp_open_bad_fd(lp):
    c = pyuv.TCP(lp)
    with pytest.raises(pyuv.error.TCPError):
        c.open(-1)
    c.close()


def test_tcp_operations_on_closed_handle(lp, run):
    t = pyuv.TCP(lp)
    t.close()
    for call in (lambda: t.write(b"x"), lambda: t.start_read(lambda *a: None),
                 lambda: t.bind(LOCAL), lambda: t.try_write(b"x"),
                 lambda: t.shutdown()):
        with pytest.raises(pyuv.error.HandleClosedError):
            call()
    run(lp)


def test_tcp_read_callback_exception_to_excepthook(lp, run):
    srv = EchoServer(lp)
    seen = []
    lp.excepthook = lambda typ, val, tb: seen.append(typ)

    def on_read(h, data, error):
        h.close()
        srv.conns[0].close()
        srv.server.close()
        raise IndexError

    def on_connect(h, error):
        h.start_read(on_read)
        h.write(b"x")
    _connected_client(lp, srv.addr, on_connect)
    run(lp)
    assert seen == [IndexError]


def _has_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")
def test_tcp_ipv6_bind_flags_and_sockname(lp, run):
    t = pyuv.TCP(lp, socket.AF_INET6)
    assert t.family == socket.AF_INET6
    t.bind(("::1", 0), pyuv.UV_TCP_IPV6ONLY)
    name = t.getsockname()
    assert len(name) == 4 and name[0] == "::1" and name[1] > 0
    assert _sockopt(t.fileno(), socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    assert pyuv.UV_TCP_IPV6ONLY == 1
    t.close()
    run(lp)
