"""TLS under load and abuse, on stdlib asyncio and on rsuv: 64 MiB both ways compared by
hash, 1,000 connections at once, and a server fed garbage and mutated handshakes (seeded,
bounded) that keeps serving, hangs on nothing and leaves no connection alive."""

import asyncio
import gc
import hashlib
import os
import random
import resource
import weakref

import pytest

from _helpers import run
from test_tls import Echo, client_ctx, echo_server, pki, server_ctx  # noqa: F401 (fixture)


def test_64_mib_both_ways_arrive_intact(loop, pki):
    size = 64 << 20
    block = os.urandom(1 << 20)

    async def main():
        srv, port = await echo_server(loop, server_ctx(pki))
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx(pki),
                                             server_hostname="localhost")
        sent = hashlib.sha256()

        async def writer():
            for i in range(size // len(block)):
                chunk = block[i:] + block[:i]  # every MiB different
                sent.update(chunk)
                w.write(chunk)
                await w.drain()

        async def reader():
            got = hashlib.sha256()
            n = 0
            while n < size:
                data = await r.read(1 << 18)
                assert data, "connection ended early"
                got.update(data)
                n += len(data)
            return got.hexdigest(), n

        _, (digest, n) = await asyncio.gather(writer(), reader())
        w.close()
        await w.wait_closed()
        srv.close()
        await srv.wait_closed()
        return digest, n, sent.hexdigest()

    digest, n, want = run(loop, main(), timeout=240)
    assert n == size
    assert digest == want


@pytest.fixture
def many_fds():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"needs {want} descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_thousand_tls_connections_at_once(loop, pki, many_fds):
    """1,000 clients connect (all open at the same time), each echoes its own message, then
    all close."""
    count = 1000

    async def main():
        srv, port = await echo_server(loop, server_ctx(pki), backlog=count)
        cctx = client_ctx(pki)
        sem = asyncio.Semaphore(200)  # connecting; the connections themselves stay open

        async def connect(i):
            async with sem:
                return await asyncio.open_connection("127.0.0.1", port, ssl=cctx,
                                                     server_hostname="localhost")

        conns = await asyncio.gather(*(connect(i) for i in range(count)))
        for i, (r, w) in enumerate(conns):
            w.write(b"%d\n" % i)
        got = await asyncio.gather(*(r.readline() for r, _ in conns))
        for _, w in conns:
            w.close()
        await asyncio.gather(*(w.wait_closed() for _, w in conns), return_exceptions=True)
        srv.close()
        await srv.wait_closed()
        return got

    got = run(loop, main(), timeout=180)
    assert got == [b"%d\n" % i for i in range(count)]


def _client_hello(pki):
    """The first flight of a real client: a ClientHello record to mutate."""
    import ssl
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx(pki).wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def test_garbage_and_mutated_handshakes_never_hang_or_leak_the_server(loop, pki):
    """Seeded, bounded: 150 connections send random bytes, truncated or bit-flipped
    ClientHellos, or a valid one then garbage, then half-close; the server closes each one
    (within the bound), no protocol of those connections stays alive, and a real client is
    served afterwards."""
    rng = random.Random(20261202)
    hello = _client_hello(pki)
    protocols = []

    class Tracked(Echo):
        def __init__(self):
            protocols.append(weakref.ref(self))

    def payload():
        kind = rng.randrange(5)
        if kind == 0:
            return os.urandom(rng.randrange(1, 3000))
        if kind == 1:
            return hello[:rng.randrange(1, len(hello))]
        if kind == 2:
            b = bytearray(hello)
            for _ in range(rng.randrange(1, 8)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            return bytes(b)
        if kind == 3:
            return hello + os.urandom(rng.randrange(1, 2000))
        return b"\x16\x03\x01" + os.urandom(rng.randrange(0, 600))

    async def one(port, data):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(data)
        try:
            w.write_eof()
        except OSError:
            pass
        try:
            await asyncio.wait_for(r.read(), 15)  # until the server closes
        except (ConnectionError, OSError):
            pass
        w.close()

    async def main():
        srv = await loop.create_server(Tracked, "127.0.0.1", 0, ssl=server_ctx(pki),
                                       ssl_handshake_timeout=5)
        port = srv.sockets[0].getsockname()[1]
        await asyncio.gather(*(one(port, payload()) for _ in range(150)))
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx(pki),
                                             server_hostname="localhost")
        w.write(b"still serving\n")
        line = await asyncio.wait_for(r.readline(), 10)
        w.close()
        await w.wait_closed()
        srv.close()
        await srv.wait_closed()
        for _ in range(5):
            await asyncio.sleep(0.05)
        return line

    old = loop.get_exception_handler()
    loop.set_exception_handler(lambda lp, ctx: None)  # handshake failures are expected
    try:
        line = run(loop, main(), timeout=120)
    finally:
        loop.set_exception_handler(old)
    assert line == b"still serving\n"
    gc.collect()
    alive = [p for p in protocols if p() is not None]
    assert alive == []
