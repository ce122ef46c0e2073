//! `LoopCore`: the Rust half of `rsuv.Loop` — ready queue, timers, the run loop with the GIL
//! released only around the wait in the kernel, wake-ups from other threads, descriptors,
//! signals' wake-up descriptor, DNS.

use std::collections::VecDeque;
use std::ffi::CStr;
use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::ThreadId;

use pyo3::PyTraverseError;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCapsule, PyDict, PyTuple};

use super::dns;
use super::freelist::FreeList;
use super::gil::GilCell;
use super::handle::{Handle, TimerHandle, check_callable};
use super::readers::{self, Io, Ready, Waiter, fileobj_to_fd};
use super::sockops;
use super::timers::Timers;
use crate::rt::LocalSet;
use crate::uv::{self, Async, AsyncSender, FdWatch, Loop, PollEvents};

#[path = "loop_iteration.rs"]
mod iteration;

/// Everything of one loop that libuv callbacks reach too (through a `Weak`).
pub(crate) struct Inner {
    lp: GilCell<Option<Loop>>,
    /// Ref'd, so that libuv's poll timeout is that of its timers (not 0 for "nothing to do").
    waker: GilCell<Option<Async>>,
    sender: GilCell<Option<AsyncSender>>,
    ready: GilCell<VecDeque<Py<Handle>>>,
    timers: GilCell<Timers>,
    /// Handles that ran, emptied for reuse (`freelist.rs`).
    free: FreeList<Handle>,
    free_timers: FreeList<TimerHandle>,
    pub(crate) io: Io,
    /// Python's signal wake-up descriptor (`signal.set_wakeup_fd`) writes to `.1`; `.0` is
    /// watched, and the signal numbers read from it wait in `signals`.
    signal_pipe: GilCell<Option<(UnixStream, UnixStream)>>,
    signals: GilCell<Vec<u8>>,
    stopping: AtomicBool,
    running: AtomicBool,
    closed: AtomicBool,
    debug: AtomicBool,
    thread: GilCell<Option<ThreadId>>,
    /// `slow_callback_duration` in seconds, as f64 bits.
    slow_callback: AtomicU64,
    /// Busy iterations since libuv was last polled, and when that was (see `run_once`).
    busy_since_poll: AtomicU64,
    last_poll: AtomicU64,
    /// Iterations run, and how many of them released the GIL to wait in the kernel.
    iterations: AtomicU64,
    waits: AtomicU64,
    /// A `KeyboardInterrupt`/`SystemExit` raised by Python code that libuv called (a
    /// protocol callback): it cannot unwind through libuv, so it waits here and comes out
    /// of the run once the poll returns.
    fatal: GilCell<Option<PyErr>>,
    /// `{"loop": self}`, the keyword arguments of every `create_future()`.
    future_kwargs: GilCell<Option<Py<PyDict>>>,
    /// Rust tasks on this loop (`rsuv::python::EventLoop::spawn_local`), made on first use.
    pub(crate) rt: GilCell<Option<LocalSet>>,
}

/// While callbacks are ready, libuv (I/O, its timers, wake-ups from other threads) is polled
/// only every `BUSY_POLL_EVERY` iterations or `BUSY_POLL_NS` nanoseconds, whichever comes
/// first: a poll is a system call, which asyncio makes on every iteration. Callbacks that
/// keep rescheduling themselves still let I/O in within that bound.
const BUSY_POLL_EVERY: u64 = 1024;
const BUSY_POLL_NS: u64 = 200_000;

/// The `Rc` that the Python object holds.
struct Shared(Rc<Inner>);

// SAFETY: `Inner` is reached only with the GIL held: from methods of the Python object (which
// hold it) and from libuv callbacks, which run inside `Loop::run` called by `run_once` with
// the GIL held. The GIL orders the accesses of different threads; the `Rc` count is touched
// only then too (clone in `new`, drop when the Python object is freed, which holds the GIL).
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

fn closed_error() -> PyErr {
    PyRuntimeError::new_err("Event loop is closed")
}

fn uv_error(e: uv::Error) -> PyErr {
    readers::os_error(e)
}

impl Inner {
    fn new(lp: Option<Loop>) -> PyResult<Rc<Inner>> {
        let lp = match lp {
            Some(lp) => lp,
            None => Loop::new().map_err(uv_error)?,
        };
        let waker = Async::new(&lp, |_| {}).map_err(uv_error)?;
        let sender = waker.sender();
        let (r, w) = UnixStream::pair()?;
        r.set_nonblocking(true)?;
        w.set_nonblocking(true)?;
        let inner = Rc::new(Inner {
            lp: GilCell::new(None),
            waker: GilCell::new(Some(waker)),
            sender: GilCell::new(Some(sender)),
            ready: GilCell::new(VecDeque::new()),
            timers: GilCell::new(Timers::new()),
            free: FreeList::new(),
            free_timers: FreeList::new(),
            io: Io::new(),
            signal_pipe: GilCell::new(None),
            signals: GilCell::new(Vec::new()),
            stopping: AtomicBool::new(false),
            running: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            debug: AtomicBool::new(false),
            thread: GilCell::new(None),
            slow_callback: AtomicU64::new(0.1f64.to_bits()),
            busy_since_poll: AtomicU64::new(0),
            last_poll: AtomicU64::new(0),
            iterations: AtomicU64::new(0),
            waits: AtomicU64::new(0),
            fatal: GilCell::new(None),
            future_kwargs: GilCell::new(None),
            rt: GilCell::new(None),
        });
        let weak = Rc::downgrade(&inner);
        let watch =
            FdWatch::new(&lp, move |fd, events| on_io(&weak, fd, events)).map_err(uv_error)?;
        watch
            .set(r.as_raw_fd(), PollEvents::READABLE)
            .map_err(uv_error)?;
        Python::attach(|py| {
            *inner.io.watch.borrow_mut(py) = Some(watch);
            *inner.signal_pipe.borrow_mut(py) = Some((r, w));
            *inner.lp.borrow_mut(py) = Some(lp);
        });
        Ok(inner)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    pub(crate) fn check_open(&self) -> PyResult<()> {
        if self.is_closed() {
            Err(closed_error())
        } else {
            Ok(())
        }
    }

    fn debug(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    /// asyncio's `_check_thread` (debug mode): a running loop is touched only by its thread.
    fn check_thread(&self, py: Python<'_>) -> PyResult<()> {
        match *self.thread.borrow(py) {
            Some(t) if t != std::thread::current().id() => Err(PyRuntimeError::new_err(
                "Non-thread-safe operation invoked on an event loop other than the current one",
            )),
            _ => Ok(()),
        }
    }

    /// What every scheduling method checks: the loop open, (debug mode) the caller on the
    /// loop's thread, a callable. Whether the loop is in debug mode.
    fn check_schedule(
        &self,
        py: Python<'_>,
        callback: &Bound<'_, PyAny>,
        method: &str,
        any_thread: bool,
    ) -> PyResult<bool> {
        self.check_open()?;
        let debug = self.debug();
        if debug && !any_thread {
            self.check_thread(py)?;
        }
        check_callable(callback, method, debug)?;
        Ok(debug)
    }

    fn signal_fd(&self, py: Python<'_>) -> Option<RawFd> {
        self.signal_pipe
            .borrow(py)
            .as_ref()
            .map(|(r, _)| r.as_raw_fd())
    }

    /// Keeps an exception that must stop the loop (the first one), for `poll_uv` to raise.
    pub(crate) fn keep_fatal(&self, py: Python<'_>, e: PyErr) {
        let mut slot = self.fatal.borrow_mut(py);
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    /// A handle of the libuv loop, for transports made on it.
    pub(crate) fn loop_handle(&self, py: Python<'_>) -> PyResult<uv::LoopHandle> {
        self.check_open()?;
        let lp = self.lp.borrow(py);
        Ok(lp.as_ref().ok_or_else(closed_error)?.handle())
    }

    /// The loop's set of Rust tasks, made on first use.
    pub(crate) fn local_set<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&LocalSet) -> R,
    ) -> PyResult<R> {
        self.check_open()?;
        if self.rt.borrow(py).is_none() {
            let lp = self.lp.borrow(py);
            let lp = lp.as_ref().ok_or_else(closed_error)?;
            let set = LocalSet::new(lp).map_err(uv_error)?;
            *self.rt.borrow_mut(py) = Some(set);
        }
        let set = self.rt.borrow(py);
        Ok(f(set.as_ref().expect("made above")))
    }

    fn on_io(&self, py: Python<'_>, fd: RawFd, events: PollEvents) {
        if Some(fd) == self.signal_fd(py) {
            return self.drain_signals(py);
        }
        let mut hs = Vec::with_capacity(2);
        self.io.ready(py, fd, events, &mut hs);
        for r in hs {
            match r {
                Ready::Run(h) if h.bind(py).get().is_cancelled() => {}
                Ready::Run(h) => self.push_ready(py, h),
                Ready::Settle(fut, result) => self.settle(py, fut.bind(py), result),
            }
        }
    }

    /// Settles a socket call's future (done ones were dropped before). A failure to settle
    /// is kept for the run to raise: nothing else can be told.
    fn settle(&self, py: Python<'_>, fut: &Bound<'_, PyAny>, result: PyResult<Py<PyAny>>) {
        let r = match result {
            Ok(v) => fut.call_method1(pyo3::intern!(py, "set_result"), (v,)),
            Err(e) => fut.call_method1(pyo3::intern!(py, "set_exception"), (e.into_value(py),)),
        };
        if let Err(e) = r {
            self.keep_fatal(py, e);
        }
    }

    fn drain_signals(&self, py: Python<'_>) {
        let mut buf = [0u8; 256];
        loop {
            let n = match self.signal_pipe.borrow(py).as_ref() {
                Some((r, _)) => (&*r).read(&mut buf),
                None => return,
            };
            match n {
                Ok(n) if n > 0 => self.signals.borrow_mut(py).extend_from_slice(&buf[..n]),
                _ => return,
            }
        }
    }

    /// `close()`: drops every handle, timer and registration, then closes libuv's loop.
    fn close(&self, py: Python<'_>) {
        if self.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        let ready = std::mem::take(&mut *self.ready.borrow_mut(py));
        let free = (self.free.take_all(py), self.free_timers.take_all(py));
        let mut dead = Vec::new();
        self.timers.borrow_mut(py).clear(py, &mut dead);
        let io = self.io.clear(py);
        let watch = self.io.watch.borrow_mut(py).take();
        if let Some(w) = &watch {
            w.close();
        }
        let waker = self.waker.borrow_mut(py).take();
        let sender = self.sender.borrow_mut(py).take();
        let pipe = self.signal_pipe.borrow_mut(py).take();
        let lp = self.lp.borrow_mut(py).take();
        let kwargs = self.future_kwargs.borrow_mut(py).take();
        let rt = self.rt.borrow_mut(py).take();
        drop(rt); // cancels the Rust tasks (their drops may touch the loop: outside borrows)
        drop((ready, free, dead, io, watch, waker, sender, kwargs));
        if let Some(lp) = lp {
            // Runs the close callbacks and lets pending DNS requests finish (their callbacks
            // see the loop closed and settle nothing).
            let _ = lp.close();
        }
        drop(pipe);
    }
}

fn on_io(weak: &Weak<Inner>, fd: RawFd, events: PollEvents) {
    if let Some(inner) = weak.upgrade() {
        Python::attach(|py| inner.on_io(py, fd, events));
    }
}

/// `*args` as a handle keeps them: `None` for none.
fn non_empty(args: &Bound<'_, PyTuple>) -> Option<Py<PyTuple>> {
    (!args.is_empty()).then(|| args.clone().unbind())
}

/// `loop.time()`: `CLOCK_MONOTONIC` in seconds, the clock of `time.monotonic()`.
pub(crate) fn now() -> f64 {
    uv::hrtime() as f64 * 1e-9
}

/// The Rust half of `rsuv.Loop`; `python/rsuv/_loop.py` subclasses it together with
/// `asyncio.AbstractEventLoop`.
#[pyclass(module = "rsuv._rsuv", subclass, frozen, weakref, dict)]
pub struct LoopCore {
    shared: Shared,
}

/// A libuv loop made in Rust, on its way into a new `rsuv.Loop` (taken once).
#[pyclass(module = "rsuv._rsuv", unsendable)]
pub struct LoopSeed(Option<Loop>);

impl LoopSeed {
    pub(crate) fn new(lp: Loop) -> Self {
        LoopSeed(Some(lp))
    }

    fn take(&mut self) -> PyResult<Loop> {
        self.0.take().ok_or_else(|| {
            PyRuntimeError::new_err("this libuv loop is in use by another rsuv.Loop")
        })
    }
}

/// The context of the capsules `libuv_loop()` makes: marks a loop owned by an `rsuv.Loop`.
static OURS: &CStr = c"rsuv";

/// A `Loop` on the `uv_loop_t*` of a `PyCapsule` named `"uv_loop_t"` (a host program's
/// loop): refused for an rsuv loop's own capsule, whose owner would close it underneath.
fn foreign_loop(capsule: &Bound<'_, PyAny>) -> PyResult<Loop> {
    let wrong = || PyTypeError::new_err("libuv_loop must be a PyCapsule named 'uv_loop_t'");
    let cap = capsule.cast::<PyCapsule>().map_err(|_| wrong())?;
    let ptr = cap
        .pointer_checked(Some(c"uv_loop_t"))
        .map_err(|_| wrong())?;
    if cap.context()? == OURS.as_ptr().cast_mut().cast() {
        return Err(PyValueError::new_err(
            "this is the libuv loop of an rsuv.Loop: use that loop itself",
        ));
    }
    // SAFETY: the capsule's maker vouches for the pointer (a capsule is C's contract): a live
    // uv_loop_t of the same libuv (see `rsuv.libuv_version()`), used on this thread, not
    // running while this loop runs or closes, valid until after it is closed. Documented on
    // `rsuv.Loop`.
    unsafe { Loop::from_raw(ptr.as_ptr()) }.map_err(uv_error)
}

impl LoopCore {
    pub(crate) fn inner(&self) -> &Inner {
        &self.shared.0
    }

    /// `{"loop": self}`, made once: the keyword arguments of every future of this loop.
    pub(crate) fn future_kwargs<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyDict>> {
        let py = slf.py();
        let inner = slf.get().inner();
        let cached = inner
            .future_kwargs
            .borrow(py)
            .as_ref()
            .map(|k| k.clone_ref(py));
        if let Some(k) = cached {
            return Ok(k.into_bound(py));
        }
        let k = PyDict::new(py);
        k.set_item("loop", slf)?;
        *inner.future_kwargs.borrow_mut(py) = Some(k.clone().unbind());
        Ok(k)
    }

    /// A handle for `callback(*args)` after `check_schedule`: a recycled one when there is
    /// one (never in debug mode, whose handles carry a source traceback).
    fn new_handle(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        args: Option<Py<PyTuple>>,
        context: Option<Py<PyAny>>,
        method: &str,
        any_thread: bool,
    ) -> PyResult<Py<Handle>> {
        let py = slf.py();
        let inner = slf.get().inner();
        let debug = inner.check_schedule(py, callback, method, any_thread)?;
        let (cb, lp) = (callback.clone().unbind(), slf.clone().into_any().unbind());
        if !debug && let Some(h) = inner.free.pop(py) {
            drop(h.get().refill(py, cb, args, lp, context)?);
            return Ok(h);
        }
        Py::new(py, Handle::create(py, cb, args, lp, context, debug)?)
    }

    pub(crate) fn schedule_at(
        slf: &Bound<'_, Self>,
        when: f64,
        callback: &Bound<'_, PyAny>,
        args: Option<Py<PyTuple>>,
        context: Option<Py<PyAny>>,
        method: &str,
    ) -> PyResult<Py<TimerHandle>> {
        let py = slf.py();
        let inner = slf.get().inner();
        let debug = inner.check_schedule(py, callback, method, false)?;
        let (cb, lp) = (callback.clone().unbind(), slf.clone().into_any().unbind());
        let t = match inner.free_timers.pop(py).filter(|_| !debug) {
            Some(t) => {
                t.get().set_when(when);
                let b = t.bind(py);
                drop(b.as_super().get().refill(py, cb, args, lp, context)?);
                t
            }
            None => {
                let h = Handle::create(py, cb, args, lp, context, debug)?;
                let counter = inner.timers.borrow(py).counter();
                Py::new(py, TimerHandle::create(when, h, Some(counter)))?
            }
        };
        inner.timers.borrow_mut(py).push(t.clone_ref(py), py);
        Ok(t)
    }

    pub(crate) fn soon(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        args: Option<Py<PyTuple>>,
        context: Option<Py<PyAny>>,
        method: &str,
        threadsafe: bool,
    ) -> PyResult<Py<Handle>> {
        let py = slf.py();
        let h = LoopCore::new_handle(slf, callback, args, context, method, threadsafe)?;
        slf.get().inner().push_ready(py, h.clone_ref(py));
        Ok(h)
    }

    /// `call_soon_threadsafe`: `soon`, then a wake-up of the loop from whatever thread.
    pub(crate) fn soon_threadsafe(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        args: Option<Py<PyTuple>>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Py<Handle>> {
        let m = "call_soon_threadsafe";
        let h = LoopCore::soon(slf, callback, args, context, m, true)?;
        if let Some(s) = slf.get().inner().sender.borrow(slf.py()).as_ref() {
            let _ = s.send();
        }
        Ok(h)
    }

    fn add_io(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        writer: bool,
    ) -> PyResult<Py<Handle>> {
        let py = slf.py();
        slf.get().inner().check_open()?;
        let fd = readers::registrable(fileobj_to_fd(fd)?)?;
        let method = if writer { "add_writer" } else { "add_reader" };
        // As asyncio: readers and writers are not checked for the thread.
        let h = LoopCore::new_handle(slf, callback, non_empty(args), None, method, true)?;
        slf.get()
            .inner()
            .io
            .add(py, fd, Waiter::Handle(h.clone_ref(py)), writer)?;
        Ok(h)
    }

    fn remove_io(slf: &Bound<'_, Self>, fd: &Bound<'_, PyAny>, writer: bool) -> PyResult<bool> {
        let inner = slf.get().inner();
        let Ok(fd) = RawFd::try_from(fileobj_to_fd(fd)?) else {
            return Ok(false); // beyond a C int: never registered
        };
        if inner.is_closed() {
            return Ok(false);
        }
        inner.io.remove(slf.py(), fd, writer)
    }
}

#[pymethods]
impl LoopCore {
    /// A loop on a new libuv loop, or on the one a `LoopSeed` carries (made in Rust by
    /// `rsuv::python::EventLoop::with_loop`).
    #[new]
    #[pyo3(signature = (seed=None, *_args, libuv_loop=None, **_kwargs))]
    fn py_new(
        seed: Option<&Bound<'_, PyAny>>,
        _args: &Bound<'_, PyTuple>,
        libuv_loop: Option<&Bound<'_, PyAny>>,
        _kwargs: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let lp = match (seed, libuv_loop) {
            (Some(s), _) if !s.is_none() => Some(s.cast::<LoopSeed>()?.borrow_mut().take()?),
            (_, Some(c)) if !c.is_none() => Some(foreign_loop(c)?),
            _ => None,
        };
        Ok(LoopCore {
            shared: Shared(Inner::new(lp)?),
        })
    }

    #[pyo3(signature = (fd, callback, *args))]
    fn add_reader(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<()> {
        LoopCore::add_io(slf, fd, callback, args, false).map(drop)
    }

    /// `add_reader` returning the handle registered (cancelled when replaced or removed), as
    /// asyncio's `_add_reader`: `sock_*` unregister only what is still theirs.
    #[pyo3(signature = (fd, callback, *args))]
    fn _add_reader(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<Py<Handle>> {
        LoopCore::add_io(slf, fd, callback, args, false)
    }

    /// `add_writer` returning the handle registered (see `_add_reader`).
    #[pyo3(signature = (fd, callback, *args))]
    fn _add_writer(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<Py<Handle>> {
        LoopCore::add_io(slf, fd, callback, args, true)
    }

    #[pyo3(signature = (fd, callback, *args))]
    fn add_writer(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<()> {
        LoopCore::add_io(slf, fd, callback, args, true).map(drop)
    }

    fn remove_reader(slf: &Bound<'_, Self>, fd: &Bound<'_, PyAny>) -> PyResult<bool> {
        LoopCore::remove_io(slf, fd, false)
    }

    fn remove_writer(slf: &Bound<'_, Self>, fd: &Bound<'_, PyAny>) -> PyResult<bool> {
        LoopCore::remove_io(slf, fd, true)
    }

    /// Stops the loop after the current iteration.
    fn stop(&self) {
        self.inner().stopping.store(true, Ordering::Relaxed);
    }

    fn is_running(&self) -> bool {
        self.inner().running.load(Ordering::Relaxed)
    }

    fn is_closed(&self) -> bool {
        self.inner().is_closed()
    }

    fn get_debug(&self) -> bool {
        self.inner().debug()
    }

    fn set_debug(&self, enabled: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner()
            .debug
            .store(enabled.is_truthy()?, Ordering::Relaxed);
        Ok(())
    }

    #[getter]
    fn get_slow_callback_duration(&self) -> f64 {
        f64::from_bits(self.inner().slow_callback.load(Ordering::Relaxed))
    }

    #[setter]
    fn set_slow_callback_duration(&self, v: f64) {
        self.inner()
            .slow_callback
            .store(v.to_bits(), Ordering::Relaxed);
    }

    /// The `uv_loop_t*` as a `PyCapsule` named `"uv_loop_t"`, valid while the loop is open;
    /// check `rsuv.libuv_version()` before using it from C.
    fn libuv_loop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let inner = self.inner();
        inner.check_open()?;
        let raw = inner
            .lp
            .borrow(py)
            .as_ref()
            .ok_or_else(closed_error)?
            .as_raw()
            .map_err(uv_error)?;
        let ptr = std::ptr::NonNull::new(raw).ok_or_else(closed_error)?;
        // SAFETY: `ptr` is the live uv_loop_t of this loop; the capsule only carries it (no
        // destructor), and its documented validity ends with the loop.
        let cap = unsafe { PyCapsule::new_with_pointer(py, ptr, c"uv_loop_t") }?;
        cap.set_context(OURS.as_ptr().cast_mut().cast())?;
        Ok(cap)
    }

    /// Runs iterations until `stop()`; the bookkeeping around it is `Loop.run_forever`.
    fn _run_forever_core(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let inner = slf.get().inner();
        inner.check_open()?;
        if inner.running.swap(true, Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err(
                "This event loop is already running",
            ));
        }
        *inner.thread.borrow_mut(py) = Some(std::thread::current().id());
        // Each run polls I/O at least once, however busy (`stop(); run_forever()` idiom).
        inner
            .busy_since_poll
            .store(BUSY_POLL_EVERY, Ordering::Relaxed);
        let r = loop {
            if let Err(e) = inner.run_once(slf) {
                break Err(e);
            }
            if inner.stopping.load(Ordering::Relaxed) {
                break Ok(());
            }
        };
        inner.stopping.store(false, Ordering::Relaxed);
        inner.running.store(false, Ordering::Relaxed);
        *inner.thread.borrow_mut(py) = None;
        r
    }

    /// The descriptor for `signal.set_wakeup_fd` (the loop reads the signal numbers).
    fn _signal_wakeup_fd(&self, py: Python<'_>) -> PyResult<RawFd> {
        let pipe = self.inner().signal_pipe.borrow(py);
        pipe.as_ref()
            .map(|(_, w)| w.as_raw_fd())
            .ok_or_else(closed_error)
    }

    /// Closes the Rust half: drops what is scheduled and closes libuv's loop.
    fn _close_core(&self, py: Python<'_>) -> PyResult<()> {
        let inner = self.inner();
        if inner.running.load(Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err("Cannot close a running event loop"));
        }
        inner.close(py);
        Ok(())
    }

    /// A new `asyncio.Future` on this loop.
    fn create_future<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        static FUTURE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let future = FUTURE.import(slf.py(), "asyncio", "Future")?;
        future.call((), Some(&LoopCore::future_kwargs(slf)?))
    }

    /// `sock_recv` on a plain socket, tried at once: the bytes, or a future of them.
    fn _sock_recv_native(
        slf: &Bound<'_, Self>,
        sock: &Bound<'_, PyAny>,
        n: i64,
    ) -> PyResult<Py<PyAny>> {
        let n =
            usize::try_from(n).map_err(|_| PyValueError::new_err("negative buffersize in recv"))?;
        sockops::begin(slf, sock, sockops::Call::Recv(n))
    }

    /// `sock_recv_into` on a plain socket: the count received, or a future of it.
    fn _sock_recv_into_native(
        slf: &Bound<'_, Self>,
        sock: &Bound<'_, PyAny>,
        buf: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        sockops::begin(slf, sock, sockops::Call::RecvInto(buf))
    }

    /// `sock_sendall` on a plain socket: `None` once all is sent, or a future of it.
    fn _sock_sendall_native(
        slf: &Bound<'_, Self>,
        sock: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        sockops::begin(slf, sock, sockops::Call::SendAll(data))
    }

    /// Unregisters a pending socket call (`_SockFuture.cancel`; `key` is `fd * 2 + writer`).
    fn _sock_op_cancel(slf: &Bound<'_, Self>, key: i64, fut: &Bound<'_, PyAny>) -> bool {
        let (Ok(fd), writer) = (RawFd::try_from(key >> 1), key & 1 == 1) else {
            return false;
        };
        slf.get().inner().io.cancel_op(slf.py(), fd, writer, fut)
    }

    /// `(iterations, waits)`: iterations run so far, and how many released the GIL to wait
    /// in the kernel (the only place the loop releases and takes it again).
    fn _stats(&self) -> (u64, u64) {
        let inner = self.inner();
        (
            inner.iterations.load(Ordering::Relaxed),
            inner.waits.load(Ordering::Relaxed),
        )
    }

    #[pyo3(signature = (host, port, family, r#type, proto, flags, future))]
    #[allow(clippy::too_many_arguments)]
    fn _getaddrinfo(
        &self,
        py: Python<'_>,
        host: Option<String>,
        port: Option<String>,
        family: i32,
        r#type: i32,
        proto: i32,
        flags: i32,
        future: Py<PyAny>,
    ) -> PyResult<()> {
        let inner = self.inner();
        inner.check_open()?;
        let lp = inner.lp.borrow(py);
        let lp = lp.as_ref().ok_or_else(closed_error)?;
        dns::getaddrinfo(lp, host, port, (family, r#type, proto, flags), future, py)
    }

    fn _getnameinfo(
        &self,
        py: Python<'_>,
        addr: (String, u16, u32, u32),
        flags: i32,
        future: Py<PyAny>,
    ) -> PyResult<()> {
        let inner = self.inner();
        inner.check_open()?;
        let lp = inner.lp.borrow(py);
        let lp = lp.as_ref().ok_or_else(closed_error)?;
        dns::getnameinfo(lp, addr, flags, future, py)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let inner = self.inner();
        if let Some(ready) = inner.ready.peek() {
            for h in ready.iter() {
                visit.call(h)?;
            }
        }
        if let Some(t) = inner.timers.peek() {
            t.traverse(&visit)?;
        }
        inner.free.traverse(&visit)?;
        inner.free_timers.traverse(&visit)?;
        if let Some(k) = inner.future_kwargs.peek() {
            visit.call(&*k)?;
        }
        inner.io.traverse(&visit)
    }
}
