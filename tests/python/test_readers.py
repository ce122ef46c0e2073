"""add_reader / add_writer / remove_reader / remove_writer on sockets,
pipes, eventfds and objects with fileno()."""

import asyncio
import errno
import os
import socket
import tempfile

import pytest

from _helpers import run, run_briefly, run_for, run_until


class FileLike:
    def __init__(self, fd):
        self._fd = fd

    def fileno(self):
        return self._fd


# ------------------------------------------------------------- readers

def test_reader_on_socketpair(loop, sockpair):
    a, b = sockpair
    got = []

    def on_read(tag):
        got.append((tag, a.recv(100)))

    loop.add_reader(a.fileno(), on_read, "tag")
    try:
        b.send(b"hello")
        run_until(loop, lambda: got)
    finally:
        assert loop.remove_reader(a.fileno()) is True
    assert got == [("tag", b"hello")]


def test_remove_reader_return_values(loop, sockpair):
    a, _ = sockpair
    assert loop.remove_reader(a.fileno()) is False
    loop.add_reader(a.fileno(), lambda: None)
    assert loop.remove_reader(a.fileno()) is True
    assert loop.remove_reader(a.fileno()) is False


def test_removed_reader_not_called(loop, sockpair):
    a, b = sockpair
    got = []
    loop.add_reader(a.fileno(), got.append, 1)
    assert loop.remove_reader(a.fileno())
    b.send(b"x")
    run_for(loop, 0.02)
    assert got == []


def test_reader_is_level_triggered(loop, sockpair):
    # Data left unread keeps the reader firing on every iteration.
    a, b = sockpair
    calls = []
    done = loop.create_future()

    def on_read():
        calls.append(1)
        if len(calls) == 5:
            loop.remove_reader(a.fileno())
            done.set_result(None)

    loop.add_reader(a.fileno(), on_read)
    b.send(b"unread")
    run(loop, done, timeout=2)
    assert len(calls) == 5


def test_replacing_a_reader(loop, sockpair):
    a, b = sockpair
    got = []

    def first():  # pragma: no cover - must never run
        got.append("first")

    def second():
        got.append(("second", a.recv(10)))

    loop.add_reader(a.fileno(), first)
    loop.add_reader(a.fileno(), second)
    b.send(b"x")
    try:
        run_until(loop, lambda: got)
        run_briefly(loop, 2)
    finally:
        assert loop.remove_reader(a.fileno()) is True
    assert loop.remove_reader(a.fileno()) is False
    assert got == [("second", b"x")]


def test_reader_on_pipe(loop, pipe):
    r, w = pipe
    got = []
    loop.add_reader(r, lambda: got.append(os.read(r, 100)))
    try:
        os.write(w, b"through the pipe")
        run_until(loop, lambda: got)
    finally:
        assert loop.remove_reader(r)
    assert got == [b"through the pipe"]


def test_reader_on_pipe_eof(loop, pipe):
    # Closing the write end makes the read end readable (EOF).
    r, w = pipe
    got = []
    loop.add_reader(r, lambda: got.append(os.read(r, 100)))
    try:
        os.close(w)
        pipe.remove(w)
        run_until(loop, lambda: got)
    finally:
        loop.remove_reader(r)
    assert got[0] == b""


@pytest.mark.skipif(not hasattr(os, "eventfd"), reason="os.eventfd missing")
def test_reader_on_eventfd(loop):
    efd = os.eventfd(0, os.EFD_NONBLOCK)
    got = []
    try:
        loop.add_reader(efd, lambda: got.append(os.eventfd_read(efd)))
        os.eventfd_write(efd, 3)
        run_until(loop, lambda: got)
        os.eventfd_write(efd, 4)
        run_until(loop, lambda: len(got) == 2)
        assert loop.remove_reader(efd) is True
    finally:
        os.close(efd)
    assert got == [3, 4]


def test_reader_with_fileno_object(loop, sockpair):
    a, b = sockpair
    got = []
    obj = FileLike(a.fileno())
    loop.add_reader(obj, lambda: got.append(a.recv(10)))
    b.send(b"obj")
    try:
        run_until(loop, lambda: got)
    finally:
        assert loop.remove_reader(obj) is True
    assert loop.remove_reader(obj) is False
    assert got == [b"obj"]


def test_reader_socket_object_and_fd_are_the_same_key(loop, sockpair):
    a, _ = sockpair
    loop.add_reader(a, lambda: None)  # the socket object itself
    assert loop.remove_reader(a.fileno()) is True
    loop.add_reader(a.fileno(), lambda: None)
    assert loop.remove_reader(FileLike(a.fileno())) is True


# ------------------------------------------------------------- writers

def test_writer_on_socket(loop, sockpair):
    a, b = sockpair
    got = []

    def on_write(tag):
        got.append(tag)
        a.send(b"w")
        loop.remove_writer(a.fileno())

    loop.add_writer(a.fileno(), on_write, "writable")
    run_until(loop, lambda: got)
    run_briefly(loop, 2)
    assert got == ["writable"]
    assert b.recv(10) == b"w"
    assert loop.remove_writer(a.fileno()) is False


def test_remove_writer_return_values(loop, sockpair):
    a, _ = sockpair
    assert loop.remove_writer(a.fileno()) is False
    loop.add_writer(a.fileno(), lambda: None)
    assert loop.remove_writer(a.fileno()) is True
    assert loop.remove_writer(a.fileno()) is False


def test_writer_on_full_pipe_fires_after_drain(loop, pipe):
    r, w = pipe
    chunk = b"x" * 65536
    try:
        while True:
            os.write(w, chunk)
    except BlockingIOError:
        pass
    got = []
    loop.add_writer(w, got.append, "writable")
    try:
        run_for(loop, 0.03)
        assert got == []  # still full
        while True:  # drain completely
            try:
                if not os.read(r, 1 << 20):
                    break
            except BlockingIOError:
                break
        run_until(loop, lambda: got)
    finally:
        assert loop.remove_writer(w) is True
    assert got[0] == "writable"


def test_reader_and_writer_on_same_fd(loop, sockpair):
    a, b = sockpair
    reads, writes = [], []
    loop.add_reader(a.fileno(), lambda: reads.append(a.recv(10)))
    loop.add_writer(a.fileno(), writes.append, 1)
    b.send(b"r")
    run_until(loop, lambda: reads and writes)
    # removing the reader keeps the writer
    assert loop.remove_reader(a.fileno()) is True
    n = len(writes)
    run_until(loop, lambda: len(writes) >= n + 3)
    assert loop.remove_writer(a.fileno()) is True
    assert loop.remove_reader(a.fileno()) is False
    n = len(writes)
    run_for(loop, 0.02)
    assert len(writes) == n
    assert reads == [b"r"]


def test_writer_with_fileno_object(loop, sockpair):
    a, _ = sockpair
    got = []
    obj = FileLike(a.fileno())
    loop.add_writer(obj, got.append, 1)
    try:
        run_until(loop, lambda: got)
    finally:
        assert loop.remove_writer(obj) is True


# ----------------------------------------------------------- bad input

class Indexable:
    """Has __index__ but no fileno(): not a file object for selectors."""

    def __index__(self):
        return 0


class FilenoRaises:
    def __init__(self, exc):
        self._exc = exc

    def fileno(self):
        raise self._exc


def _closed_socket():
    s = socket.socket()
    s.close()
    return s


def _closed_file():
    f = open(os.devnull)
    f.close()
    return f


BAD_FILEOBJS = [
    pytest.param(Indexable(), id="index-only"),
    pytest.param(FilenoRaises(TypeError("t")), id="fileno-TypeError"),
    pytest.param(FilenoRaises(ValueError("v")), id="fileno-ValueError"),
    pytest.param(_closed_socket(), id="closed-socket"),
    pytest.param(_closed_file(), id="closed-file"),
    pytest.param("abc", id="str"),
    pytest.param(1.5, id="float"),
    pytest.param(None, id="None"),
    pytest.param(object(), id="object"),
    pytest.param(-1, id="negative"),
    pytest.param(FileLike("x"), id="fileno-str"),
    pytest.param(FileLike(-5), id="fileno-negative"),
]


@pytest.mark.parametrize("bad", BAD_FILEOBJS)
@pytest.mark.parametrize("method", ["add_reader", "add_writer",
                                    "remove_reader", "remove_writer"])
def test_bad_fileobj(loop, method, bad):
    args = (bad, lambda: None) if method.startswith("add") else (bad,)
    # stdlib (selectors._fileobj_to_fd semantics): ValueError for all of
    # these, a TypeError is never raised.
    with pytest.raises(ValueError):
        getattr(loop, method)(*args)


@pytest.mark.parametrize("fd", [2 ** 31, 2 ** 40])
def test_fd_beyond_c_int(loop, fd):
    # stdlib: the selector cannot take it (OverflowError); nothing was
    # registered, so remove_* return False.
    with pytest.raises(OverflowError):
        loop.add_reader(fd, lambda: None)
    with pytest.raises(OverflowError):
        loop.add_writer(fd, lambda: None)
    assert loop.remove_reader(fd) is False
    assert loop.remove_writer(fd) is False


def test_regular_file_is_rejected(loop):
    with tempfile.TemporaryFile() as f:
        with pytest.raises(OSError) as ei:
            loop.add_reader(f.fileno(), lambda: None)
        assert ei.value.errno == errno.EPERM
        assert loop.remove_reader(f.fileno()) is False


def test_many_readers(loop):
    pairs = [socket.socketpair() for _ in range(100)]
    got = set()
    try:
        for i, (a, b) in enumerate(pairs):
            a.setblocking(False)
            loop.add_reader(a.fileno(), lambda i=i, a=a: (
                got.add(i), a.recv(10)))
        for _, b in pairs:
            b.send(b"x")
        run_until(loop, lambda: len(got) == 100)
    finally:
        for a, b in pairs:
            loop.remove_reader(a.fileno())
            a.close()
            b.close()
    assert got == set(range(100))


def test_reader_rearmed_from_its_callback(loop, sockpair):
    a, b = sockpair
    got = []

    def on_read():
        got.append(a.recv(10))
        loop.remove_reader(a.fileno())
        if len(got) < 3:
            loop.add_reader(a.fileno(), on_read)
            b.send(b"again")

    loop.add_reader(a.fileno(), on_read)
    b.send(b"first")
    run_until(loop, lambda: len(got) == 3)
    assert got == [b"first", b"again", b"again"]
    assert loop.remove_reader(a.fileno()) is False


def test_reader_on_listening_socket(loop):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.setblocking(False)
    accepted = []

    def on_accept():
        conn, _ = srv.accept()
        accepted.append(conn)

    loop.add_reader(srv.fileno(), on_accept)
    cli = socket.create_connection(srv.getsockname())
    try:
        run_until(loop, lambda: accepted)
    finally:
        loop.remove_reader(srv.fileno())
        for s in accepted + [cli, srv]:
            s.close()
    assert len(accepted) == 1


def test_stop_before_run_forever_polls_io_once(loop, sockpair):
    # Documented (loop.stop): "If stop() is called before run_forever() is
    # called, the loop will poll the I/O selector once with a timeout of
    # zero, run all callbacks scheduled in response to I/O events (and
    # those that were already scheduled), and then exit." Each such run,
    # not just the first.
    a, b = sockpair
    got = []
    loop.add_reader(a.fileno(), lambda: got.append(a.recv(10)))
    loop.add_writer(b.fileno(), got.append, "writable")
    try:
        for i in range(3):
            got.clear()
            loop.call_soon(got.append, "soon")
            b.send(b"pending%d" % i)
            loop.stop()
            loop.run_forever()
            assert sorted(map(str, got)) == sorted(
                [str(b"pending%d" % i), "writable", "soon"]), f"run {i}"
    finally:
        loop.remove_reader(a.fileno())
        loop.remove_writer(b.fileno())


def test_run_briefly_runs_ready_io_callbacks(loop, sockpair):
    # call_soon(stop) + run_forever(): the iteration that runs stop() also
    # polls I/O (timeout 0) first, so ready descriptors are served.
    a, b = sockpair
    writes = []
    loop.add_writer(a.fileno(), writes.append, 1)
    try:
        for i in range(3):
            run_briefly(loop)
            assert len(writes) == i + 1
    finally:
        loop.remove_writer(a.fileno())


def test_io_not_starved_by_busy_coroutine(loop, sockpair):
    # Every loop iteration polls I/O (timeout 0 when callbacks are ready),
    # so a coroutine spinning on sleep(0) does not starve a ready reader.
    a, b = sockpair
    got = []
    loop.add_reader(a.fileno(), lambda: got.append(a.recv(10)))
    b.send(b"ready")

    async def spin():
        for i in range(1000):
            if got:
                return i
            await asyncio.sleep(0)
        return None

    try:
        spins = run(loop, spin())
    finally:
        loop.remove_reader(a.fileno())
    assert spins is not None, "reader never ran while a task spun"
    assert spins <= 3  # stdlib: 1


def test_io_callbacks_before_due_timers_in_one_iteration(loop, sockpair):
    # stdlib's iteration: poll I/O, queue the I/O callbacks, then queue the
    # timers that are due, then run everything queued in that order. So
    # with a ready descriptor and an already-due timer both pending, the
    # I/O callback runs first. (Deterministic in stdlib, though not a
    # documented guarantee.)
    a, b = sockpair
    out = []

    def on_read():
        out.append("io")
        a.recv(10)
        loop.remove_reader(a.fileno())

    def setup():
        loop.add_reader(a.fileno(), on_read)
        loop.call_at(loop.time() - 1, out.append, "timer")
        loop.call_soon(out.append, "soon")

    b.send(b"x")
    loop.call_soon(setup)
    loop.run_until_complete(asyncio.sleep(0.02))
    assert out == ["soon", "io", "timer"]
