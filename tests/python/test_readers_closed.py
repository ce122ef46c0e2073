"""Readers/writers whose descriptor or registration changes under the
loop: descriptors closed or renumbered while watched, readers removed or
replaced while ready, close() with registrations. The process must survive
and the loop must behave as stdlib's does."""

import asyncio
import os
import socket
import time

import pytest

from _helpers import run, run_briefly, run_for, run_until


# ------------------------------------------------- closed descriptors

@pytest.mark.parametrize("kind", ["reader", "writer"])
def test_fd_closed_while_watched_does_not_crash(loop, kind):
    a, b = socket.socketpair()
    calls = []
    fd = a.fileno()
    getattr(loop, "add_" + kind)(fd, calls.append, kind)
    run_briefly(loop)
    before = len(calls)
    b.send(b"data nobody reads")
    a.close()  # closed behind the loop's back, with data pending
    run_for(loop, 0.05)
    assert len(calls) == before  # no callback for a closed descriptor
    # stdlib: the registration is still there and remove_* reports it.
    # (With a reader *and* a writer registered, stdlib's remove_reader
    # raises EBADF from epoll_ctl(MOD), so that case is not asserted.)
    assert getattr(loop, "remove_" + kind)(fd) is True
    b.close()
    run_for(loop, 0.01)
    assert run(loop, asyncio.sleep(0, "alive")) == "alive"


def test_fd_with_reader_and_writer_closed_while_watched(loop):
    a, b = socket.socketpair()
    fd = a.fileno()
    loop.add_reader(fd, lambda: None)
    loop.add_writer(fd, lambda: None)
    run_briefly(loop)
    a.close()
    run_for(loop, 0.05)  # the process survives, the loop keeps running
    for remove in (loop.remove_reader, loop.remove_writer):
        try:
            remove(fd)
        except OSError:  # stdlib: EBADF from the selector
            pass
    b.close()
    assert run(loop, asyncio.sleep(0.01, "alive")) == "alive"


def test_fd_closed_and_both_ends_gone_then_loop_closed(loop_factory):
    lp = loop_factory()
    try:
        r, w = os.pipe()
        lp.add_reader(r, lambda: None)
        lp.run_until_complete(asyncio.sleep(0.005))
        os.close(r)
        os.close(w)
        lp.run_until_complete(asyncio.sleep(0.02))
    finally:
        lp.close()  # must not crash either
    assert lp.is_closed()


def test_reader_callback_closes_its_own_fd(loop, sockpair):
    a, b = sockpair
    c, d = socket.socketpair()
    got = []

    def on_read():
        got.append(c.recv(10))
        loop.remove_reader(c.fileno())
        c.close()

    loop.add_reader(c.fileno(), on_read)
    d.send(b"bye")
    try:
        run_until(loop, lambda: got)
        run_for(loop, 0.02)
    finally:
        d.close()
    assert got == [b"bye"]


def test_reader_callback_closes_other_watched_fd(loop, sockpair):
    a, b = sockpair
    c, d = socket.socketpair()
    got = []
    cfd = c.fileno()

    def on_a():
        got.append(a.recv(10))
        c.close()  # closed while still registered
        loop.remove_reader(a.fileno())

    loop.add_reader(a.fileno(), on_a)
    loop.add_reader(cfd, got.append, "c")
    b.send(b"a")
    try:
        run_until(loop, lambda: got)
        run_for(loop, 0.02)
    finally:
        loop.remove_reader(cfd)
        d.close()
    assert got[0] == b"a"


def test_fd_number_reused_after_remove(loop):
    a, b = socket.socketpair()
    fd = a.fileno()
    loop.add_reader(fd, lambda: None)
    run_briefly(loop)
    assert loop.remove_reader(fd) is True
    a.close()
    b.close()
    c, d = socket.socketpair()
    try:
        if c.fileno() != fd:  # force the same descriptor number
            os.dup2(c.fileno(), fd)
            c.close()
            c = socket.socket(fileno=fd)
        got = []
        loop.add_reader(fd, lambda: got.append(c.recv(10)))
        d.send(b"reused")
        run_until(loop, lambda: got)
        assert loop.remove_reader(fd) is True
        assert got == [b"reused"]
    finally:
        c.close()
        d.close()


def test_fd_number_reused_without_remove(loop):
    # The watched descriptor is closed without remove_reader and its number
    # is taken by a new socket. stdlib copes: remove_reader() drops the
    # stale registration (True) and the new socket can be watched.
    a, b = socket.socketpair()
    fd = a.fileno()
    stale = []
    loop.add_reader(fd, stale.append, "stale")
    run_briefly(loop)
    a.close()
    b.close()
    c, d = socket.socketpair()
    try:
        if c.fileno() != fd:  # force the same descriptor number
            os.dup2(c.fileno(), fd)
            c.close()
            c = socket.socket(fileno=fd)
        assert loop.remove_reader(fd) is True
        got = []
        loop.add_reader(fd, lambda: got.append(c.recv(10)))
        d.send(b"new")
        run_until(loop, lambda: got)
        assert loop.remove_reader(fd) is True
        assert got == [b"new"]
        assert stale == []
    finally:
        c.close()
        d.close()


def test_reader_removed_by_earlier_callback_same_iteration(loop):
    # Both descriptors are ready in the same iteration; whichever reader
    # runs first removes the other: the removed one must not run (its
    # handle is cancelled by remove_reader, as in stdlib).
    p1, p2 = socket.socketpair(), socket.socketpair()
    ran = []

    def make(me, other):
        def cb():
            ran.append(me)
            me_sock = p1[0] if me == 1 else p2[0]
            me_sock.recv(10)
            loop.remove_reader(me_sock.fileno())
            loop.remove_reader(other.fileno())
        return cb

    try:
        loop.add_reader(p1[0].fileno(), make(1, p2[0]))
        loop.add_reader(p2[0].fileno(), make(2, p1[0]))
        p1[1].send(b"a")
        p2[1].send(b"b")
        loop.call_soon(time.sleep, 0.01)  # both become ready
        run_for(loop, 0.05)
    finally:
        for s in (*p1, *p2):
            s.close()
    assert len(ran) == 1


def test_reader_replaced_while_ready(loop, sockpair):
    a, b = sockpair
    ran = []

    def old():
        ran.append("old")

    def new():
        ran.append("new")
        a.recv(10)
        loop.remove_reader(a.fileno())

    def replace():
        loop.add_reader(a.fileno(), new)  # the old handle is cancelled

    loop.add_reader(a.fileno(), old)
    b.send(b"x")
    loop.call_soon(replace)
    run_for(loop, 0.03)
    assert ran == ["new"]


def test_close_releases_pending_callbacks(loop_factory):
    import gc
    import weakref

    class Cb:
        def __call__(self):  # pragma: no cover
            pass

    lp = loop_factory()
    refs = []
    a, b = socket.socketpair()
    try:
        for schedule in (lp.call_soon, lambda cb: lp.call_later(10, cb),
                         lp.call_soon_threadsafe,
                         lambda cb: lp.add_reader(a.fileno(), cb)):
            cb = Cb()
            refs.append(weakref.ref(cb))
            schedule(cb)
            del cb
        lp.close()
    finally:
        a.close()
        b.close()
    gc.collect()
    assert [r() for r in refs] == [None] * 4
