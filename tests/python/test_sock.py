"""sock_* on real loopback sockets: each behaviour on stdlib asyncio and on rsuv."""

import asyncio
import os
import socket
import sys
import tempfile

import pytest

from _helpers import run


def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.setblocking(False)
    return srv


def test_recv_waits_for_data_and_sendall_sends_everything(loop):
    a, b = pair()
    payload = os.urandom(4 * 1024 * 1024)  # far more than the socket buffers hold

    async def main():
        reader = asyncio.ensure_future(read_all(len(payload)))
        await loop.sock_sendall(a, payload)
        return await reader

    async def read_all(n):
        got = bytearray()
        while len(got) < n:
            got += await loop.sock_recv(b, 65536)
        return bytes(got)

    try:
        assert run(loop, main()) == payload
    finally:
        a.close()
        b.close()


def test_recv_into_and_eof(loop):
    a, b = pair()

    async def main():
        buf = bytearray(10)
        loop.call_later(0.01, a.send, b"hello")
        n = await loop.sock_recv_into(b, buf)
        a.close()
        eof = await loop.sock_recv(b, 10)
        return bytes(buf[:n]), eof

    try:
        assert run(loop, main()) == (b"hello", b"")
    finally:
        b.close()


def test_connect_accept_round_trip(loop):
    srv = listener()
    addr = srv.getsockname()

    async def main():
        c = socket.socket()
        c.setblocking(False)
        accept = asyncio.ensure_future(loop.sock_accept(srv))
        await loop.sock_connect(c, addr)
        conn, peer = await accept
        assert conn.gettimeout() == 0
        assert peer == c.getsockname()
        await loop.sock_sendall(c, b"ping")
        got = await loop.sock_recv(conn, 4)
        conn.close()
        c.close()
        return got

    try:
        assert run(loop, main()) == b"ping"
    finally:
        srv.close()


def test_connect_by_name_resolves(loop):
    srv = listener()
    port = srv.getsockname()[1]

    async def main():
        c = socket.socket()
        c.setblocking(False)
        await loop.sock_connect(c, ("localhost", port))
        peer = c.getpeername()
        c.close()
        return peer

    try:
        assert run(loop, main()) == ("127.0.0.1", port)
    finally:
        srv.close()


def test_connect_refused_is_connection_refused_error(loop):
    srv = listener()
    addr = srv.getsockname()
    srv.close()  # nothing listens there now

    async def main():
        c = socket.socket()
        c.setblocking(False)
        try:
            await loop.sock_connect(c, addr)
        finally:
            c.close()

    with pytest.raises(ConnectionRefusedError):
        run(loop, main())


def blocking_calls(loop, s):
    return (loop.sock_recv(s, 1), loop.sock_sendall(s, b"x"), loop.sock_accept(s),
            loop.sock_connect(s, ("127.0.0.1", 1)), loop.sock_recv_into(s, bytearray(1)))


def test_blocking_socket_is_refused_in_debug_mode(loop):
    # stdlib checks only in debug mode; rsuv always (next test).
    loop.set_debug(True)
    s = socket.socket()
    try:
        for coro in blocking_calls(loop, s):
            with pytest.raises(ValueError, match="non-blocking"):
                run(loop, coro)
    finally:
        s.close()
        loop.set_debug(False)


@pytest.mark.rsuv_only
def test_blocking_socket_is_refused_always_on_rsuv(loop):
    s = socket.socket()
    try:
        for coro in blocking_calls(loop, s):
            with pytest.raises(ValueError, match="non-blocking"):
                run(loop, coro)
    finally:
        s.close()


def test_cancelled_recv_loses_no_bytes(loop):
    a, b = pair()

    async def main():
        t = asyncio.ensure_future(loop.sock_recv(b, 100))
        await asyncio.sleep(0.01)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        a.send(b"after cancel")
        return await loop.sock_recv(b, 100)

    try:
        assert run(loop, main()) == b"after cancel"
    finally:
        a.close()
        b.close()


@pytest.mark.skipif(sys.version_info < (3, 11), reason="sock_recvfrom and friends: 3.11+")
def test_datagrams_sendto_recvfrom(loop):
    u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for u in (u1, u2):
        u.bind(("127.0.0.1", 0))
        u.setblocking(False)

    async def main():
        loop.call_later(0.01, u1.sendto, b"one", u2.getsockname())
        data, addr = await loop.sock_recvfrom(u2, 100)
        await loop.sock_sendto(u2, b"two", addr)
        buf = bytearray(10)
        n, addr2 = await loop.sock_recvfrom_into(u1, buf)
        return data, addr, bytes(buf[:n]), addr2

    try:
        data, addr, back, addr2 = run(loop, main())
        assert (data, addr, back, addr2) == (b"one", u1.getsockname(), b"two", u2.getsockname())
    finally:
        u1.close()
        u2.close()


def test_sendfile_sends_the_range_and_moves_the_file_position(loop):
    a, b = socket.socketpair()  # stream sockets
    a.setblocking(False)
    b.setblocking(False)
    data = os.urandom(300_000)
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.flush()
        f.seek(0)

        async def main():
            got = bytearray()

            async def drain(n):
                while len(got) < n:
                    got.extend(await loop.sock_recv(b, 65536))

            reader = asyncio.ensure_future(drain(200_000))
            n = await loop.sock_sendfile(a, f, 1000, 200_000)
            await reader
            return n, bytes(got)

        try:
            n, got = run(loop, main())
            assert n == 200_000 and got == data[1000:201_000]
            assert f.tell() == 201_000
        finally:
            a.close()
            b.close()


def test_sendfile_argument_errors(loop):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.setblocking(False)
    s = socket.socket()
    s.setblocking(False)
    try:
        with tempfile.TemporaryFile() as f:
            with pytest.raises(ValueError, match="SOCK_STREAM"):
                run(loop, loop.sock_sendfile(u, f))
            with pytest.raises(ValueError):
                run(loop, loop.sock_sendfile(s, f, -1))
            with pytest.raises(TypeError):
                run(loop, loop.sock_sendfile(s, f, 0, "x"))
        with tempfile.TemporaryFile("w") as f:
            with pytest.raises(ValueError, match="binary"):
                run(loop, loop.sock_sendfile(s, f))
    finally:
        u.close()
        s.close()


def test_recv_right_after_a_cancelled_recv_still_gets_the_data(loop):
    # The cancelled call's clean-up runs after the next call registered the descriptor: it
    # must not unregister the next call's reader.
    a, b = pair()

    async def main():
        t = asyncio.ensure_future(loop.sock_recv(b, 100))
        await asyncio.sleep(0)
        t.cancel()
        loop.call_later(0.01, a.send, b"racing")
        return await loop.sock_recv(b, 100)

    try:
        assert run(loop, main(), timeout=5) == b"racing"
    finally:
        a.close()
        b.close()


def test_a_socket_reusing_a_closed_ones_descriptor_is_watched_anew(loop):
    # rsuv keeps a plain socket's descriptor registered (edge-triggered) between calls; a
    # new socket that gets the same number after a close must still be woken.
    async def main():
        a, b = pair()
        loop.call_later(0.01, a.send, b"one")
        assert await loop.sock_recv(b, 10) == b"one"
        fd = b.fileno()
        a.close()
        b.close()
        for _ in range(20):  # the lowest free numbers: the pair's come back soon
            c, d = pair()
            if fd in (c.fileno(), d.fileno()):
                break
            c.close()
            d.close()
        else:
            pytest.skip("the descriptor number did not come back")
        reader = c if c.fileno() == fd else d
        writer = d if reader is c else c
        loop.call_later(0.01, writer.send, b"two")
        got = await asyncio.wait_for(loop.sock_recv(reader, 10), 5)
        c.close()
        d.close()
        return got

    assert run(loop, main()) == b"two"


def test_recv_into_memoryview_slices_and_sendall_of_other_buffers(loop):
    import array

    a, b = pair()

    async def main():
        buf = bytearray(16)
        loop.call_later(0.01, a.send, b"abcdef")
        n = await loop.sock_recv_into(b, memoryview(buf)[4:])
        # Any contiguous byte buffer, as sock.send takes. (Not an array of ints: asyncio's
        # sock_sendall counts its items against bytes sent and waits forever after a
        # partial count, so the oracle cannot say.)
        ints = array.array("B", [1, 2, 3])
        await loop.sock_sendall(a, bytearray(b"~"))
        await loop.sock_sendall(a, ints)
        await loop.sock_sendall(a, memoryview(b"xyz"))
        await loop.sock_sendall(a, b"")
        got = b""
        while len(got) < 7:
            got += await loop.sock_recv(b, 100)
        return n, bytes(buf[4:4 + n]), got

    try:
        n, head, got = run(loop, main())
        assert (n, head) == (6, b"abcdef")
        assert got == b"~\x01\x02\x03xyz"
    finally:
        a.close()
        b.close()


def test_bad_arguments_raise_as_the_socket_does(loop):
    a, b = pair()

    async def main():
        errors = []
        for call in (lambda: loop.sock_recv(b, -1), lambda: loop.sock_sendall(a, "text"),
                     lambda: loop.sock_recv_into(b, b"read-only")):
            try:
                await call()
            except (ValueError, TypeError) as e:
                errors.append(type(e).__name__)
        return errors

    try:
        assert run(loop, main()) == ["ValueError", "TypeError", "TypeError"]
    finally:
        a.close()
        b.close()


def test_cancelled_sendall_sends_no_more_and_the_next_call_works(loop):
    a, b = pair()

    async def main():
        big = b"x" * (8 * 1024 * 1024)
        task = asyncio.ensure_future(loop.sock_sendall(a, big))
        await asyncio.sleep(0.05)  # the socket is full: the call waits for room
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Drain what was sent; then the next call on the same socket works.
        drained = 0
        while True:
            try:
                drained += len(b.recv(1 << 20))
            except BlockingIOError:
                break
        assert 0 < drained < len(big)
        await loop.sock_sendall(a, b"after")
        got = b""
        while not got.endswith(b"after"):
            got += await loop.sock_recv(b, 100)
        return got

    try:
        assert run(loop, main()).endswith(b"after")
    finally:
        a.close()
        b.close()


def test_a_recv_and_a_reader_callback_on_one_socket_pair(loop):
    # A reader callback on one socket and sock_recv on its peer; then a callback on the
    # socket sock_recv used (level-triggered again): both wake as on asyncio.
    a, b = pair()

    async def main():
        loop.call_later(0.01, a.send, b"1")
        assert await loop.sock_recv(b, 10) == b"1"
        got = loop.create_future()
        loop.add_reader(b, lambda: got.done() or got.set_result(b.recv(10)))
        a.send(b"2")
        assert await asyncio.wait_for(got, 5) == b"2"
        assert loop.remove_reader(b)
        loop.call_later(0.01, a.send, b"3")
        return await asyncio.wait_for(loop.sock_recv(b, 10), 5)

    try:
        assert run(loop, main()) == b"3"
    finally:
        a.close()
        b.close()
