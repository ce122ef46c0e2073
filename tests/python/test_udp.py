"""UDP and Unix datagram endpoints on loopback: each behaviour on stdlib asyncio and rsuv."""

import asyncio
import os
import socket
import sys
import tempfile

import pytest

from _helpers import run


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data.upper(), addr)


class Client(asyncio.DatagramProtocol):
    def __init__(self, loop, want):
        self.got = []
        self.errors = []
        self.want = want
        self.done = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.got.append((data, addr))
        if len(self.got) == self.want and not self.done.done():
            self.done.set_result(None)

    def error_received(self, exc):
        self.errors.append(exc)
        if not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def test_echo_with_remote_addr_and_without(loop):
    async def main():
        st, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        addr = st.get_extra_info("sockname")
        # Connected: sendto(data) to the remote address.
        ct, cp = await loop.create_datagram_endpoint(lambda: Client(loop, 3),
                                                     remote_addr=addr)
        for m in (b"a", b"bb", b"ccc"):
            ct.sendto(m)
        await asyncio.wait_for(cp.done, 5)
        peer = ct.get_extra_info("peername")
        with pytest.raises(ValueError):
            ct.sendto(b"x", ("127.0.0.1", 9))  # not the remote address
        # Unconnected: addresses given per datagram.
        ut, up = await loop.create_datagram_endpoint(lambda: Client(loop, 1),
                                                     local_addr=("127.0.0.1", 0))
        ut.sendto(b"free", addr)
        await asyncio.wait_for(up.done, 5)
        for t in (ct, ut, st):
            t.close()
        await cp.lost
        return sorted(d for d, _ in cp.got), peer, up.got, addr

    got, peer, ugot, addr = run(loop, main())
    assert got == [b"A", b"BB", b"CCC"] and peer == addr
    assert ugot == [(b"FREE", addr)]


def test_error_received_for_a_closed_port(loop):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()
    s.close()

    async def main():
        t, p = await loop.create_datagram_endpoint(lambda: Client(loop, 1), remote_addr=closed)
        t.sendto(b"nobody there")
        await asyncio.sleep(0.05)
        t.sendto(b"again")
        await asyncio.wait_for(p.done, 5)
        t.close()
        await p.lost
        return p.errors

    errors = run(loop, main())
    assert errors and all(isinstance(e, ConnectionRefusedError) for e in errors)


def test_sock_argument_and_its_checks(loop):
    async def main():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        t, p = await loop.create_datagram_endpoint(lambda: Client(loop, 1), sock=s)
        same = t.get_extra_info("sockname") == s.getsockname()
        t.close()
        await p.lost
        tcp = socket.socket()
        try:
            with pytest.raises(ValueError):
                await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=tcp)
        finally:
            tcp.close()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            with pytest.raises(ValueError, match="modifier"):
                await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=u,
                                                    local_addr=("127.0.0.1", 0))
        finally:
            u.close()
        with pytest.raises(ValueError, match="family"):
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol)
        # reuse_address=True: refused (ValueError) before 3.11, gone (TypeError) since.
        with pytest.raises(TypeError if sys.version_info >= (3, 11) else ValueError):
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                local_addr=("127.0.0.1", 0),
                                                reuse_address=True)
        return same

    assert run(loop, main())


def test_unix_datagram_endpoints(loop):
    async def main():
        with tempfile.TemporaryDirectory() as d:
            a, b = os.path.join(d, "a"), os.path.join(d, "b")
            st, _ = await loop.create_datagram_endpoint(Echo, local_addr=a,
                                                        family=socket.AF_UNIX)
            ct, cp = await loop.create_datagram_endpoint(lambda: Client(loop, 1),
                                                         local_addr=b, remote_addr=a,
                                                         family=socket.AF_UNIX)
            ct.sendto(b"over unix")
            await asyncio.wait_for(cp.done, 5)
            ct.close()
            st.close()
            await cp.lost
            return cp.got

    assert run(loop, main())[0][0] == b"OVER UNIX"


def test_sendto_type_error_and_closing(loop):
    async def main():
        t, p = await loop.create_datagram_endpoint(lambda: Client(loop, 1),
                                                   local_addr=("127.0.0.1", 0))
        with pytest.raises(TypeError, match="bytes-like"):
            t.sendto("text", ("127.0.0.1", 9))
        assert not t.is_closing()
        t.abort()
        assert t.is_closing()
        return await p.lost

    assert run(loop, main()) is None
