"""TCP and Unix stream transports and servers on loopback: each behaviour on stdlib asyncio
and on rsuv, with the same outcome."""

import asyncio
import gc
import os
import socket
import sys
import tempfile

import pytest

from _helpers import run


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def eof_received(self):
        return False  # close


class Collect(asyncio.Protocol):
    def __init__(self, loop):
        self.data = bytearray()
        self.lost = loop.create_future()
        self.made = loop.create_future()
        self.eof = False
        self.events = []

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")
        self.made.set_result(None)

    def data_received(self, data):
        assert isinstance(data, bytes)
        self.data += data

    def eof_received(self):
        self.eof = True
        self.events.append("eof")

    def connection_lost(self, exc):
        self.events.append("lost")
        if not self.lost.done():
            self.lost.set_result(exc)


def test_protocol_echo_round_trip(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        t, p = await loop.create_connection(lambda: Collect(loop), "127.0.0.1", port)
        payload = os.urandom(1 << 20)
        t.write(payload[:1000])
        t.writelines([payload[1000:5000], bytearray(payload[5000:])])
        while len(p.data) < len(payload):
            await asyncio.sleep(0.005)
        t.close()
        exc = await p.lost
        server.close()
        await server.wait_closed()
        return bytes(p.data) == payload, exc, p.events

    ok, exc, events = run(loop, main())
    assert ok and exc is None and events == ["made", "lost"]


def test_streams_echo_and_half_close(loop):
    async def handle(reader, writer):
        data = await reader.read()  # until EOF
        writer.write(data.upper())
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello ")
        writer.write(b"world")
        assert writer.can_write_eof()
        writer.write_eof()
        got = await reader.read()
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return got

    assert run(loop, main()) == b"HELLO WORLD"


def test_extra_info(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        addr = server.sockets[0].getsockname()
        t, p = await loop.create_connection(lambda: Collect(loop), *addr)
        info = (t.get_extra_info("peername"), t.get_extra_info("sockname"),
                t.get_extra_info("nonexistent", "dflt"))
        sock = t.get_extra_info("socket")
        nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        family = sock.family
        t.close()
        await p.lost
        server.close()
        await server.wait_closed()
        return addr, info, nodelay, family

    addr, (peer, local, dflt), nodelay, family = run(loop, main())
    assert peer == addr and local[0] == "127.0.0.1" and dflt == "dflt"
    assert nodelay != 0 and family == socket.AF_INET


def test_connection_refused(loop):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectionRefusedError):
        run(loop, loop.create_connection(asyncio.Protocol, "127.0.0.1", port))


def test_flow_control_pauses_and_resumes_writing(loop):
    class Writer(asyncio.Protocol):
        def __init__(self):
            self.paused = 0
            self.resumed = 0

        def connection_made(self, transport):
            self.transport = transport

        def pause_writing(self):
            self.paused += 1

        def resume_writing(self):
            self.resumed += 1

    async def main():
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.setblocking(False)
        t, p = await loop.create_connection(Writer, *srv.getsockname())
        conn, _ = await loop.sock_accept(srv)
        t.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        assert t.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        chunk = b"x" * 65536
        for _ in range(256):  # 16 MiB, far beyond what the kernel buffers take
            t.write(chunk)
        queued = t.get_write_buffer_size()
        paused = p.paused
        # Read everything: writing resumes once the queue drains below the low mark.
        total = 0
        while total < 256 * 65536:
            total += len(await loop.sock_recv(conn, 1 << 20))
        await asyncio.sleep(0.01)
        t.close()
        conn.close()
        srv.close()
        return queued, paused, p.resumed, total

    queued, paused, resumed, total = run(loop, main())
    assert queued > 64 * 1024 and paused == 1 and resumed == 1 and total == 256 * 65536


def test_write_type_errors_and_after_eof(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        t, p = await loop.create_connection(lambda: Collect(loop),
                                            *server.sockets[0].getsockname())
        errors = []
        for bad in ("text", 42, None):
            try:
                t.write(bad)
            except TypeError as e:
                errors.append("bytes-like" in str(e))
        t.write(b"")  # nothing
        t.write_eof()
        try:
            t.write(b"late")
        except RuntimeError:
            errors.append("eof")
        t.close()
        await p.lost
        server.close()
        await server.wait_closed()
        return errors

    assert run(loop, main()) == [True, True, True, "eof"]


def test_abort_loses_queued_data_and_reports_once(loop):
    async def main():
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.setblocking(False)
        t, p = await loop.create_connection(lambda: Collect(loop), *srv.getsockname())
        conn, _ = await loop.sock_accept(srv)
        t.write(b"y" * (8 << 20))
        t.abort()
        t.abort()
        t.close()
        exc = await p.lost
        await asyncio.sleep(0.01)
        conn.close()
        srv.close()
        return exc, p.events, t.is_closing()

    exc, events, closing = run(loop, main())
    assert exc is None and events == ["made", "lost"] and closing


def test_peer_reset_is_connection_lost_with_error(loop):
    async def main():
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.setblocking(False)
        t, p = await loop.create_connection(lambda: Collect(loop), *srv.getsockname())
        conn, _ = await loop.sock_accept(srv)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        conn.close()  # RST
        exc = await p.lost
        srv.close()
        return exc

    exc = run(loop, main())
    assert isinstance(exc, ConnectionResetError)


def test_exception_in_data_received_closes_connection_server_goes_on(loop):
    seen = []

    class Bad(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            raise ZeroDivisionError("boom")

    async def main():
        loop.set_exception_handler(lambda lp, ctx: seen.append(ctx.get("exception")))
        server = await loop.create_server(Bad, "127.0.0.1", 0)
        addr = server.sockets[0].getsockname()
        for _ in range(2):
            r, w = await asyncio.open_connection(*addr)
            w.write(b"x")
            got = await r.read()  # the server closes the connection
            w.close()
        good = await loop.create_server(Echo, "127.0.0.1", 0)
        r, w = await asyncio.open_connection(*good.sockets[0].getsockname())
        w.write(b"still fine")
        back = await r.readexactly(10)
        w.close()
        server.close()
        good.close()
        await server.wait_closed()
        await good.wait_closed()
        return got, back

    got, back = run(loop, main())
    assert got == b"" and back == b"still fine"
    assert len(seen) == 2 and all(isinstance(e, ZeroDivisionError) for e in seen)


def test_a_buffered_protocol_is_let_go_when_its_connection_is_lost(loop):
    """No reference cycle and nothing the transport keeps: once the connection is gone, the
    protocol is freed without the garbage collector (before this was fixed, rsuv kept a
    buffered protocol's `get_buffer` and with it the protocol, found through TLS)."""
    import weakref

    class Sink(asyncio.BufferedProtocol):
        def __init__(self):
            self.buf = bytearray(1024)
            self.lost = loop.create_future()

        def connection_made(self, tr):
            self.tr = tr  # a cycle through the transport, as protocols usually make

        def get_buffer(self, n):
            return self.buf

        def buffer_updated(self, n):
            pass

        def connection_lost(self, exc):
            self.lost.set_result(None)

    async def main():
        srv = await loop.create_server(Echo, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        tr, p = await loop.create_connection(Sink, "127.0.0.1", port)
        tr.write(b"ping")
        await asyncio.sleep(0.05)
        tr.close()
        await p.lost
        srv.close()
        await srv.wait_closed()
        return weakref.ref(p)

    gc.disable()
    try:
        ref = run(loop, main())
        for _ in range(3):
            loop.run_until_complete(asyncio.sleep(0))
        assert ref() is None
    finally:
        gc.enable()


def test_buffered_protocol_reads_into_its_buffer(loop):
    class Buffered(asyncio.BufferedProtocol):
        def __init__(self):
            self.buf = bytearray(1000)
            self.got = bytearray()
            self.lost = loop.create_future()

        def connection_made(self, transport):
            self.transport = transport

        def get_buffer(self, sizehint):
            return self.buf

        def buffer_updated(self, nbytes):
            self.got += self.buf[:nbytes]

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    async def main():
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.setblocking(False)
        t, p = await loop.create_connection(Buffered, *srv.getsockname())
        conn, _ = await loop.sock_accept(srv)
        payload = os.urandom(100_000)
        await loop.sock_sendall(conn, payload)
        conn.close()
        await p.lost
        srv.close()
        return bytes(p.got) == payload

    assert run(loop, main())


def buffered_client(loop, protocol_factory, payload):
    """Connects `protocol_factory()` to a server that sends `payload` and closes; the
    protocol, once its connection is lost, and the exception handler's contexts."""
    contexts = []
    loop.set_exception_handler(lambda _loop, ctx: contexts.append(ctx))

    async def main():
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.setblocking(False)
        t, p = await loop.create_connection(protocol_factory, *srv.getsockname())
        conn, _ = await loop.sock_accept(srv)
        try:
            await loop.sock_sendall(conn, payload)
        except OSError:
            pass  # the client gave up first
        conn.close()
        await asyncio.wait_for(p.lost, 10)
        srv.close()
        return p

    return run(loop, main()), contexts


class Lost:
    def __init__(self, loop):
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def test_buffered_protocol_into_memoryview_slices(loop):
    class Sliced(Lost, asyncio.BufferedProtocol):
        def __init__(self):
            super().__init__(loop)
            self.store = bytearray(64)
            self.got = bytearray()

        def get_buffer(self, sizehint):
            return memoryview(self.store)[8:24]  # 16 bytes at a time

        def buffer_updated(self, nbytes):
            self.got += self.store[8:8 + nbytes]

    payload = os.urandom(50_000)
    p, contexts = buffered_client(loop, Sliced, payload)
    assert bytes(p.got) == payload and contexts == []


@pytest.mark.parametrize("fault", ["raises", "empty", "read-only"])
def test_buffered_protocol_get_buffer_fault_is_a_fatal_error(loop, fault):
    class Faulty(Lost, asyncio.BufferedProtocol):
        def get_buffer(self, sizehint):
            if fault == "raises":
                raise ZeroDivisionError("no buffer today")
            return bytearray() if fault == "empty" else b"read-only bytes"

        def buffer_updated(self, nbytes):
            raise AssertionError("nothing can have been read")

    p, contexts = buffered_client(loop, lambda: Faulty(loop), b"x" * 100)
    exc = p.lost.result()
    expected = {"raises": ZeroDivisionError, "empty": RuntimeError, "read-only": TypeError}
    assert isinstance(exc, expected[fault]), exc
    message = ("Fatal read error on socket transport" if fault == "read-only"
               else "Fatal error: protocol.get_buffer() call failed.")
    assert contexts and contexts[0]["message"] == message


def test_set_protocol_between_plain_and_buffered_loses_no_bytes(loop):
    got = bytearray()

    class Buffered(Lost, asyncio.BufferedProtocol):
        def __init__(self, first):
            super().__init__(loop)
            self.lost = first.lost
            self.buf = bytearray(100)
            self.first = first

        def get_buffer(self, sizehint):
            return self.buf

        def buffer_updated(self, nbytes):
            got.extend(self.buf[:nbytes])
            if len(got) > 40_000:
                self.transport.set_protocol(self.first)  # and back to plain

    class Plain(Lost, asyncio.Protocol):
        def __init__(self):
            super().__init__(loop)
            self.switched = False

        def data_received(self, data):
            got.extend(data)
            if not self.switched and len(got) > 10_000:
                self.switched = True
                b = Buffered(self)
                b.transport = self.transport
                self.transport.set_protocol(b)

        def eof_received(self):
            return None

    payload = os.urandom(200_000)
    p, contexts = buffered_client(loop, Plain, payload)
    assert p.switched and bytes(got) == payload and contexts == []


def test_server_close_clients_and_wait_closed(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        addr = server.sockets[0].getsockname()
        clients = [await asyncio.open_connection(*addr) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert server.is_serving()
        server.close()
        assert not server.is_serving() and server.sockets == ()
        waiter = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0.01)
        pending = not waiter.done()  # connections still open
        for r, w in clients:
            w.close()
        await asyncio.wait_for(waiter, 2)
        return pending

    if sys.version_info < (3, 12) and loop.__class__.__module__.startswith("asyncio"):
        pytest.skip("stdlib before 3.12.1 returned from wait_closed() at once")
    assert run(loop, main()) is True


def test_server_async_with_and_serve_forever_cancel(loop):
    async def main():
        async with await loop.create_server(Echo, "127.0.0.1", 0, start_serving=False) as srv:
            assert not srv.is_serving()
            task = asyncio.ensure_future(srv.serve_forever())
            await asyncio.sleep(0.01)
            assert srv.is_serving()
            r, w = await asyncio.open_connection(*srv.sockets[0].getsockname())
            w.write(b"ping")
            got = await r.readexactly(4)
            w.close()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return got, srv.is_serving()

    assert run(loop, main()) == (b"ping", False)


def test_unix_socket_server_and_cleanup(loop):
    async def main():
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            server = await loop.create_unix_server(Echo, path)
            r, w = await asyncio.open_unix_connection(path)
            w.write(b"over unix")
            got = await r.readexactly(9)
            w.close()
            await w.wait_closed()
            server.close()
            await server.wait_closed()
            return got, os.path.exists(path)

    got, exists = run(loop, main())
    assert got == b"over unix"
    if sys.version_info >= (3, 13) or not loop.__class__.__module__.startswith("asyncio"):
        assert not exists  # cleanup_socket (3.13's default; rsuv's on every version)


def test_add_reader_on_a_transports_descriptor_is_refused(loop):
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        t, p = await loop.create_connection(lambda: Collect(loop),
                                            *server.sockets[0].getsockname())
        fd = t.get_extra_info("socket").fileno()
        own_fd = getattr(t, "_sock_fd", None) or getattr(t, "_fd", None)
        with pytest.raises(RuntimeError):
            loop.add_reader(own_fd, lambda: None)
        t.close()
        await p.lost
        server.close()
        await server.wait_closed()
        return fd

    run(loop, main())


def test_many_connections_open_and_close_without_leaking_descriptors(loop):
    def count_fds():
        return len(os.listdir("/proc/self/fd"))

    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        addr = server.sockets[0].getsockname()
        before = count_fds()
        for _ in range(200):
            r, w = await asyncio.open_connection(*addr)
            w.write(b"x")
            await r.readexactly(1)
            w.close()
            await w.wait_closed()
        await asyncio.sleep(0.05)
        gc.collect()
        after = count_fds()
        server.close()
        await server.wait_closed()
        return before, after

    before, after = run(loop, main(), timeout=30)
    assert after <= before + 2


@pytest.mark.parametrize("kind", ["file", "bytesio"])
def test_loop_sendfile_over_a_transport_with_data_around_it(loop, kind):
    import io

    data = os.urandom(700_000)

    async def main():
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.setblocking(False)
        t, p = await loop.create_connection(lambda: Collect(loop), *srv.getsockname())
        conn, _ = await loop.sock_accept(srv)
        got = bytearray()

        async def drain(n):
            while len(got) < n:
                got.extend(await loop.sock_recv(conn, 1 << 20))

        reader = asyncio.ensure_future(drain(len(data) - 100 + 10))
        with tempfile.TemporaryFile() as f:
            f.write(data)
            f.flush()
            src = f if kind == "file" else io.BytesIO(data)
            t.write(b"<pre>")
            n = await loop.sendfile(t, src, 100)
            t.write(b"<post>")
            await reader
            pos = src.tell()
        t.close()
        await p.lost
        conn.close()
        srv.close()
        return n, bytes(got), pos

    n, got, pos = run(loop, main())
    assert n == len(data) - 100 and pos == len(data)
    assert got == b"<pre>" + data[100:] + b"<post>"


def test_closing_the_loop_with_transports_open_warns_and_frees_them(loop_factory):
    import warnings

    lp = loop_factory()

    async def main():
        server = await lp.create_server(Echo, "127.0.0.1", 0)
        t, p = await lp.create_connection(asyncio.Protocol, *server.sockets[0].getsockname())
        await asyncio.sleep(0.01)
        server.close()
        return t

    before = len(os.listdir("/proc/self/fd"))
    t = lp.run_until_complete(main())
    del t
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        lp.close()
        gc.collect()
    after = len(os.listdir("/proc/self/fd"))
    assert any(issubclass(w.category, ResourceWarning) and "unclosed transport" in str(w.message)
               for w in seen)
    assert after <= before


def test_slow_reader_with_64_mib_queued_loses_nothing(loop):
    import hashlib

    class Sink(asyncio.Protocol):
        def __init__(self):
            self.h = hashlib.sha256()
            self.n = 0
            self.lost = loop.create_future()

        def connection_made(self, transport):
            self.transport = transport
            transport.pause_reading()  # a slow reader: nothing read at first
            assert not transport.is_reading()
            self.resumed_at = None
            self.first_at = None
            loop.call_later(0.2, self.resume)

        def resume(self):
            self.resumed_at = loop.time()
            self.transport.resume_reading()

        def data_received(self, data):
            if self.first_at is None:
                self.first_at = loop.time()
            self.h.update(data)
            self.n += len(data)

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    class Source(asyncio.Protocol):
        def __init__(self):
            self.paused = 0
            self.resumed = loop.create_future()

        def connection_made(self, transport):
            self.transport = transport

        def pause_writing(self):
            self.paused += 1

        def resume_writing(self):
            if not self.resumed.done():
                self.resumed.set_result(None)

    async def main():
        sink = Sink()
        server = await loop.create_server(lambda: sink, "127.0.0.1", 0)
        t, src = await loop.create_connection(Source, *server.sockets[0].getsockname())
        block = os.urandom(1 << 20)
        want = hashlib.sha256()
        for _ in range(64):
            t.write(block)
            want.update(block)
        assert src.paused == 1 and t.get_write_buffer_size() > 32 << 20
        await src.resumed
        t.close()
        await sink.lost
        server.close()
        await server.wait_closed()
        waited = sink.resumed_at is not None and sink.first_at >= sink.resumed_at
        return sink.n, sink.h.digest() == want.digest(), waited

    n, same, waited = run(loop, main(), timeout=60)
    assert n == 64 << 20 and same
    # stdlib before 3.11 starts reading even when connection_made paused it; rsuv never does.
    if sys.version_info >= (3, 11) or not loop.__class__.__module__.startswith("asyncio"):
        assert waited


CLIENT = r"""
import asyncio, sys
async def main(port, n):
    conns = []
    for i in range(0, n, 500):  # open in batches; all held open together
        conns += await asyncio.gather(*[asyncio.open_connection("127.0.0.1", port)
                                        for _ in range(500)])
    for i, (r, w) in enumerate(conns):
        w.write(b"%05d" % i)
    got = await asyncio.gather(*[r.readexactly(5) for r, w in conns])
    bad = sum(g != b"%05d" % i for i, g in enumerate(got))
    for r, w in conns:
        w.close()
    print("held", len(conns), "bad", bad)
asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""


def test_ten_thousand_concurrent_connections_echo(loop):
    # The clients run in another process (stdlib asyncio there: the server is under test),
    # so that this process needs 10,000 descriptors for the server's side only.
    import resource
    import subprocess

    n = 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n + 200:
        pytest.skip(f"descriptor limit {hard} < {n + 200}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 2 * n)), hard))
    peak = [0]

    class Counting(Echo):
        live = 0

        def connection_made(self, transport):
            super().connection_made(transport)
            Counting.live += 1
            peak[0] = max(peak[0], Counting.live)

        def connection_lost(self, exc):
            Counting.live -= 1

    async def main():
        server = await loop.create_server(Counting, "127.0.0.1", 0, backlog=4096)
        port = server.sockets[0].getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-c", CLIENT, str(port), str(n)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await loop.run_in_executor(None, proc.communicate)
        await asyncio.sleep(0.1)
        server.close()
        await server.wait_closed()
        return proc.returncode, out.decode(), err.decode()[-2000:]

    try:
        rc, out, err = run(loop, main(), timeout=120)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert rc == 0, err
    assert out.split() == ["held", str(n), "bad", "0"]
    assert peak[0] == n


def test_connections_nobody_references_survive_collections(loop):
    # The server keeps no reference to its transports or protocols: the loop does, while the
    # connections are open, through every garbage collection.
    async def main():
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        addr = server.sockets[0].getsockname()
        conns = [await asyncio.open_connection(*addr) for _ in range(20)]
        await asyncio.sleep(0.01)
        for _ in range(3):
            gc.collect()
        for i, (r, w) in enumerate(conns):
            w.write(b"%02d" % i)
        got = [await r.readexactly(2) for r, w in conns]
        for r, w in conns:
            w.close()
        server.close()
        await server.wait_closed()
        return got

    assert run(loop, main()) == [b"%02d" % i for i in range(20)]


CHURN_CLIENT = r"""
import asyncio, socket, struct, sys

class Once(asyncio.Protocol):
    def __init__(self, done):
        self.done = done
    def connection_made(self, t):
        self.t = t
        t.write(b"ping")
    def data_received(self, data):
        # Reset, not FIN: 100,000 closes would leave as many TIME_WAIT sockets (and run
        # out of ephemeral ports) otherwise.
        self.t.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.t.close()
    def connection_lost(self, exc):
        self.done.set_result(None)

async def main(port, n, width):
    loop = asyncio.get_running_loop()
    async def one():
        done = loop.create_future()
        await loop.create_connection(lambda: Once(done), "127.0.0.1", port)
        await done
    for i in range(0, n, width):
        await asyncio.gather(*[one() for _ in range(width)])
    print("done", n)
asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
"""


def test_hundred_thousand_connections_opened_and_closed_leak_nothing(loop):
    # The clients run in another process; this one is the server. Its descriptors and
    # resident memory after 100,000 connections are what they were after the first 10,000.
    import subprocess

    def fds():
        return len(os.listdir("/proc/self/fd"))

    def rss_kib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

    class Count(Echo):
        n = 0

        def connection_made(self, transport):
            super().connection_made(transport)
            Count.n += 1

    async def churn(port, n):
        proc = subprocess.Popen([sys.executable, "-c", CHURN_CLIENT, str(port), str(n), "50"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await loop.run_in_executor(None, proc.communicate)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert out.split() == [b"done", str(n).encode()]
        await asyncio.sleep(0.2)  # the last resets reach the server
        gc.collect()

    async def main():
        server = await loop.create_server(Count, "127.0.0.1", 0, backlog=1024)
        port = server.sockets[0].getsockname()[1]
        await churn(port, 10_000)
        base = fds(), rss_kib(), Count.n
        await churn(port, 90_000)
        end = fds(), rss_kib(), Count.n
        server.close()
        await server.wait_closed()
        return base, end

    (fd0, rss0, n0), (fd1, rss1, n1) = run(loop, main(), timeout=240)
    print("descriptors", fd0, fd1, "rss KiB", rss0, rss1)
    assert (n0, n1) == (10_000, 100_000)
    assert fd1 <= fd0, (fd0, fd1)
    # 90,000 more connections; a leak of even 64 bytes each would be 5.6 MiB.
    assert rss1 - rss0 < 4096, (rss0, rss1)
