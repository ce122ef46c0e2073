"""The pyuv samples (examples/pyuv/), each run as its own process and driven over 127.0.0.1:
the TCP echo server (1 MiB on several connections at once), the chat room (lines to the
others and not to the sender, joins and leaves), the signal-driven clean stop, and the TLS
echo pair — with each other, with the Rust and asyncio samples both ways, and with
`openssl s_client` / `s_server`. Each server prints one `listening on HOST:PORT` line (port
0) and exits 0 on SIGTERM and on SIGINT."""

import faulthandler
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

import pytest

from test_pyuv_tls import exchange
from test_pyuv_tls_openssl import openssl_s_server, readline_within

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
EXAMPLES = os.path.join(ROOT, "examples", "pyuv")
PY_EXAMPLES = os.path.join(ROOT, "examples", "python")
RUST_EXAMPLES = os.path.join(ROOT, "target", "debug", "examples")
LISTENING = re.compile(rb"^listening on (127\.0\.0\.1):(\d+)$")
STOP_SIGNALS = [signal.SIGTERM, signal.SIGINT]
WAIT = 20  # seconds: the bound on every wait below


@pytest.fixture(autouse=True)
def _watchdog():
    # A test that hangs despite its timeouts dumps every thread and ends the run.
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


class Server:
    """A server program: started, its `listening on` line read, stopped with a signal."""

    def __init__(self, cmd, name):
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd=ROOT)
        self.line = readline_within(self.proc.stdout).rstrip(b"\n")
        m = LISTENING.match(self.line)
        if m is None:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=WAIT)
            raise AssertionError(f"{name} printed {self.line!r}: {err!r}")
        self.port = int(m.group(2))
        self.addr = f"127.0.0.1:{self.port}"

    def stop(self, signum=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        out, err = self.proc.communicate(timeout=WAIT)
        return self.proc.returncode, out, err


@pytest.fixture
def servers():
    started = []

    def start(cmd, name):
        s = Server(cmd, name)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.communicate(timeout=WAIT)


def pyuv_cmd(name, *args):
    return [sys.executable, os.path.join(EXAMPLES, name), *map(str, args)]


def _rust(name):
    path = os.path.join(RUST_EXAMPLES, name)
    if not os.path.exists(path):
        subprocess.run(["cargo", "build", "--quiet", "--example", name], cwd=ROOT, check=True,
                       timeout=900)
    return path


def _connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    s.settimeout(WAIT)
    return s


def _recv_all(sock):
    """Everything until EOF."""
    chunks = []
    while data := sock.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


# ---- tcp_echo_server.py ----


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_tcp_echo_server_echoes_every_byte_on_several_connections(servers, signum):
    srv = servers(pyuv_cmd("tcp_echo_server.py", "127.0.0.1:0"), "tcp_echo_server")
    payloads = [os.urandom(1 << 20) for _ in range(3)]
    results = [None] * len(payloads)

    def client(i):
        with _connect(srv.port) as s:
            got = []
            reader = threading.Thread(target=lambda: got.append(_recv_all(s)))
            reader.start()
            s.sendall(payloads[i])
            s.shutdown(socket.SHUT_WR)  # the server finishes echoing, then half-closes back
            reader.join(WAIT)
            results[i] = got[0] if got else None

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 2)
    assert [r == p for r, p in zip(results, payloads)] == [True] * len(payloads)
    rc, _, err = srv.stop(signum)
    assert rc == 0, err
    assert err == b""


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_tcp_echo_server_stop_closes_the_open_connections(servers, signum):
    srv = servers(pyuv_cmd("tcp_echo_server.py", "127.0.0.1:0"), "tcp_echo_server")
    with _connect(srv.port) as s:
        s.sendall(b"ping\n")
        assert s.recv(100) == b"ping\n"
        rc, _, err = srv.stop(signum)
        assert rc == 0, err
        assert _recv_all(s) == b""  # closed by the server, not left half-open


def test_tcp_echo_server_usage_and_bind_failure_exit_codes():
    r = subprocess.run(pyuv_cmd("tcp_echo_server.py"), capture_output=True, timeout=WAIT)
    assert r.returncode == 2
    assert r.stderr.startswith(b"usage: tcp_echo_server ADDR")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        r = subprocess.run(pyuv_cmd("tcp_echo_server.py", f"127.0.0.1:{port}"),
                           capture_output=True, timeout=WAIT)
    assert r.returncode == 1
    assert r.stderr.startswith(b"tcp_echo_server: "), r.stderr
    assert b"address already in use" in r.stderr.lower(), r.stderr


# ---- chat_server.py ----


class Participant:
    def __init__(self, port):
        self.sock = _connect(port)
        self.file = self.sock.makefile("rb")
        self.name = "%s:%d" % self.sock.getsockname()

    def line(self):
        return self.file.readline()

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.file.close()
        self.sock.close()


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_chat_server_relays_lines_to_the_others_and_announces_joins_and_leaves(servers,
                                                                               signum):
    srv = servers(pyuv_cmd("chat_server.py", "127.0.0.1:0"), "chat_server")
    a = Participant(srv.port)
    b = Participant(srv.port)
    assert a.line() == f"* {b.name} joined\n".encode()
    c = Participant(srv.port)
    assert a.line() == f"* {c.name} joined\n".encode()
    assert b.line() == f"* {c.name} joined\n".encode()

    b.send(b"hello room\n")
    assert a.line() == b"hello room\n"
    assert c.line() == b"hello room\n"
    # A partial line is held back until its newline; the bytes arrive as sent.
    a.send(b"caf\xc3")
    a.send(b"\xa9 partial")
    a.send(b" line\nand a second\n")
    for who in (b, c):
        assert who.line() == "café partial line\n".encode()
        assert who.line() == b"and a second\n"
    # The sender never gets its own line back: the next thing b hears is c's line.
    c.send(b"from c\n")
    assert b.line() == b"from c\n"
    assert a.line() == b"from c\n"

    c.close()
    assert a.line() == f"* {c.name} left\n".encode()
    assert b.line() == f"* {c.name} left\n".encode()

    rc, _, err = srv.stop(signum)
    for who in (a, b):
        assert who.line() == b"* the server is stopping\n"
        assert who.line() == b""  # then the connection ends
        who.close()
    assert rc == 0, err
    assert err == b""


def test_chat_server_drops_a_participant_whose_line_is_too_long(servers):
    srv = servers(pyuv_cmd("chat_server.py", "127.0.0.1:0"), "chat_server")
    a = Participant(srv.port)
    b = Participant(srv.port)
    assert a.line() == f"* {b.name} joined\n".encode()
    try:
        b.send(b"x" * (64 * 1024 + 10))
    except OSError:
        pass  # the server may have closed already
    assert a.line() == f"* {b.name} left\n".encode()
    assert b.sock.recv(100) == b""
    a.close()
    b.close()
    rc, _, err = srv.stop()
    assert rc == 0, err
    assert b"line too long, disconnected" in err


# ---- signal_shutdown.py ----


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_signal_shutdown_says_bye_closes_every_handle_and_exits_0(servers, signum):
    srv = servers(pyuv_cmd("signal_shutdown.py", "127.0.0.1:0"), "signal_shutdown")
    with _connect(srv.port) as s:
        f = s.makefile("rb")
        first = f.readline()
        assert re.fullmatch(rb"tick \d+\n", first), first
        second = f.readline()
        assert int(second.split()[1]) == int(first.split()[1]) + 1
        rc, out, err = srv.stop(signum)
        rest = f.read().splitlines()  # to EOF: the server closed us
        f.close()
    assert rest and rest[-1] == b"bye", rest
    assert all(re.fullmatch(rb"tick \d+", line) for line in rest[:-1]), rest
    assert rc == 0, err
    assert re.fullmatch(rb"stopped on %s: \d+ handles closed\n" % signum.name.encode(), out), out
    assert err == b""


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_signal_shutdown_without_clients(servers, signum):
    srv = servers(pyuv_cmd("signal_shutdown.py"), "signal_shutdown")
    rc, out, err = srv.stop(signum)
    assert rc == 0, err
    assert out.startswith(b"stopped on %s: " % signum.name.encode()), out


# ---- tls_echo_server.py / tls_echo_client.py ----


def _tls_server(servers, kind, pki):
    cert, key = pki / "server.pem", pki / "server.key"
    cmd = {
        "pyuv": pyuv_cmd("tls_echo_server.py", "127.0.0.1:0", cert, key),
        "rust": [_rust("tls_echo_server"), "127.0.0.1:0", str(cert), str(key)],
        "asyncio": [sys.executable, os.path.join(PY_EXAMPLES, "tls_echo_server.py"),
                    "127.0.0.1:0", str(cert), str(key)],
    }[kind]
    return servers(cmd, f"{kind} tls_echo_server")


def _tls_client(kind, addr, ca, stdin, *extra):
    cmd = {
        "pyuv": pyuv_cmd("tls_echo_client.py"),
        "rust": [_rust("tls_echo_client")],
        "asyncio": [sys.executable, os.path.join(PY_EXAMPLES, "tls_echo_client.py")],
    }[kind]
    return subprocess.run(cmd + [addr, str(ca), *extra], input=stdin, capture_output=True,
                          timeout=60, cwd=ROOT)


def _lines(n):
    return b"".join(b"line %d %s\n" % (i, os.urandom(8).hex().encode()) for i in range(n))


NEGOTIATED = re.compile(rb"^negotiated TLSv1\.[23] \S+ ALPN http/1\.1$", re.M)


@pytest.mark.parametrize("server,client", [
    ("pyuv", "pyuv"), ("pyuv", "rust"), ("rust", "pyuv"), ("pyuv", "asyncio"),
    ("asyncio", "pyuv"),
])
def test_tls_echo_pair_interoperates_with_the_rust_and_asyncio_samples(servers, pki, server,
                                                                       client):
    srv = _tls_server(servers, server, pki)
    lines = _lines(200)
    r = _tls_client(client, srv.addr, pki / "ca.pem", lines)
    assert r.returncode == 0, r.stderr
    assert r.stdout == lines
    assert NEGOTIATED.search(r.stderr), r.stderr
    rc, _, err = srv.stop()
    assert rc == 0, err


def test_tls_echo_server_echoes_4_mib_without_losing_a_byte(servers, pki):
    srv = _tls_server(servers, "pyuv", pki)
    payload = os.urandom(4 << 20)
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    with _connect(srv.port) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as s:
        got = exchange(s, payload, chunk=4096)  # writes while it reads the echo
        s.unwrap()  # our close_notify, answered by the server's
    assert len(got) == len(payload)
    assert got == payload
    rc, _, err = srv.stop()
    assert rc == 0, err
    assert err == b""


@pytest.mark.parametrize("server", ["pyuv", "rust"])
@pytest.mark.parametrize("client", ["pyuv", "rust"])
def test_tls_echo_client_certificate_verify_failures(servers, pki, server, client):
    srv = _tls_server(servers, server, pki)
    name = _tls_client(client, srv.addr, pki / "ca.pem", b"x\n", "--servername", "wrong.example")
    ca = _tls_client(client, srv.addr, pki / "other_ca.pem", b"x\n")
    for r, reason in ((name, b"hostname mismatch"),
                      (ca, b"unable to get local issuer certificate")):
        assert r.returncode == 1, r.stderr
        assert r.stdout == b""
        assert r.stderr.strip().splitlines()[-1] == (
            b"tls_echo_client: certificate verify failed: " + reason), r.stderr
    # Each refused handshake closed that connection only: the server still serves.
    ok = _tls_client(client, srv.addr, pki / "ca.pem", b"still here\n")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == b"still here\n"
    rc, _, err = srv.stop()
    assert rc == 0, err
    assert err.count(b": handshake: ") == 2, err


def test_tls_echo_client_servername_option_and_usage(servers, pki):
    srv = _tls_server(servers, "pyuv", pki)
    r = _tls_client("pyuv", srv.addr, pki / "ca.pem", b"by name\n", "--servername", "localhost")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"by name\n"
    r = subprocess.run(pyuv_cmd("tls_echo_client.py", srv.addr), capture_output=True,
                       timeout=WAIT)
    assert r.returncode == 2
    assert r.stderr.startswith(b"usage: tls_echo_client ADDR CA_PEM [--servername NAME]")
    r = _tls_client("pyuv", srv.addr, pki / "missing.pem", b"x\n")
    assert r.returncode == 1
    assert r.stderr.startswith(b"tls_echo_client: "), r.stderr
    assert b"missing.pem" in r.stderr
    rc, _, err = srv.stop()
    assert rc == 0, err


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: s.name)
def test_tls_echo_server_stop_closes_open_connections(servers, pki, signum):
    srv = _tls_server(servers, "pyuv", pki)
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    with _connect(srv.port) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"hello\n")
        assert s.recv(100) == b"hello\n"
        rc, _, err = srv.stop(signum)
        assert rc == 0, err
        # The server closed the connection (without close_notify: it is stopping), which
        # this socket (suppress_ragged_eofs) reads as the end.
        try:
            assert s.recv(100) == b""
        except (ssl.SSLError, ConnectionError):
            pass


def test_tls_echo_server_survives_a_peer_that_does_not_speak_tls(servers, pki):
    srv = _tls_server(servers, "pyuv", pki)
    with _connect(srv.port) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        # The server refuses the handshake (an alert, perhaps) and closes the connection.
        try:
            _recv_all(s)
        except ConnectionResetError:
            pass
    r = _tls_client("pyuv", srv.addr, pki / "ca.pem", b"next\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"next\n"
    rc, _, err = srv.stop()
    assert rc == 0, err
    assert re.search(rb"127\.0\.0\.1:\d+: handshake: ", err), err


# ---- against openssl s_client / s_server ----


def _s_client(port, ca, *extra):
    return subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(ca),
         "-verify_return_error", "-servername", "localhost", *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _read_exactly(stream, n, timeout=WAIT):
    """`n` bytes of a pipe (fewer at EOF), waiting at most `timeout` seconds."""
    got = bytearray()

    def read():
        while len(got) < n and (data := stream.read1(n - len(got))):
            got.extend(data)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(timeout)
    return bytes(got)


def test_tls_echo_server_with_openssl_s_client(servers, pki):
    srv = _tls_server(servers, "pyuv", pki)
    payload = _lines(2000)  # about 60 KiB
    c = _s_client(srv.port, pki / "ca.pem", "-brief", "-alpn", "h2,http/1.1")
    try:
        c.stdin.write(payload)
        c.stdin.flush()
        assert _read_exactly(c.stdout, len(payload)) == payload
        # communicate() closes stdin: s_client sends close_notify and exits.
        out, err = c.communicate(timeout=WAIT)
    finally:
        if c.poll() is None:
            c.kill()
            c.communicate()
    assert c.returncode == 0, err
    assert out == b""
    assert b"Verification: OK" in err, err
    assert re.search(rb"Protocol version: TLSv1\.[23]", err), err

    # Without -brief s_client prints the protocol ALPN chose (http/1.1 of the two offered).
    c = _s_client(srv.port, pki / "ca.pem", "-alpn", "h2,http/1.1")
    out, err = c.communicate(b"", timeout=WAIT)
    assert c.returncode == 0, err
    assert b"ALPN protocol: http/1.1" in out, out

    # A client that does not trust the server's CA fails; the server logs it and serves on.
    c = _s_client(srv.port, pki / "other_ca.pem", "-brief")
    out, err = c.communicate(b"", timeout=WAIT)
    assert c.returncode != 0
    assert b"certificate verify failed" in err, err
    r = _tls_client("pyuv", srv.addr, pki / "ca.pem", b"after\n")
    assert r.stdout == b"after\n", r.stderr

    rc, _, err = srv.stop()
    assert rc == 0, err
    assert re.search(rb": handshake: .*unknown ca", err), err


def _finish(p):
    """The output of a process; communicate() closes its stdin."""
    try:
        out, err = p.communicate(timeout=WAIT)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    return out, err


def test_tls_echo_client_with_openssl_s_server_and_alpn(pki):
    p, port = openssl_s_server(pki, "-rev", "-alpn", "http/1.1")
    lines = [b"hello", b"w\xc3\xb6rld", b"abc" * 100]
    r = _tls_client("pyuv", f"127.0.0.1:{port}", pki / "ca.pem",
                    b"".join(line + b"\n" for line in lines))
    out, _ = _finish(p)
    assert r.returncode == 0, r.stderr
    # One record per line, so each comes back reversed on its own.
    assert r.stdout == b"".join(line[::-1] + b"\n" for line in lines)
    assert NEGOTIATED.search(r.stderr), r.stderr
    assert b"ALPN protocols advertised by the client: http/1.1" in out, out
    assert b"1 server accepts that finished" in out, out


def test_tls_echo_client_sends_its_servername_as_sni_to_openssl_s_server(pki):
    # -servername makes s_server print the name it got (and switch to its -cert2 context).
    p, port = openssl_s_server(pki, "-rev", "-servername", "localhost",
                               "-cert2", str(pki / "server.pem"), "-key2", str(pki / "server.key"))
    r = _tls_client("pyuv", f"127.0.0.1:{port}", pki / "ca.pem", b"sni\n")
    out, _ = _finish(p)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ins\n"
    assert b'Hostname in TLS extension: "localhost"' in out, out


def _python_tls_server(pki, serve):
    """A blocking `ssl` server on a thread, for one connection: `serve(tls_socket)`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
    lsock = socket.create_server(("127.0.0.1", 0))
    lsock.settimeout(WAIT)

    def run():
        with lsock:
            conn, _ = lsock.accept()
            conn.settimeout(WAIT)
            with ctx.wrap_socket(conn, server_side=True) as s:
                serve(s)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return lsock.getsockname()[1], t


def test_tls_echo_client_reports_a_truncated_echo(pki):
    def serve(s):
        s.recv(100)
        s.sendall(b"partial ")
        s.shutdown(socket.SHUT_RDWR)  # the TCP connection ends without close_notify

    port, t = _python_tls_server(pki, serve)
    r = _tls_client("pyuv", f"127.0.0.1:{port}", pki / "ca.pem", b"hello\n")
    t.join(WAIT)
    assert r.returncode == 1, r.stderr
    assert r.stdout == b"partial "
    assert r.stderr.strip().splitlines()[-1] == (
        b"tls_echo_client: connection closed without close_notify"), r.stderr


def test_tls_echo_client_answers_a_server_that_closes_first(pki):
    got = []

    def serve(s):
        got.append(s.recv(100))
        s.sendall(b"goodbye\n")
        got.append(s.unwrap() is not None)  # close_notify, then wait for the client's

    port, t = _python_tls_server(pki, serve)
    # The client's stdin stays open: it is the server's close_notify that ends it.
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        c = subprocess.Popen(
            pyuv_cmd("tls_echo_client.py", f"127.0.0.1:{port}", pki / "ca.pem"),
            stdin=subprocess.PIPE, stdout=out_f, stderr=err_f)
        try:
            c.stdin.write(b"hi\n")
            c.stdin.flush()
            c.wait(timeout=WAIT)
        finally:
            if c.poll() is None:
                c.kill()
                c.wait()
            c.stdin.close()
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    t.join(WAIT)
    assert c.returncode == 0, err
    assert out == b"goodbye\n"
    assert got == [b"hi\n", True]
