#!/usr/bin/env python3
"""A TLS peer on Python's ssl module, for tests/tls_python.rs.

    tls_peer.py client PORT CA_PEM SIZE         connect, send SIZE pseudo-random bytes and read
                                                their echo (lock-step), then close_notify; prints
                                                "sent SHA256 SIZE", "got SHA256 SIZE", "eof clean"
    tls_peer.py server CERT KEY SIZE            listen on 127.0.0.1:0 ("port N"), accept one
                                                client, echo until its close_notify, answer
                                                with ours; prints "got SHA256 SIZE", "eof clean"
    tls_peer.py ragged-client PORT CA_PEM SIZE  the same, then drop TCP (FIN, no close_notify)
    tls_peer.py ragged-server CERT KEY SIZE     send SIZE bytes to the client, then drop TCP

Everything has a 30 s timeout.
"""
import hashlib
import socket
import ssl
import sys


def blob(size):
    out = bytearray()
    block = hashlib.sha256(b"rsuv").digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


def report(what, data):
    print(what, hashlib.sha256(data).hexdigest(), len(data), flush=True)


def echo_back(s):
    got = bytearray()
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:  # close_notify (suppress_ragged_eofs=False: a bare FIN raises)
            break
        got += chunk
        s.sendall(chunk)
    return bytes(got)


def client(port, ca, size, ragged=False):
    """Lock-step: 256 KiB out, its echo back, and so on (one thread: an SSL object must not
    be read and written from two threads at once)."""
    ctx = ssl.create_default_context(cafile=ca)
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    data = blob(size)
    got = bytearray()
    for i in range(0, size, 256 << 10):
        chunk = data[i:i + (256 << 10)]
        s.sendall(chunk)
        want = len(got) + len(chunk)
        while len(got) < want:
            got += s.recv(want - len(got))
    report("sent", data)
    report("got", bytes(got))
    if ragged:
        s.shutdown(socket.SHUT_RDWR)  # SSLSocket.shutdown: TCP only, no close_notify
        s.close()
        return
    s = s.unwrap()  # close_notify, then wait for the server's
    print("eof clean", flush=True)
    s.close()


def server(cert, key, size, ragged=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    lsock = socket.create_server(("127.0.0.1", 0))
    lsock.settimeout(30)
    print("port", lsock.getsockname()[1], flush=True)
    conn, _ = lsock.accept()
    conn.settimeout(30)
    s = ctx.wrap_socket(conn, server_side=True, suppress_ragged_eofs=False)
    if ragged:
        data = blob(size)
        s.sendall(data)
        report("sent", data)
        s.shutdown(socket.SHUT_RDWR)
        s.close()
        return
    got = echo_back(s)
    report("got", got)
    s.unwrap()
    print("eof clean", flush=True)


def main():
    mode, a, b, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if mode in ("client", "ragged-client"):
        client(int(a), b, size, ragged=mode.startswith("ragged"))
    else:
        server(a, b, size, ragged=mode.startswith("ragged"))


if __name__ == "__main__":
    main()
