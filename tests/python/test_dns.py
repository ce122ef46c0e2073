"""loop.getaddrinfo / loop.getnameinfo against the socket module.

The oracle here is socket.getaddrinfo / socket.getnameinfo called with the
same arguments in the same process (stdlib's loop simply runs them in its
executor): results must be *equal*, errors must be the same exception type
with the same errno. Only names answered from /etc/hosts (localhost) or
numeric addresses are used, so nothing touches the network.
"""

import asyncio
import socket

import pytest

from _helpers import run

S = socket


def outcome(fn, *args, **kwargs):
    """('ok', value) or ('err', exception type, errno)."""
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as e:
        return ("err", type(e), getattr(e, "errno", None))


async def aoutcome(fn, *args, **kwargs):
    try:
        return ("ok", await fn(*args, **kwargs))
    except Exception as e:
        return ("err", type(e), getattr(e, "errno", None))


def gai_case(host, port, **kw):
    name = f"{host!r}:{port!r}" + "".join(
        f",{k}={int(v)}" for k, v in kw.items())
    return pytest.param(host, port, kw, id=name)


GAI_OK = [
    gai_case("localhost", 80),
    gai_case("localhost", 0),
    gai_case("localhost", None),
    gai_case("127.0.0.1", 8080),
    gai_case("::1", 443),
    gai_case("localhost", "http"),
    gai_case("localhost", "8080"),
    gai_case("127.0.0.1", "ssh"),
    gai_case(b"localhost", b"80"),
    gai_case("127.0.0.1", b"domain"),
    gai_case(None, 0, flags=S.AI_PASSIVE),
    gai_case(None, 8080, family=S.AF_INET, flags=S.AI_PASSIVE),
    gai_case(None, 8080, family=S.AF_INET6, flags=S.AI_PASSIVE),
    gai_case(None, 80),
    gai_case("localhost", 80, family=S.AF_INET),
    gai_case("::1", 80, family=S.AF_INET6),
    gai_case("127.0.0.1", 80, type=S.SOCK_STREAM),
    gai_case("127.0.0.1", 80, type=S.SOCK_DGRAM),
    gai_case("127.0.0.1", 80, type=S.SOCK_DGRAM, proto=S.IPPROTO_UDP),
    gai_case("127.0.0.1", 80, proto=S.IPPROTO_TCP),
    gai_case("127.0.0.1", 80, family=S.AF_INET, type=S.SOCK_STREAM,
             proto=S.IPPROTO_TCP, flags=S.AI_NUMERICHOST),
    gai_case("::1", 80, flags=S.AI_NUMERICHOST),
    gai_case("127.0.0.1", 80, flags=S.AI_CANONNAME),
    gai_case("localhost", 80, flags=S.AI_CANONNAME),
    gai_case("localhost", 80, flags=S.AI_ADDRCONFIG),
    gai_case("localhost", 80, family=S.AF_INET6, flags=S.AI_V4MAPPED),
    gai_case("localhost", "80", flags=S.AI_NUMERICSERV),
    gai_case("127.1", 80, flags=S.AI_NUMERICHOST),
    gai_case("fe80::1%lo", 80, flags=S.AI_NUMERICHOST),
    gai_case("localhost", 65535),
]

GAI_ERR = [
    gai_case("localhost", 80, flags=S.AI_NUMERICHOST),    # EAI_NONAME
    gai_case("localhost", "http", flags=S.AI_NUMERICSERV),  # EAI_NONAME
    gai_case("not a host!", 80, flags=S.AI_NUMERICHOST),  # EAI_NONAME
    gai_case("b\u00fccher", 80, flags=S.AI_NUMERICHOST),  # idna, NONAME
    gai_case(None, None),                                 # EAI_NONAME
    gai_case("", 80),                                     # EAI_NONAME
    gai_case("localhost", "nosuchservice-xyz"),           # EAI_SERVICE
    gai_case("localhost", -1),                            # EAI_SERVICE
    gai_case("::1", 80, family=S.AF_INET),                # EAI_ADDRFAMILY
    gai_case("localhost", 80, family=S.AF_INET6),         # /etc/hosts
    gai_case("127.0.0.1", 80, type=12345),                # EAI_SOCKTYPE
    gai_case("127.0.0.1", 80, family=12345),              # EAI_FAMILY
    gai_case("localhost", 80, flags=-1),                  # EAI_BADFLAGS
    gai_case("localhost", "\uff18\uff10"),                # EAI_SERVICE
]

# Argument-conversion behaviour of CPython's socket module (a drop-in loop
# must accept and reject the same Python values).
GAI_ARGS = [
    gai_case("localhost", 65536),      # accepted, becomes port 0
    gai_case("127.0.0.1", 80.5),       # OSError('Int or String expected')
    gai_case(123, 80),                 # TypeError
    gai_case("localhost", True),       # OSError: bool is not an int port
    gai_case("127.0.0.1", True),       # (same, numeric host)
    gai_case(bytearray(b"localhost"), 80),   # TypeError
    gai_case("localhost", bytearray(b"80")),  # OSError
    gai_case("localhost", 2 ** 70),    # OverflowError
    gai_case("localhost", 80, family=2 ** 40),  # OverflowError
]


def _check_gai(loop, host, port, kw):
    expected = outcome(socket.getaddrinfo, host, port, **kw)
    got = run(loop, aoutcome(loop.getaddrinfo, host, port, **kw))
    assert got == expected


@pytest.mark.parametrize("host,port,kw", GAI_OK)
def test_getaddrinfo_matches_socket(loop, host, port, kw):
    expected = socket.getaddrinfo(host, port, **kw)
    assert expected  # the case really resolves on this machine
    got = run(loop, loop.getaddrinfo(host, port, **kw))
    assert got == expected


@pytest.mark.parametrize("host,port,kw", GAI_ERR)
def test_getaddrinfo_errors_match_socket(loop, host, port, kw):
    expected = outcome(socket.getaddrinfo, host, port, **kw)
    assert expected[0] == "err" and expected[1] is socket.gaierror
    got = run(loop, aoutcome(loop.getaddrinfo, host, port, **kw))
    assert got == expected


@pytest.mark.parametrize("host,port,kw", GAI_ARGS)
def test_getaddrinfo_argument_conversion(loop, host, port, kw):
    _check_gai(loop, host, port, kw)


def test_getaddrinfo_gaierror_details(loop):
    with pytest.raises(socket.gaierror) as want:
        socket.getaddrinfo("localhost", 80, flags=socket.AI_NUMERICHOST)

    async def main():
        with pytest.raises(socket.gaierror) as got:
            await loop.getaddrinfo("localhost", 80,
                                   flags=socket.AI_NUMERICHOST)
        return got.value

    err = run(loop, main())
    assert err.errno == want.value.errno == socket.EAI_NONAME
    assert err.strerror == want.value.strerror
    assert isinstance(err, OSError)


def test_getaddrinfo_result_types(loop):
    res = run(loop, loop.getaddrinfo("127.0.0.1", 80,
                                     type=socket.SOCK_STREAM))
    assert isinstance(res, list) and res
    for entry in res:
        assert isinstance(entry, tuple) and len(entry) == 5
        family, type_, proto, canon, sockaddr = entry
        assert type(family) is socket.AddressFamily
        assert type(type_) is socket.SocketKind
        assert type(proto) is int
        assert type(canon) is str
        assert type(sockaddr) is tuple
    res6 = run(loop, loop.getaddrinfo("::1", 80, type=socket.SOCK_STREAM))
    assert [len(e[4]) for e in res6] == [4] * len(res6)


def test_getaddrinfo_is_awaitable(loop):
    aw = loop.getaddrinfo("127.0.0.1", 0)
    assert hasattr(aw, "__await__")
    assert run(loop, aw) == socket.getaddrinfo("127.0.0.1", 0)


def test_getaddrinfo_concurrent(loop):
    args = [("localhost", p) for p in range(1000, 1100)]

    async def main():
        return await asyncio.gather(
            *(loop.getaddrinfo(h, p, type=socket.SOCK_STREAM)
              for h, p in args))

    got = run(loop, main(), timeout=10)
    assert got == [socket.getaddrinfo(h, p, type=socket.SOCK_STREAM)
                   for h, p in args]


def test_getaddrinfo_result_usable_for_bind(loop):
    res = run(loop, loop.getaddrinfo("127.0.0.1", 0, family=socket.AF_INET,
                                     type=socket.SOCK_STREAM))
    family, type_, proto, _, addr = res[0]
    with socket.socket(family, type_, proto) as s:
        s.bind(addr)
        assert s.getsockname()[0] == "127.0.0.1"


# ------------------------------------------------------------ getnameinfo

def gni_case(sockaddr, flags=0):
    return pytest.param(sockaddr, flags, id=f"{sockaddr!r},{int(flags)}")


GNI = [
    gni_case(("127.0.0.1", 80)),
    gni_case(("127.0.0.1", 80), S.NI_NUMERICHOST | S.NI_NUMERICSERV),
    gni_case(("127.0.0.1", 80), S.NI_NUMERICHOST),
    gni_case(("127.0.0.1", 80), S.NI_NUMERICSERV),
    gni_case(("127.0.0.1", 12345)),
    gni_case(("127.0.0.1", 53), S.NI_DGRAM),
    gni_case(("127.0.0.1", 80), S.NI_NAMEREQD),
    gni_case(("127.0.0.1", 0)),
    gni_case(("::1", 80, 0, 0), S.NI_NUMERICHOST),
    gni_case(("::1", 443), S.NI_NUMERICHOST),
    gni_case(("::1", 22, 0, 0), S.NI_NUMERICHOST | S.NI_NUMERICSERV),
]

GNI_ERR = [
    gni_case(("abc", 80)),              # gaierror EAI_NONAME
    gni_case(("localhost", 80)),        # not numeric: gaierror
    gni_case(("127.0.0.1", -1)),        # gaierror EAI_SERVICE
    gni_case(("127.0.0.1",)),           # TypeError
    gni_case("127.0.0.1"),              # TypeError: not a tuple
    gni_case(("127.0.0.1", "80")),      # TypeError
    gni_case(("127.0.0.1", 80.0)),      # TypeError
    gni_case((b"127.0.0.1", 80)),       # TypeError
    gni_case(()),                       # TypeError
    gni_case(("::1", 80, 0, 0, 0)),     # TypeError: 5-tuple
    gni_case(["127.0.0.1", 80]),        # TypeError: a list
    gni_case(("127.0.0.1", 80, 0, 0)),  # OSError: IPv4 wants a 2-tuple
    gni_case(("127.0.0.1", 80), -1),    # gaierror EAI_BADFLAGS
    gni_case(("127.0.0.1", 80), 2 ** 40),         # OverflowError
    gni_case(("::1", 80, 1 << 20, 0), S.NI_NUMERICHOST),  # OverflowError
]


@pytest.mark.parametrize("sockaddr,flags", GNI)
def test_getnameinfo_matches_socket(loop, sockaddr, flags):
    expected = socket.getnameinfo(sockaddr, flags)
    got = run(loop, loop.getnameinfo(sockaddr, flags))
    assert got == expected
    assert type(got) is tuple


@pytest.mark.parametrize("sockaddr,flags", GNI_ERR)
def test_getnameinfo_errors_match_socket(loop, sockaddr, flags):
    expected = outcome(socket.getnameinfo, sockaddr, flags)
    assert expected[0] == "err"
    got = run(loop, aoutcome(loop.getnameinfo, sockaddr, flags))
    assert got == expected


def test_getnameinfo_default_flags(loop):
    assert run(loop, loop.getnameinfo(("127.0.0.1", 80))) == \
        socket.getnameinfo(("127.0.0.1", 80), 0)


def test_getnameinfo_concurrent(loop):
    addrs = [("127.0.0.1", p) for p in range(20, 120)]

    async def main():
        return await asyncio.gather(
            *(loop.getnameinfo(a, socket.NI_NUMERICSERV) for a in addrs))

    got = run(loop, main(), timeout=10)
    assert got == [socket.getnameinfo(a, socket.NI_NUMERICSERV)
                   for a in addrs]
