"""TLS on the loop with standard `ssl.SSLContext` objects: each behaviour on stdlib asyncio
and on rsuv. Certificates are made at run time with the `openssl` command (a CA, a server
certificate for localhost and 127.0.0.1, a client certificate)."""

import asyncio
import faulthandler
import gc
import os
import socket
import ssl
import subprocess
import sys
import threading
import weakref

import pytest

from _helpers import make_pki, run

PY311 = sys.version_info >= (3, 11)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def server_ctx(pki, **kw):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def client_ctx(pki):
    return ssl.create_default_context(cafile=str(pki / "ca.pem"))


class Echo(asyncio.Protocol):
    def connection_made(self, tr):
        self.tr = tr

    def data_received(self, data):
        self.tr.write(data)


async def echo_server(loop, ctx, **kw):
    srv = await loop.create_server(Echo, "127.0.0.1", 0, ssl=ctx, **kw)
    return srv, srv.sockets[0].getsockname()[1]


def test_streams_echo_both_ways_with_extra_info(loop, pki):
    async def main():
        srv, port = await echo_server(loop, server_ctx(pki))
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx(pki),
                                             server_hostname="localhost")
        payload = os.urandom(1 << 20)
        w.write(payload)
        got = await r.readexactly(len(payload))
        info = {k: w.get_extra_info(k) for k in
                ("sslcontext", "ssl_object", "peercert", "cipher", "compression", "socket",
                 "peername")}
        w.close()
        await w.wait_closed()
        srv.close()
        await srv.wait_closed()
        return got == payload, info

    same, info = run(loop, main(), timeout=20)
    assert same
    assert isinstance(info["ssl_object"], ssl.SSLObject)
    assert isinstance(info["sslcontext"], ssl.SSLContext)
    assert dict(x[0] for x in info["peercert"]["subject"])["commonName"] == "server"
    assert info["cipher"][1].startswith("TLSv1")
    assert info["peername"][0] == "127.0.0.1"
    assert info["socket"].family == socket.AF_INET


def test_a_wrong_hostname_fails_verification(loop, pki):
    async def main():
        srv, port = await echo_server(loop, server_ctx(pki))
        try:
            with pytest.raises(ssl.SSLCertVerificationError) as e:
                await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx(pki),
                                              server_hostname="example.org")
            return e.value.verify_message
        finally:
            srv.close()
            await srv.wait_closed()

    assert "Hostname mismatch" in run(loop, main(), timeout=10)


def test_alpn_and_sni_callback_are_seen_before_the_first_data(loop, pki):
    seen = []

    def sni(sslobj, name, ctx):
        seen.append(name)

    class Server(asyncio.Protocol):
        def connection_made(self, tr):
            self.tr = tr
            seen.append(tr.get_extra_info("ssl_object").selected_alpn_protocol())

        def data_received(self, data):
            self.tr.write(data.upper())

    async def main():
        sctx = server_ctx(pki)
        sctx.set_alpn_protocols(["h2", "http/1.1"])
        sctx.sni_callback = sni
        srv = await loop.create_server(Server, "127.0.0.1", 0, ssl=sctx)
        port = srv.sockets[0].getsockname()[1]
        cctx = client_ctx(pki)
        cctx.set_alpn_protocols(["http/1.1"])
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=cctx,
                                             server_hostname="localhost")
        alpn = w.get_extra_info("ssl_object").selected_alpn_protocol()
        w.write(b"abc")
        got = await r.readexactly(3)
        w.close()
        await w.wait_closed()
        srv.close()
        await srv.wait_closed()
        return alpn, got

    assert run(loop, main(), timeout=10) == ("http/1.1", b"ABC")
    assert seen == ["localhost", "http/1.1"]


def test_client_certificate_required(loop, pki):
    async def main():
        sctx = server_ctx(pki)
        sctx.verify_mode = ssl.CERT_REQUIRED
        sctx.load_verify_locations(pki / "ca.pem")
        srv, port = await echo_server(loop, sctx)
        with_cert = client_ctx(pki)
        with_cert.load_cert_chain(pki / "client.pem", pki / "client.key")
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=with_cert,
                                             server_hostname="localhost")
        w.write(b"mtls\n")
        ok = await r.readline()
        w.close()
        await w.wait_closed()
        # Without a certificate: TLS 1.3's client finishes its handshake first, then reads
        # the server's alert.
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx(pki),
                                             server_hostname="localhost")
        w.write(b"no\n")
        try:
            refused = await r.readline()  # the alert ends the stream: b"" or an error
        except (ssl.SSLError, ConnectionResetError) as e:
            refused = type(e)
        w.close()
        srv.close()
        await srv.wait_closed()
        return ok, refused

    ok, refused = run(loop, main(), timeout=10)
    assert ok == b"mtls\n"
    assert refused in (b"", ssl.SSLError, ConnectionResetError), refused


def test_start_tls_upgrades_both_sides_of_a_plain_connection(loop, pki):
    async def main():
        sctx = server_ctx(pki)
        done = loop.create_future()

        async def handle(r, w):
            assert await r.readline() == b"STARTTLS\n"
            w.write(b"GO\n")
            await w.drain()
            await w.start_tls(sctx) if hasattr(w, "start_tls") else await _upgrade(w, sctx)
            w.write(b"secret:" + await r.readline())
            await w.drain()
            done.set_result(w.get_extra_info("ssl_object") is not None)
            w.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"STARTTLS\n")
        assert await r.readline() == b"GO\n"
        if hasattr(w, "start_tls"):
            await w.start_tls(client_ctx(pki), server_hostname="localhost")
        else:
            await _upgrade(w, client_ctx(pki), server_hostname="localhost")
        w.write(b"hello\n")
        got = await r.readline()
        w.close()
        srv.close()
        await srv.wait_closed()
        return got, await done

    assert run(loop, main(), timeout=10) == (b"secret:hello\n", True)


async def _upgrade(writer, ctx, server_hostname=None):
    """StreamWriter.start_tls for Pythons before 3.11."""
    loop = asyncio.get_running_loop()
    proto = writer._protocol
    tr = await loop.start_tls(writer.transport, proto, ctx,
                              server_side=server_hostname is None,
                              server_hostname=server_hostname)
    writer._transport = tr
    proto._transport = tr
    proto._over_ssl = True


def test_handshake_timeout_closes_a_silent_peer(loop, pki):
    async def main():
        lsock = socket.create_server(("127.0.0.1", 0))
        port = lsock.getsockname()[1]
        try:
            with pytest.raises((asyncio.TimeoutError, ConnectionAbortedError)):
                await loop.create_connection(asyncio.Protocol, "127.0.0.1", port,
                                             ssl=client_ctx(pki), server_hostname="localhost",
                                             ssl_handshake_timeout=0.2)
        finally:
            lsock.close()

    run(loop, main(), timeout=10)


def test_garbage_from_the_peer_is_an_ssl_error_not_a_hang(loop, pki):
    async def main():
        lsock = socket.create_server(("127.0.0.1", 0))
        lsock.setblocking(False)
        port = lsock.getsockname()[1]

        async def peer():
            conn, _ = await loop.sock_accept(lsock)
            await loop.sock_recv(conn, 4096)  # the ClientHello
            await loop.sock_sendall(conn, b"\x16\x03\x03\x00\x05garbage-not-a-record" * 4)
            await asyncio.sleep(0.5)
            conn.close()

        task = loop.create_task(peer())
        try:
            with pytest.raises(ssl.SSLError):
                await loop.create_connection(asyncio.Protocol, "127.0.0.1", port,
                                             ssl=client_ctx(pki), server_hostname="localhost")
        finally:
            await task
            lsock.close()

    run(loop, main(), timeout=10)


@pytest.mark.skipif(not PY311, reason="asyncio's sslproto before 3.11 has no paused reads")
@pytest.mark.parametrize("size", [100 << 10, 1 << 20])
def test_data_survives_a_peer_closing_without_close_notify_while_reading_is_paused(
        loop, pki, size):
    """The peer (Python's blocking ssl, in a thread) writes and drops the connection without
    close_notify while the client has paused reading: every byte still arrives, then the
    truncation. (100 KiB fits in what the TLS layer reads ahead, so the end of the stream
    arrives while the application is paused.)"""
    payload = os.urandom(size)
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]

    def peer():
        conn, _ = lsock.accept()
        tls = server_ctx(pki).wrap_socket(conn, server_side=True)
        tls.sendall(payload)
        tls.close()  # no unwrap(): no close_notify

    class Slow(asyncio.Protocol):
        def __init__(self):
            self.buf = bytearray()
            self.lost = loop.create_future()

        def connection_made(self, tr):
            self.tr = tr
            tr.pause_reading()
            loop.call_later(0.5, tr.resume_reading)

        def data_received(self, data):
            self.buf += data

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    async def main():
        t = threading.Thread(target=peer, daemon=True)
        t.start()
        tr, p = await loop.create_connection(Slow, "127.0.0.1", port, ssl=client_ctx(pki),
                                             server_hostname="localhost")
        await p.lost
        t.join(5)
        return bytes(p.buf)

    try:
        assert run(loop, main(), timeout=20) == payload
    finally:
        lsock.close()


def test_nothing_is_left_alive_after_a_tls_connection_closes(loop, pki):
    """asyncio's test_create_connection_memory_leak, with a buffered protocol under TLS: the
    client's context is freed once the connection is gone, without the garbage collector."""
    async def main(cctx):
        srv, port = await echo_server(loop, server_ctx(pki))
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=cctx,
                                             server_hostname="localhost")
        w.write(b"x")
        await r.readexactly(1)
        w.close()
        await w.wait_closed()
        srv.close()
        await srv.wait_closed()

    cctx = client_ctx(pki)
    run(loop, main(cctx), timeout=10)
    for _ in range(3):  # the closing handshake's last callbacks
        loop.run_until_complete(asyncio.sleep(0))
    ref = weakref.ref(cctx)
    gc.disable()
    try:
        del cctx
        assert ref() is None
    finally:
        gc.enable()


def test_tls_arguments_without_ssl_are_refused(loop):
    async def main():
        errors = []
        for kw in ({"server_hostname": "x"}, {"ssl_handshake_timeout": 1}):
            try:
                await loop.create_connection(asyncio.Protocol, "127.0.0.1", 1, **kw)
            except ValueError as e:
                errors.append(str(e))
        with pytest.raises(TypeError):
            await loop.create_server(asyncio.Protocol, "127.0.0.1", 0, ssl=True)
        return errors

    errors = run(loop, main())
    assert len(errors) == 2 and all("only meaningful with ssl" in e for e in errors)


INTEROP = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "tls-interop",
                       "tls_interop_check.py")


@pytest.mark.rsuv_only
def test_the_shared_tls_interop_check_passes_on_rsuv(loop_name):
    """../shared/tls-interop: openssl s_client/s_server and Python's blocking ssl as peers
    of an rsuv server and client (23 checks, ~25 s)."""
    if not os.path.exists(INTEROP):
        pytest.skip("../shared/tls-interop is not beside this checkout")
    faulthandler.dump_traceback_later(330, exit=True)  # beyond the suite's 30 s per test
    r = subprocess.run([sys.executable, INTEROP, "--loop", "rsuv:new_event_loop"],
                       capture_output=True, text=True, timeout=300)
    summary = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-2000:]
    assert r.returncode == 0 and " 0 failed" in summary, r.stdout[-4000:] + r.stderr[-2000:]


def test_loop_sendfile_over_tls_falls_back_and_sends_everything(loop, pki, tmp_path):
    data = os.urandom(3 << 20)
    path = tmp_path / "blob"
    path.write_bytes(data)

    want = data[1000:]

    async def main():
        got = bytearray()
        done = loop.create_future()

        class Sink(asyncio.Protocol):
            def data_received(self, d):
                got.extend(d)
                if len(got) >= len(want) and not done.done():
                    done.set_result(None)

        srv = await loop.create_server(Sink, "127.0.0.1", 0, ssl=server_ctx(pki))
        port = srv.sockets[0].getsockname()[1]
        tr, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port,
                                             ssl=client_ctx(pki), server_hostname="localhost")
        with open(path, "rb") as f:
            sent = await loop.sendfile(tr, f, offset=1000)
            pos = f.tell()
        await asyncio.wait_for(done, 10)
        tr.close()
        srv.close()
        await srv.wait_closed()
        return sent, pos, bytes(got)

    sent, pos, got = run(loop, main(), timeout=20)
    assert sent == len(want) and pos == len(data)
    assert got == want


def test_tls_over_unix_sockets_and_an_accepted_socket(loop, pki, tmp_path):
    path = str(tmp_path / "tls.sock")

    async def main():
        srv = await loop.create_unix_server(Echo, path, ssl=server_ctx(pki))
        r, w = await asyncio.open_unix_connection(path, ssl=client_ctx(pki),
                                                  server_hostname="localhost")
        w.write(b"unix\n")
        unix = await r.readline()
        w.close()
        await w.wait_closed()
        srv.close()
        await srv.wait_closed()

        # A socket accepted outside the loop, wrapped as a TLS server side.
        lsock = socket.create_server(("127.0.0.1", 0))
        port = lsock.getsockname()[1]
        connecting = loop.create_task(asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx(pki), server_hostname="localhost"))
        conn, _ = await loop.run_in_executor(None, lsock.accept)
        lsock.close()
        tr, _ = await loop.connect_accepted_socket(Echo, conn, ssl=server_ctx(pki))
        r, w = await connecting
        w.write(b"accepted\n")
        accepted = await r.readline()
        w.close()
        await w.wait_closed()
        tr.close()
        return unix, accepted

    assert run(loop, main(), timeout=10) == (b"unix\n", b"accepted\n")


def test_a_bad_handshake_timeout_is_a_value_error_and_the_socket_is_closed(loop, pki,
                                                                          loop_name):
    """ValueError on both loops; rsuv also closes the socket it connected (stdlib asyncio
    leaves it to the collector, which warns)."""
    import warnings

    async def main():
        srv, port = await echo_server(loop, server_ctx(pki))
        try:
            with pytest.raises(ValueError):
                await loop.create_connection(asyncio.Protocol, "127.0.0.1", port,
                                             ssl=client_ctx(pki), server_hostname="localhost",
                                             ssl_handshake_timeout=0)
        finally:
            srv.close()
            await srv.wait_closed()

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        run(loop, main())
        gc.collect()
    unclosed = [w for w in seen if issubclass(w.category, ResourceWarning)]
    if loop_name == "rsuv":
        assert unclosed == [], [str(w.message) for w in unclosed]
