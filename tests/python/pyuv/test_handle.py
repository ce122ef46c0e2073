"""pyuv.Handle: close/active/closed/ref/loop, subclassing (``__dict__``,
weakrefs) for every handle class, lifetime of started and dropped handles,
and garbage collection of reference cycles (pyuv 1.4 src/handle.c)."""

import gc
import os
import socket
import weakref

import pytest

import pyuv


@pytest.fixture
def fds():
    """Descriptors some handle constructors need: a socketpair and a pty."""
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    master, slave = os.openpty()
    yield {"sock": a, "wake": b, "tty": slave}
    a.close()
    b.close()
    os.close(master)
    os.close(slave)


def _makers(fds):
    return {
        "Timer": lambda cls, lp: cls(lp),
        "Prepare": lambda cls, lp: cls(lp),
        "Check": lambda cls, lp: cls(lp),
        "Idle": lambda cls, lp: cls(lp),
        "Async": lambda cls, lp: cls(lp, lambda h: None),
        "Signal": lambda cls, lp: cls(lp),
        "Poll": lambda cls, lp: cls(lp, fds["sock"].fileno()),
        "TCP": lambda cls, lp: cls(lp),
        "Pipe": lambda cls, lp: cls(lp),
        "TTY": lambda cls, lp: cls(lp, fds["tty"], False),
        "UDP": lambda cls, lp: cls(lp),
        "FSEvent": lambda cls, lp: cls(lp),
        "FSPoll": lambda cls, lp: cls(lp),
        "SignalChecker": lambda cls, lp: cls(lp, fds["wake"].fileno()),
    }


CLASSES = {
    "Timer": pyuv.Timer, "Prepare": pyuv.Prepare, "Check": pyuv.Check,
    "Idle": pyuv.Idle, "Async": pyuv.Async, "Signal": pyuv.Signal,
    "Poll": pyuv.Poll, "TCP": pyuv.TCP, "Pipe": pyuv.Pipe, "TTY": pyuv.TTY,
    "UDP": pyuv.UDP, "FSEvent": pyuv.fs.FSEvent, "FSPoll": pyuv.fs.FSPoll,
    "SignalChecker": pyuv.util.SignalChecker,
}
STREAMS = {"TCP", "Pipe", "TTY"}


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_handle_subclass_dict_weakref_close(name, lp, run, fds):
    base = CLASSES[name]
    make = _makers(fds)[name]

    class Sub(base):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            self.tag = "sub-" + name

    h = make(Sub, lp)
    assert isinstance(h, base) and isinstance(h, pyuv.Handle)
    assert isinstance(h, pyuv.Stream) == (name in STREAMS)
    assert h.tag == "sub-" + name
    h.extra = [1, 2]
    assert h.__dict__["extra"] == [1, 2]
    h.__dict__ = {"replaced": True}
    assert h.replaced is True and not hasattr(h, "tag")
    with pytest.raises(TypeError):
        h.__dict__ = 5
    w = weakref.ref(h)
    assert w() is h
    assert h.loop is lp
    # uv_async_init starts the handle; every other init leaves it inactive
    assert h.active is (name == "Async")
    assert h.closed is False
    assert h.ref is True
    closed = []
    assert h.close(lambda x: closed.append((x, x.loop))) is None
    assert h.closed is True
    with pytest.raises(pyuv.error.HandleClosedError):
        h.close()
    run(lp)
    assert closed == [(h, None)]  # loop is None once the close callback runs
    assert h.loop is None
    del h, closed
    gc.collect()
    assert w() is None


def test_loop_subclass_dict_weakref():
    class L(pyuv.Loop):
        pass
    lp = L()
    lp.anything = 3
    assert lp.__dict__["anything"] == 3
    w = weakref.ref(lp)
    del lp
    gc.collect()
    assert w() is None


def test_handle_base_classes_are_exported():
    assert issubclass(pyuv.Stream, pyuv.Handle)
    for cls in (pyuv.TCP, pyuv.Pipe, pyuv.TTY):
        assert issubclass(cls, pyuv.Stream)
    for cls in (pyuv.Timer, pyuv.UDP, pyuv.Process, pyuv.Async, pyuv.Poll,
                pyuv.fs.FSEvent, pyuv.fs.FSPoll, pyuv.util.SignalChecker):
        assert issubclass(cls, pyuv.Handle) and not issubclass(cls, pyuv.Stream)


def test_handle_subclass_without_init_call_raises(lp):
    class Lazy(pyuv.Timer):
        def __init__(self, loop):
            pass  # forgot super().__init__
    h = Lazy(lp)
    with pytest.raises(RuntimeError, match="forgot to call __init__"):
        h.start(lambda t: None, 0.1, 0)
    with pytest.raises(RuntimeError):
        h.close()
    assert h not in lp.handles
    del h
    gc.collect()  # dropped uninitialised: closed by Drop, nothing to report
    assert lp.run() is False


def test_handle_active_follows_start_stop(lp, run):
    t = pyuv.Timer(lp)
    assert t.active is False
    t.start(lambda h: None, 10, 0)
    assert t.active is True
    t.stop()
    assert t.active is False
    t.close()
    run(lp)


def test_handle_ref_false_lets_loop_exit(lp, run):
    fired = []
    t = pyuv.Timer(lp)
    t.start(lambda h: fired.append(1), 0.5, 0)
    t.ref = False
    assert t.ref is False
    assert run(lp) is False  # an unref'd handle does not keep the loop alive
    assert fired == []
    t.ref = True
    assert t.ref is True
    run(lp)
    assert fired == [1]
    t.close()
    run(lp)


def test_handle_close_without_callback(lp, run):
    i = pyuv.Idle(lp)
    i.start(lambda h: None)
    i.close()
    assert i.closed is True
    assert run(lp) is False
    assert i.loop is None


def test_handle_close_callback_must_be_callable(lp):
    t = pyuv.Timer(lp)
    with pytest.raises(TypeError):
        t.close(3)
    assert t.closed is False
    t.close()


def test_handle_close_callback_exception_to_excepthook(lp, run):
    seen = []
    lp.excepthook = lambda typ, val, tb: seen.append(typ)

    def boom(h):
        raise ArithmeticError
    pyuv.Timer(lp).close(boom)
    run(lp)
    assert seen == [ArithmeticError]


def test_handle_started_keeps_itself_alive(lp, run):
    fired = []
    t = pyuv.Timer(lp)
    t.start(lambda h: fired.append(h.repeat), 0.01, 0)
    w = weakref.ref(t)
    del t
    gc.collect()
    assert w() is not None  # libuv still holds it active
    run(lp)
    assert fired == [0.0]
    gc.collect()
    assert w() is None  # a fired one-shot timer is no longer kept


def test_handle_reading_stream_keeps_itself_alive(lp, run):
    a, b = socket.socketpair()
    got = []
    p = pyuv.Pipe(lp)
    p.open(os.dup(a.fileno()))
    a.close()

    def on_read(h, data, error):
        got.append((data, error))
        h.close()
    p.start_read(on_read)
    w = weakref.ref(p)
    del p
    gc.collect()
    assert w() is not None
    b.send(b"kept")
    run(lp)
    b.close()
    assert got == [(b"kept", None)]
    gc.collect()
    assert w() is None


def test_handle_dropped_unstarted_is_closed(lp, run):
    refs = []
    for cls in (pyuv.Timer, pyuv.Idle, pyuv.Check, pyuv.Prepare, pyuv.TCP,
                pyuv.Pipe, pyuv.UDP):
        refs.append(weakref.ref(cls(lp)))
    gc.collect()
    assert run(lp) is False
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)
    assert lp.handles == []


def test_handle_dropped_started_and_closed_is_freed(lp, run):
    i = pyuv.Idle(lp)
    i.start(lambda h: h.close())
    w = weakref.ref(i)
    del i
    run(lp)
    gc.collect()
    assert w() is None


class Foo:
    pass


def test_handle_reference_cycle_collected(lp, run):
    t = pyuv.Timer(lp)
    foo = Foo()
    foo.timer = t
    t.foo = foo
    w = weakref.ref(t)
    wf = weakref.ref(foo)
    del t, foo
    gc.collect()
    run(lp)
    gc.collect()
    assert w() is None and wf() is None


def test_handle_cycle_through_callback_collected(lp, run):
    # The handle's callback refers to the handle itself (bound method of a
    # subclass): a cycle only the GC can break once the handle is closed.
    class T(pyuv.Timer):
        def on_timer(self, h):
            self.fired = True
            self.close()

    t = T(lp)
    t.start(t.on_timer, 0.001, 0)
    w = weakref.ref(t)
    del t
    run(lp)
    gc.collect()
    assert w() is None


def test_loop_collected_after_handles(run):
    lp = pyuv.Loop()
    t = pyuv.Timer(lp)
    t.start(lambda h: h.close(), 0.001, 0)
    run(lp)
    wl, wt = weakref.ref(lp), weakref.ref(t)
    del lp, t
    gc.collect()
    assert wl() is None and wt() is None


def test_handle_properties_readable_after_close(lp, run):
    t, u, tm = pyuv.TCP(lp), pyuv.UDP(lp), pyuv.Timer(lp)
    for h in (t, u, tm):
        h.close()
    run(lp)
    assert t.active is False and t.closed is True
    assert isinstance(t.ref, bool)
    assert t.write_queue_size == 0
    assert t.readable is False and t.writable is False
    assert tm.repeat == 0.0
    assert u.send_queue_size == 0
