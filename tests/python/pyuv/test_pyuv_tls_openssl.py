"""pyuv.TLS against `openssl s_server` and `s_client` subprocesses over 127.0.0.1: echo,
ALPN, SNI seen by the server, a killed server's truncation, close_notify, and a client that
refuses the server's certificate. The peers and fixtures are test_pyuv_tls's."""

import queue
import re
import subprocess
import threading

from test_pyuv_tls import (  # noqa: F401 (lp, run and _watchdog are fixtures)
    UV_ECONNRESET, UV_EOF, UV_EPROTO, WAIT, Peer, Reader, _watchdog, echoing, lp, pyuv_client,
    pyuv_server, run)


def readline_within(stream, timeout=WAIT):
    """One line of a subprocess's pipe, waiting at most `timeout` seconds."""
    q = queue.Queue()
    threading.Thread(target=lambda: q.put(stream.readline()), daemon=True).start()
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no line within {timeout} s") from None


def openssl_s_server(pki, *extra):
    """`openssl s_server` for one connection; its stdin goes to the client, what the client
    sends to its stdout. Returns the process once it listens, and its port."""
    p = subprocess.Popen(
        ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", str(pki / "server.pem"),
         "-key", str(pki / "server.key"), "-naccept", "1", *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while True:
        line = readline_within(p.stdout)
        assert line, p.stderr.read()
        if m := re.match(rb"ACCEPT 127\.0\.0\.1:(\d+)", line):
            return p, int(m.group(1))


def kill_and_wait(p):
    """Ends `p` if it still runs; its remaining output."""
    if p.poll() is None:
        p.kill()
    return p.communicate(timeout=WAIT)


def test_client_with_openssl_s_server_rev_echo_and_alpn(lp, run, pki):
    p, port = openssl_s_server(pki, "-rev", "-alpn", "http/1.1")
    c = pyuv_client(lp, ("127.0.0.1", port), pki, alpn=["http/1.1"])
    reader = Reader()
    seen = []

    def on_read(h, data, error):
        reader(h, data, error)
        if data is not None and reader.data.endswith(b"\n"):
            h.shutdown()

    def on_connect(h, error):
        seen.append((error, h.alpn_protocol))
        h.start_read(on_read)
        h.write(b"stressed\n")

    try:
        c.connect(("127.0.0.1", port), on_connect)
        run(lp, timeout=WAIT)
        out, _ = p.communicate(timeout=WAIT)
    finally:
        kill_and_wait(p)
    assert seen == [(None, "http/1.1")]
    assert bytes(reader.data) == b"desserts\n"
    assert reader.end == UV_EOF  # s_server answered our close_notify
    assert b"ALPN protocols selected: http/1.1" in out, out


def test_client_sni_seen_by_openssl_s_server(lp, run, pki):
    p, port = openssl_s_server(pki, "-rev", "-servername", "localhost", "-cert2",
                        str(pki / "server.pem"), "-key2", str(pki / "server.key"))
    c = pyuv_client(lp, ("127.0.0.1", port), pki)
    reader = Reader()

    def on_read(h, data, error):
        reader(h, data, error)
        if data is not None:
            h.shutdown()

    def on_connect(h, error):
        assert error is None, h.tls_error
        h.start_read(on_read)
        h.write(b"sni\n")

    try:
        c.connect(("127.0.0.1", port), on_connect)
        run(lp, timeout=WAIT)
        out, _ = p.communicate(timeout=WAIT)
    finally:
        kill_and_wait(p)
    assert bytes(reader.data) == b"ins\n"
    assert b'Hostname in TLS extension: "localhost"' in out, out


def test_client_truncated_by_a_killed_openssl_s_server(lp, run, pki):
    p, port = openssl_s_server(pki)
    c = pyuv_client(lp, ("127.0.0.1", port), pki)
    reader = Reader()

    def on_read(h, data, error):
        reader(h, data, error)
        if data is not None and bytes(reader.data) == b"from s_server\n":
            p.kill()  # the connection ends without close_notify

    def on_connect(h, error):
        assert error is None, h.tls_error
        h.start_read(on_read)
        p.stdin.write(b"from s_server\n")
        p.stdin.flush()

    try:
        c.connect(("127.0.0.1", port), on_connect)
        run(lp, timeout=WAIT)
    finally:
        kill_and_wait(p)
    assert bytes(reader.data) == b"from s_server\n"
    assert reader.end == UV_ECONNRESET and c.truncated


def test_server_with_openssl_s_client_echo_alpn_and_close_notify(lp, run, pki):
    accepted = []
    reader = Reader()

    def on_accepted(conn):
        accepted.append(conn)
        echoing(conn, reader)

    server = pyuv_server(lp, pki, on_accepted, alpn=["http/1.1"])
    port = server.getsockname()[1]
    payload = b"".join(b"line %d\n" % i for i in range(1000))
    # s_client runs while the loop does: the loop runs on this thread, s_client is driven
    # from another (it sends the payload, reads the echo, then its stdin's end makes it
    # send close_notify).
    c = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile",
         str(pki / "ca.pem"), "-verify_return_error", "-servername", "localhost",
         "-alpn", "h2,http/1.1", "-quiet", "-no_ign_eof"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def drive():
        c.stdin.write(payload)
        c.stdin.flush()
        got = bytearray()
        while len(got) < len(payload) and (data := c.stdout.read1(1 << 16)):
            got += data
        return bytes(got), c.communicate(timeout=WAIT)  # closes stdin: close_notify

    driver = Peer(drive)
    try:
        run(lp, timeout=WAIT)
        got, (_, err) = driver.join() or (None, (None, None))
    finally:
        kill_and_wait(c)
    assert driver.error is None, driver.error
    assert got == payload
    assert c.returncode == 0, err
    (conn,) = accepted
    assert reader.info[1] == "http/1.1"
    assert bytes(reader.data) == payload
    assert reader.end == UV_EOF and not conn.truncated


def test_server_reports_openssl_s_client_refusing_its_certificate(lp, run, pki):
    accepted = []
    reader = Reader()

    def on_accepted(conn):
        accepted.append(conn)
        conn.start_read(reader)

    server = pyuv_server(lp, pki, on_accepted)
    port = server.getsockname()[1]
    c = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile",
         str(pki / "other_ca.pem"), "-verify_return_error", "-brief"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        run(lp, timeout=WAIT)
        _, err = c.communicate(timeout=WAIT)
    finally:
        kill_and_wait(c)
    assert c.returncode != 0
    assert b"certificate verify failed" in err, err
    (conn,) = accepted
    assert reader.end == UV_EPROTO
    assert "unknown ca" in conn.tls_error
