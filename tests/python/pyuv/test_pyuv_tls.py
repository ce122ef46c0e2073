"""pyuv.TLS (rsuv's addition to pyuv: a TLS stream with pyuv.TCP's shape) against real peers
over 127.0.0.1: Python's blocking `ssl` module on a thread (the openssl peers are in
test_pyuv_tls_openssl.py). Handshake and echo in both directions, ALPN, SNI, a peer's
truncation (UV_ECONNRESET and `truncated`) against a clean close_notify (UV_EOF),
certificate verification failures (UV_EPROTO and `tls_error`), a handshake timeout, and
4 MiB each way with no byte lost. Each test ends with every handle closed and the loop
finished (the `run` fixture fails a loop that is still running after its guard)."""

import faulthandler
import os
import selectors
import socket
import ssl
import threading
import time

import pytest

import pyuv

UV_EOF = pyuv.errno.UV_EOF
UV_ECONNRESET = pyuv.errno.UV_ECONNRESET
UV_EPROTO = pyuv.errno.UV_EPROTO
UV_ETIMEDOUT = pyuv.errno.UV_ETIMEDOUT
LOCAL = ("127.0.0.1", 0)
WAIT = 20  # seconds: the bound on every wait on a thread or a process


@pytest.fixture(autouse=True)
def _watchdog():
    # A test that hangs despite its timeouts dumps every thread and ends the run.
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def lp(lp):
    """The loop, with an excepthook that keeps what the callbacks raise (an assertion in a
    callback, say) for `run` to raise once the loop is done."""
    lp.callback_errors = []
    lp.excepthook = lambda typ, value, tb: lp.callback_errors.append(value)
    return lp


@pytest.fixture
def run(run):
    def run_and_check(lp, **kw):
        result = run(lp, **kw)
        errors = getattr(lp, "callback_errors", [])
        if errors:
            raise AssertionError(f"a callback raised: {errors!r}") from errors[0]
        return result

    return run_and_check


class Peer:
    """`target()` on a thread of its own (a blocking `ssl` peer, say), its result or
    exception kept for `join()`."""

    def __init__(self, target):
        self.result = self.error = None
        self.thread = threading.Thread(target=self._run, args=(target,), daemon=True)
        self.thread.start()

    def _run(self, target):
        try:
            self.result = target()
        except BaseException as e:  # noqa: B036 (reported by join)
            self.error = e

    def join(self):
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the peer thread is still running"
        return self.result


def server_ctx(pki, alpn=None, maximum_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if maximum_version:
        ctx.maximum_version = maximum_version
    return ctx


class PeerServer(Peer):
    """A Python `ssl` server for one connection on 127.0.0.1; `self.sni` lists the names
    its SNI callback saw, `self.alpn` what ALPN chose."""

    def __init__(self, pki, serve, **ctx_kw):
        self.ctx = server_ctx(pki, **ctx_kw)
        self.sni = []
        self.alpn = None
        self.ctx.sni_callback = lambda sslobj, name, ctx: self.sni.append(name)
        self.lsock = socket.create_server(LOCAL)
        self.lsock.settimeout(WAIT)
        self.addr = self.lsock.getsockname()
        self.serve = serve
        super().__init__(self._accept)

    def _accept(self):
        with self.lsock:
            conn, _ = self.lsock.accept()
        conn.settimeout(WAIT)
        with self.ctx.wrap_socket(conn, server_side=True) as s:
            self.alpn = s.selected_alpn_protocol()
            return self.serve(s)


def exchange(s, payload, timeout=WAIT, chunk=1 << 16):
    """Sends `payload` on the `ssl` socket `s` while reading as many bytes back, on this one
    thread (an SSL object must not be read and written from two threads at once): `s` is
    non-blocking meanwhile. Returns what came back (less at EOF)."""
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    deadline = time.monotonic() + timeout
    sent, got = 0, bytearray()
    try:
        while len(got) < len(payload):
            left = deadline - time.monotonic()
            assert left > 0, f"exchange stuck: {sent} sent, {len(got)} received"
            sel.select(left)
            if sent < len(payload):
                try:
                    sent += s.send(payload[sent:sent + chunk])
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
                if sent == len(payload):
                    sel.modify(s, selectors.EVENT_READ)
            try:
                while data := s.recv(chunk):
                    got += data
                break  # EOF
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
    finally:
        sel.close()
        s.settimeout(timeout)
    return bytes(got)


def echo_until_close_notify(s):
    """Echoes until the peer's close_notify, answers it; returns how many bytes it echoed."""
    n = 0
    while data := s.recv(1 << 16):
        s.sendall(data)
        n += len(data)
    s.unwrap()
    return n


def pyuv_client(lp, addr, pki, **kw):
    kw.setdefault("cafile", str(pki / "ca.pem"))
    kw.setdefault("server_hostname", "localhost")
    return pyuv.TLS(lp, **kw)


class Reader:
    """A pyuv `on_read` that keeps the data and the final error, and closes the handle at
    the end. `info` is the handle's `(version, alpn_protocol)` at the end (a closed handle
    has no connection left to tell them)."""

    def __init__(self):
        self.data = bytearray()
        self.end = "not yet"
        self.info = None

    def finish(self, handle, error):
        self.end = error
        self.info = (handle.version, handle.alpn_protocol)

    def __call__(self, handle, data, error):
        if data is not None:
            assert error is None
            self.data += data
            return
        self.finish(handle, error)
        if not handle.closed:
            handle.close()


def pyuv_server(lp, pki, on_accepted, **kw):
    """A pyuv.TLS listener on 127.0.0.1 that accepts one connection, hands it to
    `on_accepted(conn)` and closes itself."""
    server = pyuv.TLS(lp, server_side=True, certfile=str(pki / "server.pem"),
                      keyfile=str(pki / "server.key"), **kw)
    server.bind(LOCAL)

    def on_connection(srv, error):
        assert error is None
        conn = pyuv.TLS(lp)
        srv.accept(conn)
        srv.close()
        on_accepted(conn)

    server.listen(on_connection)
    return server


# ---- pyuv.TLS as a client of Python's ssl ----


def test_client_handshake_echo_and_clean_close_notify(lp, run, pki):
    peer = PeerServer(pki, echo_until_close_notify)
    c = pyuv_client(lp, peer.addr, pki)
    events = []
    reader = Reader()
    payload = b"hello over pyuv.TLS\n"

    def on_read(h, data, error):
        reader(h, data, error)
        if data is not None and bytes(reader.data) == payload:
            h.shutdown(lambda hh, err: events.append(("shutdown", err)))

    def on_connect(h, error):
        events.append(("connect", error, h.version, h.cipher, h.tls_error))
        h.start_read(on_read)
        h.write(payload, lambda hh, err: events.append(("write", err)))

    c.connect(peer.addr, on_connect)
    run(lp, timeout=WAIT)
    assert peer.join() == len(payload), peer.error
    (_, error, version, cipher, tls_error), *rest = events
    assert error is None and tls_error is None
    assert version in ("TLSv1.2", "TLSv1.3") and cipher
    assert rest == [("write", None), ("shutdown", None)]
    assert bytes(reader.data) == payload
    # The server answered our close_notify with its own: a clean end, no truncation.
    assert reader.end == UV_EOF
    assert not c.truncated and c.tls_error is None and c.closed


def test_client_sees_the_servers_close_notify_as_eof(lp, run, pki):
    def serve(s):
        s.sendall(b"bye")
        s.unwrap()  # close_notify first, then wait for ours

    peer = PeerServer(pki, serve)
    c = pyuv_client(lp, peer.addr, pki)
    shut = []
    data = bytearray()

    def on_read(h, chunk, error):
        if chunk is not None:
            data.extend(chunk)
            return
        shut.append(error)
        if error == UV_EOF:  # answer it, then close
            h.shutdown(lambda hh, err: (shut.append(err), hh.close()))
        else:
            h.close()

    c.connect(peer.addr, lambda h, e: h.start_read(on_read))
    run(lp, timeout=WAIT)
    peer.join()
    assert peer.error is None, peer.error  # our close_notify reached the server's unwrap()
    assert bytes(data) == b"bye"
    assert shut == [UV_EOF, None] and not c.truncated


def test_client_reports_a_truncation_as_econnreset_with_truncated(lp, run, pki):
    def serve(s):
        s.recv(100)
        s.sendall(b"cut short")
        s.shutdown(socket.SHUT_RDWR)  # TCP ends, no close_notify

    peer = PeerServer(pki, serve)
    c = pyuv_client(lp, peer.addr, pki)
    reader = Reader()

    def on_connect(h, error):
        assert error is None
        h.start_read(reader)
        h.write(b"go")

    c.connect(peer.addr, on_connect)
    run(lp, timeout=WAIT)
    peer.join()
    assert bytes(reader.data) == b"cut short"  # what came before the cut is delivered
    assert reader.end == UV_ECONNRESET
    assert c.truncated
    assert "close_notify" in c.tls_error


def test_client_alpn_and_sni_seen_by_the_server(lp, run, pki):
    peer = PeerServer(pki, echo_until_close_notify, alpn=["http/1.1"])
    c = pyuv_client(lp, peer.addr, pki, alpn=["h2", "http/1.1"])
    seen = []

    def on_connect(h, error):
        seen.append((error, h.alpn_protocol))
        h.start_read(Reader())
        h.shutdown()

    c.connect(peer.addr, on_connect)
    run(lp, timeout=WAIT)
    peer.join()
    assert seen == [(None, "http/1.1")]
    assert peer.alpn == "http/1.1"
    assert peer.sni == ["localhost"]


def test_client_without_server_hostname_verifies_the_ip_and_sends_no_sni(lp, run, pki):
    peer = PeerServer(pki, echo_until_close_notify)
    c = pyuv.TLS(lp, cafile=str(pki / "ca.pem"))
    seen = []

    def on_connect(h, error):
        seen.append((error, h.alpn_protocol))
        h.start_read(Reader())
        h.shutdown()

    c.connect(peer.addr, on_connect)
    run(lp, timeout=WAIT)
    peer.join()
    # The certificate names IP:127.0.0.1; an IP address is never sent as SNI (RFC 6066).
    assert seen == [(None, None)]
    assert peer.sni == [None]


def test_client_negotiates_tls12_with_a_tls12_only_server(lp, run, pki):
    peer = PeerServer(pki, echo_until_close_notify, maximum_version=ssl.TLSVersion.TLSv1_2)
    c = pyuv_client(lp, peer.addr, pki)
    reader = Reader()
    versions = []

    def on_read(h, data, error):
        reader(h, data, error)
        if data is not None and bytes(reader.data) == b"twelve":
            h.shutdown()

    def on_connect(h, error):
        versions.append(h.version)
        h.start_read(on_read)
        h.write(b"twelve")

    c.connect(peer.addr, on_connect)
    run(lp, timeout=WAIT)
    peer.join()
    assert versions == ["TLSv1.2"]
    assert bytes(reader.data) == b"twelve" and reader.end == UV_EOF


@pytest.mark.parametrize("ca,name,reason", [
    ("other_ca.pem", "localhost", "unable to get local issuer certificate"),
    ("ca.pem", "wrong.example", "hostname mismatch"),
])
def test_client_verify_failure_is_eproto_with_tls_error(lp, run, pki, ca, name, reason):
    peer = PeerServer(pki, echo_until_close_notify)
    c = pyuv.TLS(lp, cafile=str(pki / ca), server_hostname=name)
    seen = []

    def on_connect(h, error):
        seen.append((error, h.tls_error, h.truncated))
        h.close()

    c.connect(peer.addr, on_connect)
    run(lp, timeout=WAIT)
    peer.join()
    assert seen == [(UV_EPROTO, f"certificate verify failed: {reason}", False)]
    # The server heard our alert.
    assert isinstance(peer.error, ssl.SSLError), peer.error


def test_client_verify_false_accepts_an_untrusted_certificate(lp, run, pki):
    peer = PeerServer(pki, echo_until_close_notify)
    c = pyuv.TLS(lp, cafile=str(pki / "other_ca.pem"), server_hostname="wrong.example",
                 verify=False)
    seen = []

    def on_connect(h, error):
        seen.append(error)
        h.start_read(Reader())
        h.shutdown()

    c.connect(peer.addr, on_connect)
    run(lp, timeout=WAIT)
    peer.join()
    assert seen == [None] and peer.error is None


def test_client_handshake_timeout(lp, run):
    # A TCP server that accepts and never answers the ClientHello.
    with socket.create_server(LOCAL) as silent:
        c = pyuv.TLS(lp, handshake_timeout=0.3)
        seen = []

        def on_connect(h, error):
            seen.append((error, h.tls_error))
            h.close()

        c.connect(silent.getsockname(), on_connect)
        run(lp, timeout=WAIT)
    assert len(seen) == 1
    assert seen[0][0] == UV_ETIMEDOUT, seen
    assert seen[0][1]


def test_client_against_a_peer_that_does_not_speak_tls(lp, run):
    with socket.create_server(LOCAL) as plain:
        def serve():
            conn, _ = plain.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

        peer = Peer(serve)
        c = pyuv.TLS(lp)
        seen = []

        def on_connect(h, error):
            seen.append((error, h.tls_error))
            h.close()

        c.connect(plain.getsockname(), on_connect)
        run(lp, timeout=WAIT)
        peer.join()
    assert len(seen) == 1 and seen[0][0] == UV_EPROTO and seen[0][1], seen


def test_client_transfers_4_mib_both_ways_without_losing_a_byte(lp, run, pki):
    peer = PeerServer(pki, echo_until_close_notify)
    c = pyuv_client(lp, peer.addr, pki)
    payload = os.urandom(4 << 20)
    reader = Reader()
    writes = []

    def on_read(h, data, error):
        reader(h, data, error)
        if data is not None and len(reader.data) == len(payload):
            h.shutdown()

    def on_connect(h, error):
        h.start_read(on_read)
        for i in range(0, len(payload), 1 << 18):  # 16 writes of 256 KiB, queued at once
            h.write(payload[i:i + (1 << 18)], lambda hh, err: writes.append(err))

    c.connect(peer.addr, on_connect)
    run(lp, timeout=60)
    assert peer.join() == len(payload), peer.error
    assert writes == [None] * 16
    assert len(reader.data) == len(payload)
    assert bytes(reader.data) == payload
    assert reader.end == UV_EOF


# ---- pyuv.TLS as a server for Python's ssl ----


class PeerClient(Peer):
    """A Python `ssl` client of `addr` on a thread: `talk(tls_socket)` runs once connected."""

    def __init__(self, pki, addr, talk, alpn=None, ca="ca.pem", name="localhost"):
        ctx = ssl.create_default_context(cafile=str(pki / ca))
        if alpn:
            ctx.set_alpn_protocols(alpn)
        self.alpn = None

        def connect():
            raw = socket.create_connection(addr[:2], timeout=WAIT)
            with ctx.wrap_socket(raw, server_hostname=name) as s:
                self.alpn = s.selected_alpn_protocol()
                return talk(s)

        super().__init__(connect)


def echoing(conn, reader):
    """Starts `conn` echoing what it reads (and keeping it in `reader`); at the client's
    close_notify, answers with ours and closes."""

    def on_read(h, data, error):
        if data is not None:
            h.write(data)
            reader.data += data
            return
        reader.finish(h, error)
        if error == UV_EOF:
            h.shutdown(lambda hh, err: hh.close())
        else:
            h.close()

    conn.start_read(on_read)


def test_server_handshake_echo_and_clean_close(lp, run, pki):
    payload = b"hello pyuv.TLS server\n"
    accepted = []
    reader = Reader()

    def on_accepted(conn):
        accepted.append(conn)
        echoing(conn, reader)

    server = pyuv_server(lp, pki, on_accepted, alpn=["http/1.1"])

    def talk(s):
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            got += s.recv(100)
        version = s.version()
        s.unwrap()  # returns once the server's close_notify answered ours
        return got, version

    peer = PeerClient(pki, server.getsockname(), talk, alpn=["h2", "http/1.1"])
    run(lp, timeout=WAIT)
    got, version = peer.join() or (None, None)
    assert peer.error is None, peer.error
    assert got == payload
    assert peer.alpn == "http/1.1"
    (conn,) = accepted
    assert reader.info == (version, "http/1.1")
    assert reader.end == UV_EOF and not conn.truncated and conn.closed


def test_server_reports_a_client_truncation(lp, run, pki):
    accepted = []
    reader = Reader()

    def on_accepted(conn):
        accepted.append(conn)
        echoing(conn, reader)

    server = pyuv_server(lp, pki, on_accepted)

    def talk(s):
        s.sendall(b"abc")
        got = s.recv(100)
        s.shutdown(socket.SHUT_RDWR)  # no close_notify
        return got

    peer = PeerClient(pki, server.getsockname(), talk)
    run(lp, timeout=WAIT)
    assert peer.join() == b"abc", peer.error
    (conn,) = accepted
    assert bytes(reader.data) == b"abc"
    assert reader.end == UV_ECONNRESET
    assert conn.truncated and conn.tls_error


def test_server_reports_a_refused_handshake_via_on_read(lp, run, pki):
    accepted = []
    reader = Reader()

    def on_accepted(conn):
        accepted.append(conn)
        conn.start_read(reader)

    server = pyuv_server(lp, pki, on_accepted)
    peer = PeerClient(pki, server.getsockname(), lambda s: None, ca="other_ca.pem")
    run(lp, timeout=WAIT)
    peer.join()
    assert isinstance(peer.error, ssl.SSLCertVerificationError), peer.error
    (conn,) = accepted
    assert reader.end == UV_EPROTO
    assert "unknown ca" in conn.tls_error
    assert not conn.truncated and reader.info == (None, None)  # no handshake done


def test_server_transfers_4_mib_both_ways_without_losing_a_byte(lp, run, pki):
    payload = os.urandom(4 << 20)
    reader = Reader()
    server = pyuv_server(lp, pki, lambda conn: echoing(conn, reader))

    def talk(s):
        got = exchange(s, payload)  # writes while it reads the echo
        s.unwrap()
        return got

    peer = PeerClient(pki, server.getsockname(), talk)
    run(lp, timeout=60)
    got = peer.join()
    assert peer.error is None, peer.error
    assert len(got) == len(payload)
    assert got == payload
    assert bytes(reader.data) == payload and reader.end == UV_EOF


def test_server_serves_several_clients_at_once(lp, run, pki):
    server = pyuv.TLS(lp, server_side=True, certfile=str(pki / "server.pem"),
                      keyfile=str(pki / "server.key"))
    server.bind(LOCAL)
    conns = []

    def on_connection(srv, error):
        conn = pyuv.TLS(lp)
        srv.accept(conn)
        conns.append(conn)
        echoing(conn, Reader())
        if len(conns) == 4:
            srv.close()

    server.listen(on_connection)

    def talk(s):
        msg = os.urandom(100_000)
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            got += s.recv(1 << 16)
        s.unwrap()
        return got == msg

    peers = [PeerClient(pki, server.getsockname(), talk) for _ in range(4)]
    run(lp, timeout=WAIT)
    assert [p.join() for p in peers] == [True] * 4, [p.error for p in peers]
    assert all(c.closed for c in conns)


# ---- flow control, client certificates, timeouts, callbacks ----


def test_client_stop_read_holds_data_until_start_read(lp, run, pki):
    payload = os.urandom(300_000)

    def serve(s):
        s.recv(10)
        s.sendall(payload)
        s.unwrap()  # data, then close_notify, while the client is not reading

    peer = PeerServer(pki, serve)
    c = pyuv_client(lp, peer.addr, pki)
    got = bytearray()
    ends = []
    paused = []
    resume = pyuv.Timer(lp)

    def on_read(h, data, error):
        assert not paused or paused[-1] == "resumed", "a callback while stopped"  # run raises
        if data is None:
            ends.append(error)
            resume.close()
            h.shutdown(lambda hh, err: hh.close())
            return
        got.extend(data)
        if len(paused) < 6:  # stop after each of the first chunks, resume a little later
            h.stop_read()
            paused.append("stopped")
            resume.start(lambda t: (paused.append("resumed"), h.start_read(on_read)), 0.02, 0)

    def on_connect(h, error):
        h.start_read(on_read)
        h.write(b"go")

    c.connect(peer.addr, on_connect)
    run(lp, timeout=WAIT)
    peer.join()
    assert peer.error is None, peer.error
    assert bytes(got) == payload
    assert ends == [UV_EOF]  # the close_notify waited for start_read too


def test_client_write_queue_size_counts_what_waits_for_the_socket(lp, run, pki):
    release = threading.Event()

    def serve(s):
        release.wait(WAIT)  # not reading yet: the client's writes pile up
        return echo_until_close_notify_discarding(s)

    peer = PeerServer(pki, serve)
    c = pyuv_client(lp, peer.addr, pki)
    sizes = []

    def on_written(h, error):
        sizes.append(("written", error, h.write_queue_size))
        h.start_read(Reader())
        h.shutdown()

    def check(timer):
        timer.close()
        sizes.append(("later", c.write_queue_size))
        release.set()

    def on_connect(h, error):
        h.write(os.urandom(16 << 20), on_written)  # more than the kernel's buffers take
        sizes.append(("queued", h.write_queue_size))
        pyuv.Timer(lp).start(check, 0.2, 0)

    c.connect(peer.addr, on_connect)
    run(lp, timeout=WAIT)
    assert peer.join() == 16 << 20, peer.error
    (_, queued), (_, later), written = sizes
    assert queued > 0 and later > 0  # the peer does not read: bytes wait in the queue
    assert written == ("written", None, 0)


def echo_until_close_notify_discarding(s):
    """Reads (and drops) until the peer's close_notify, answers it; returns the count."""
    n = 0
    while data := s.recv(1 << 16):
        n += len(data)
    s.unwrap()
    return n


def test_client_certificate_sent_to_a_server_that_requires_one(lp, run, pki):
    def serve(s):
        subject = dict(x[0] for x in s.getpeercert()["subject"])
        echo_until_close_notify(s)
        return subject["commonName"]

    peer = PeerServer(pki, serve)
    peer.ctx.verify_mode = ssl.CERT_REQUIRED
    peer.ctx.load_verify_locations(pki / "ca.pem")
    c = pyuv_client(lp, peer.addr, pki, certfile=str(pki / "client.pem"),
                    keyfile=str(pki / "client.key"))
    seen = []

    def on_connect(h, error):
        seen.append(error)
        h.start_read(Reader())
        h.shutdown()

    c.connect(peer.addr, on_connect)
    run(lp, timeout=WAIT)
    assert peer.join() == "client", peer.error
    assert seen == [None]


def test_server_handshake_timeout_reported_via_on_read(lp, run, pki):
    server = pyuv.TLS(lp, server_side=True, certfile=str(pki / "server.pem"),
                      keyfile=str(pki / "server.key"))
    server.bind(LOCAL)
    reader = Reader()
    accepted = []

    def on_connection(srv, error):
        conn = pyuv.TLS(lp, handshake_timeout=0.3)  # the accepted handle's own timeout
        srv.accept(conn)
        srv.close()
        accepted.append(conn)
        conn.start_read(reader)

    server.listen(on_connection)
    with socket.create_connection(server.getsockname()[:2], timeout=WAIT):  # says nothing
        run(lp, timeout=WAIT)
    (conn,) = accepted
    assert reader.end == UV_ETIMEDOUT
    assert conn.tls_error and not conn.truncated


def test_an_exception_in_a_tls_callback_goes_to_the_loops_excepthook(lp, run):
    hooked = []
    lp.excepthook = lambda typ, value, tb: hooked.append(value)
    with socket.create_server(LOCAL) as silent:
        c = pyuv.TLS(lp, handshake_timeout=0.2)

        def on_connect(h, error):
            h.close()
            raise ValueError("from on_connect")

        c.connect(silent.getsockname(), on_connect)
        run(lp, timeout=WAIT)
    assert [str(e) for e in hooked] == ["from on_connect"]


def test_close_while_connecting_cancels_the_connect_callback(lp, run):
    with socket.create_server(LOCAL) as listener:
        events = []
        c = pyuv.TLS(lp)
        c.connect(listener.getsockname(), lambda h, error: events.append(("connect", error)))
        c.close(lambda h: events.append("closed"))
        run(lp, timeout=WAIT)
    assert events == [("connect", pyuv.errno.UV_ECANCELED), "closed"]


def test_close_cancels_pending_write_and_shutdown_callbacks(lp, run, pki):
    release = threading.Event()

    def serve(s):
        release.wait(WAIT)  # never reads before the client closes

    peer = PeerServer(pki, serve)
    c = pyuv_client(lp, peer.addr, pki)
    events = []

    def on_connect(h, error):
        h.write(os.urandom(8 << 20), lambda hh, err: events.append(("write", err)))
        h.write(b"x", lambda hh, err: events.append(("write", err)))
        h.shutdown(lambda hh, err: events.append(("shutdown", err)))
        h.close(lambda hh: events.append("closed"))

    c.connect(peer.addr, on_connect)
    try:
        run(lp, timeout=WAIT)
    finally:
        release.set()
        peer.join()
    # Every request heard of the close, with an error, before the close callback.
    assert len(events) == 4 and events[-1] == "closed", events
    assert [e[0] for e in events[:3]] == ["write", "write", "shutdown"], events
    assert all(e[1] is not None for e in events[:3]), events


def test_close_after_a_failed_handshake_still_calls_the_close_callback(lp, run):
    # The stream closed its socket itself when the handshake failed; a close() later must
    # still end with the close callback (it used to be dropped).
    with socket.create_server(LOCAL) as listener:
        def garbage():
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"not TLS at all\r\n" * 10)

        t = threading.Thread(target=garbage, daemon=True)
        t.start()
        events = []
        c = pyuv.TLS(lp)

        def close_later(h, error):
            events.append(("connect", error))
            timer = pyuv.Timer(lp)
            timer.start(lambda tm: (tm.close(), h.close(lambda hh: events.append("closed"))),
                        0.2, 0)

        c.connect(listener.getsockname(), close_later)
        run(lp, timeout=WAIT)
        t.join(WAIT)
    assert events == [("connect", UV_EPROTO), "closed"]
