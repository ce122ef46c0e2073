"""pyuv.dns.getaddrinfo / getnameinfo on localhost, sync and async (pyuv 1.4
src/dns.c). Errors raise pyuv.error.UVError (pyuv has no DNSError)."""

import socket

import pytest

import pyuv

dns = pyuv.dns


def test_getaddrinfo_sync_localhost(lp):
    res = dns.getaddrinfo(lp, "localhost", 80, socket.AF_INET, socket.SOCK_STREAM)
    assert isinstance(res, list) and res
    r = res[0]
    assert isinstance(r, dns.addrinfo_result)
    assert (r.family, r.socktype, r.proto) == (socket.AF_INET, socket.SOCK_STREAM,
                                               socket.IPPROTO_TCP)
    assert r.sockaddr == ("127.0.0.1", 80)
    assert isinstance(r.canonname, str)
    assert tuple(r) == (r.family, r.socktype, r.proto, r.canonname, r.sockaddr)


def test_getaddrinfo_service_forms(lp):
    kw = dict(family=socket.AF_INET, socktype=socket.SOCK_STREAM)
    by_int = dns.getaddrinfo(lp, "127.0.0.1", 80, **kw)
    by_str = dns.getaddrinfo(lp, "127.0.0.1", "http", **kw)
    no_port = dns.getaddrinfo(lp, "127.0.0.1", None, **kw)
    assert by_int[0].sockaddr == by_str[0].sockaddr == ("127.0.0.1", 80)
    assert no_port[0].sockaddr == ("127.0.0.1", 0)
    with pytest.raises(TypeError):
        dns.getaddrinfo(lp, "127.0.0.1", 1.5)
    with pytest.raises(TypeError):
        dns.getaddrinfo(lp, 12, 80)


def test_getaddrinfo_port_out_of_range_is_valueerror(lp):
    with pytest.raises(ValueError):
        dns.getaddrinfo(lp, "127.0.0.1", 70000)
    with pytest.raises(ValueError):
        dns.getaddrinfo(lp, "127.0.0.1", -1)


def test_getaddrinfo_bytes_service_and_host(lp):
    # pyuv accepts bytes for both (src/dns.c: PyBytes_Check branches)
    res = dns.getaddrinfo(lp, b"127.0.0.1", b"http", socket.AF_INET, socket.SOCK_STREAM)
    assert res[0].sockaddr == ("127.0.0.1", 80)


def test_getaddrinfo_ipv6_and_protocol_filter(lp):
    res = dns.getaddrinfo(lp, "127.0.0.1", 53, socket.AF_INET, 0, socket.IPPROTO_UDP)
    assert {r.proto for r in res} == {socket.IPPROTO_UDP}
    assert {r.socktype for r in res} == {socket.SOCK_DGRAM}
    try:
        six = dns.getaddrinfo(lp, "::1", 80, socket.AF_INET6, socket.SOCK_STREAM)
    except pyuv.error.UVError:
        pytest.skip("no IPv6 resolution here")
    assert six[0].family == socket.AF_INET6 and six[0].sockaddr[:2] == ("::1", 80)
    assert len(six[0].sockaddr) == 4


def test_getaddrinfo_async(lp, run):
    got = []
    req = dns.getaddrinfo(lp, "localhost", 8080, socket.AF_INET, socket.SOCK_STREAM,
                          callback=lambda result, errorno: got.append((result, errorno)))
    assert isinstance(req, pyuv.GAIRequest) and isinstance(req, pyuv.Request)
    assert req.loop is lp
    run(lp)
    assert len(got) == 1
    result, errorno = got[0]
    assert errorno is None
    assert result[0].sockaddr == ("127.0.0.1", 8080)


def test_getaddrinfo_errors_are_uverror(lp, run):
    with pytest.raises(pyuv.error.UVError) as ei:
        dns.getaddrinfo(lp, "nonexistent.invalid", 80)
    assert type(ei.value) is pyuv.error.UVError
    assert ei.value.args[0] in (pyuv.errno.UV_EAI_NONAME, pyuv.errno.UV_EAI_AGAIN,
                                pyuv.errno.UV_EAI_NODATA, pyuv.errno.UV_EAI_FAIL)
    assert ei.value.args[1] == pyuv.errno.strerror(ei.value.args[0])
    with pytest.raises(pyuv.error.UVError) as ei:
        dns.getaddrinfo(lp, "localhost", 80, flags=0x7777)
    assert ei.value.args[0] == pyuv.errno.UV_EAI_BADFLAGS
    got = []
    dns.getaddrinfo(lp, "nonexistent.invalid", 80, callback=lambda r, e: got.append((r, e)))
    run(lp)
    assert got[0][0] is None and got[0][1] < 0
    with pytest.raises(TypeError):
        dns.getaddrinfo(lp, "localhost", 80, callback=3)


def test_getnameinfo_sync(lp):
    assert dns.getnameinfo(lp, ("127.0.0.1", 80),
                           socket.NI_NUMERICHOST | socket.NI_NUMERICSERV) == ("127.0.0.1", "80")
    host, service = dns.getnameinfo(lp, ("127.0.0.1", 80))
    assert service == "http"
    assert host == socket.getnameinfo(("127.0.0.1", 80), 0)[0]


def test_getnameinfo_async(lp, run):
    got = []
    req = dns.getnameinfo(lp, ("127.0.0.1", 22), socket.NI_NUMERICHOST,
                          callback=lambda result, errorno: got.append((result, errorno)))
    assert isinstance(req, pyuv.GNIRequest) and isinstance(req, pyuv.Request)
    run(lp)
    assert got == [(("127.0.0.1", "ssh"), None)]
    with pytest.raises(TypeError):
        dns.getnameinfo(lp, "127.0.0.1")  # must be an address tuple


def test_dns_request_cancel_after_done_and_dict(lp, run):
    req = dns.getnameinfo(lp, ("127.0.0.1", 80), callback=lambda r, e: None)
    req.mark = "x"
    run(lp)
    assert req.cancel() is False
    assert req.mark == "x" and req.__dict__ == {"mark": "x"}
