//! `add_reader`/`add_writer`: descriptors watched by the loop's `FdWatch` (which survives a
//! descriptor closed under it), with the reader and writer handles of each, and the
//! descriptor of the signal wake-up.

use std::collections::HashMap;
use std::os::fd::RawFd;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyWeakrefMethods, PyWeakrefReference};

use super::gil::GilCell;
use super::handle::Handle;
use super::sockops::{Attempt, SockOp};
use crate::uv::{Error as UvError, FdWatch, PollEvents};

/// What waits on a descriptor's readiness: a callback's handle (`add_reader`), or a socket
/// call that the loop tries again itself (`sockops.rs`).
pub(crate) enum Waiter {
    Handle(Py<Handle>),
    Op(Box<SockOp>),
}

/// The watched descriptors of one loop.
///
/// A descriptor that only socket calls wait on is watched edge-triggered, and stays watched
/// between calls (`add_op`): a receive loop then makes no `epoll_ctl` per wait, where
/// asyncio makes two. `sticky` remembers which socket object it was registered for, so that
/// another socket that got the same number after a close is registered anew. Once a
/// callback's handle waits on the descriptor it is level-triggered again, as asyncio's.
pub(crate) struct Io {
    pub(crate) watch: GilCell<Option<FdWatch>>,
    readers: GilCell<HashMap<RawFd, Waiter>>,
    writers: GilCell<HashMap<RawFd, Waiter>>,
    sticky: GilCell<HashMap<RawFd, Py<PyWeakrefReference>>>,
}

/// What became of a ready descriptor's waiter (`Io::ready`).
pub(crate) enum Ready {
    /// A handle to run.
    Run(Py<Handle>),
    /// A socket call that completed: its future and what to settle it with.
    Settle(Py<PyAny>, PyResult<Py<PyAny>>),
}

/// `file_obj` as a descriptor, as `selectors._fileobj_to_fd`: an int, or an object whose
/// `fileno()` gives one; `ValueError` for anything else and for a negative descriptor. A
/// descriptor beyond a C int comes back as is (the caller decides: `OverflowError` to add,
/// "not registered" to remove).
pub(crate) fn fileobj_to_fd(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    let invalid = || {
        let r = obj.repr().map_or_else(|_| "?".into(), |r| r.to_string());
        PyValueError::new_err(format!("Invalid file object: {r}"))
    };
    let fd: Bound<'_, PyAny> = if obj.is_instance_of::<PyInt>() {
        obj.clone()
    } else {
        let asked = obj.getattr("fileno").and_then(|f| f.call0());
        let as_int = asked.and_then(|v| obj.py().get_type::<PyInt>().call1((v,)));
        match as_int {
            Ok(v) => v,
            Err(e) if is_lookup_error(obj.py(), &e) => return Err(invalid()),
            Err(e) => return Err(e),
        }
    };
    let fd: i64 = fd.extract::<i64>().unwrap_or(i64::MAX); // beyond any descriptor
    if fd < 0 {
        return Err(PyValueError::new_err(format!(
            "Invalid file descriptor: {fd}"
        )));
    }
    Ok(fd)
}

/// The errors `_fileobj_to_fd` turns into "Invalid file object".
fn is_lookup_error(py: Python<'_>, e: &PyErr) -> bool {
    e.is_instance_of::<pyo3::exceptions::PyAttributeError>(py)
        || e.is_instance_of::<PyTypeError>(py)
        || e.is_instance_of::<PyValueError>(py)
}

/// A descriptor to register: `OverflowError` beyond a C int, as `select.epoll` says.
pub(crate) fn registrable(fd: i64) -> PyResult<RawFd> {
    RawFd::try_from(fd).map_err(|_| {
        pyo3::exceptions::PyOverflowError::new_err("file descriptor is greater than maximum")
    })
}

/// A libuv/errno code as the `OSError` subclass Python raises for it, with `errno` and
/// `strerror` set (`OSError(errno, strerror)` picks the subclass).
pub(crate) fn os_error(e: UvError) -> PyErr {
    let errno = e.raw_os_error().unwrap_or(libc::EINVAL);
    Python::attach(|py| {
        let msg = py
            .import("os")
            .and_then(|os| os.call_method1("strerror", (errno,)))
            .and_then(|m| m.extract::<String>())
            .unwrap_or_else(|_| e.message());
        pyo3::exceptions::PyOSError::new_err((errno, msg))
    })
}

impl Io {
    pub(crate) fn new() -> Io {
        Io {
            watch: GilCell::new(None),
            readers: GilCell::new(HashMap::new()),
            writers: GilCell::new(HashMap::new()),
            sticky: GilCell::new(HashMap::new()),
        }
    }

    fn map(&self, writer: bool) -> &GilCell<HashMap<RawFd, Waiter>> {
        if writer { &self.writers } else { &self.readers }
    }

    fn events_of(&self, py: Python<'_>, fd: RawFd) -> PollEvents {
        let mut ev = PollEvents::NONE;
        if self.readers.borrow(py).contains_key(&fd) {
            ev |= PollEvents::READABLE;
        }
        if self.writers.borrow(py).contains_key(&fd) {
            ev |= PollEvents::WRITABLE;
        }
        ev
    }

    /// Registers `waiter` as the reader (or writer) of `fd`, replacing (and cancelling, if a
    /// handle) the previous one, as asyncio does.
    pub(crate) fn add(
        &self,
        py: Python<'_>,
        fd: RawFd,
        waiter: Waiter,
        writer: bool,
    ) -> PyResult<()> {
        let want = self.events_of(py, fd)
            | if writer {
                PollEvents::WRITABLE
            } else {
                PollEvents::READABLE
            };
        {
            let watch = self.watch.borrow(py);
            let watch = watch.as_ref().ok_or_else(closed)?;
            watch.set(fd, want).map_err(os_error)?;
        }
        let old = self.map(writer).borrow_mut(py).insert(fd, waiter);
        cancel(py, old)
    }

    /// Registers a socket call waiting on `sock`'s descriptor `fd`: edge-triggered when no
    /// handle waits on `fd` (see `Io`), with no system call when it is still registered so
    /// for the same socket; level-triggered beside handles, as `add`.
    pub(crate) fn add_op(
        &self,
        py: Python<'_>,
        fd: RawFd,
        op: Box<SockOp>,
        writer: bool,
        sock: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let handles = [&self.readers, &self.writers]
            .iter()
            .any(|m| matches!(m.borrow(py).get(&fd), Some(Waiter::Handle(_))));
        let (edge, have) = {
            let watch = self.watch.borrow(py);
            let watch = watch.as_ref().ok_or_else(closed)?;
            (watch.is_edge(fd), watch.get(fd))
        };
        if handles || (!edge && !have.is_empty()) {
            return self.add(py, fd, Waiter::Op(op), writer);
        }
        let same = self
            .sticky
            .borrow(py)
            .get(&fd)
            .and_then(|w| w.bind(py).upgrade())
            .is_some_and(|s| s.is(sock));
        let have = if same && edge { have } else { PollEvents::NONE };
        let bit = if writer {
            PollEvents::WRITABLE
        } else {
            PollEvents::READABLE
        };
        if !have.contains(bit) {
            let weak = PyWeakrefReference::new(sock)?.unbind();
            {
                let watch = self.watch.borrow(py);
                let watch = watch.as_ref().ok_or_else(closed)?;
                watch.set_edge(fd, have | bit).map_err(os_error)?;
            }
            let old = self.sticky.borrow_mut(py).insert(fd, weak);
            drop(old);
        }
        let old = self.map(writer).borrow_mut(py).insert(fd, Waiter::Op(op));
        cancel(py, old)
    }

    /// Unregisters the reader (or writer) of `fd`; whether there was one.
    pub(crate) fn remove(&self, py: Python<'_>, fd: RawFd, writer: bool) -> PyResult<bool> {
        let Some(old) = self.take(py, fd, writer) else {
            return Ok(false);
        };
        cancel(py, Some(old))?;
        Ok(true)
    }

    /// Takes the reader (or writer) of `fd` out, narrowing what epoll watches.
    fn take(&self, py: Python<'_>, fd: RawFd, writer: bool) -> Option<Waiter> {
        let old = self.map(writer).borrow_mut(py).remove(&fd)?;
        self.narrow(py, fd);
        Some(old)
    }

    /// Watches `fd` for what its registered waiters want, no more (an edge-triggered
    /// registration stays: see `Io`).
    fn narrow(&self, py: Python<'_>, fd: RawFd) {
        let rest = self.events_of(py, fd);
        if let Some(watch) = self.watch.borrow(py).as_ref() {
            if watch.is_edge(fd) {
                return;
            }
            // Narrowing a registration of a closed descriptor fails; it has left epoll anyway.
            if watch.set(fd, rest).is_err() {
                let _ = watch.set(fd, PollEvents::NONE);
            }
        }
    }

    /// Unregisters the socket call of `fd` whose future is `fut` (its `cancel`); whether it
    /// was still registered.
    pub(crate) fn cancel_op(
        &self,
        py: Python<'_>,
        fd: RawFd,
        writer: bool,
        fut: &Bound<'_, PyAny>,
    ) -> bool {
        let mine = matches!(self.map(writer).borrow(py).get(&fd),
                            Some(Waiter::Op(op)) if op.future().is(fut));
        mine && self.take(py, fd, writer).is_some()
    }

    /// What to do for `events` on `fd` (the FdWatch callback): handles to run; socket calls
    /// are tried here, and those that completed are unregistered and handed back to settle.
    pub(crate) fn ready(
        &self,
        py: Python<'_>,
        fd: RawFd,
        events: PollEvents,
        out: &mut Vec<Ready>,
    ) {
        for (ev, writer) in [(PollEvents::READABLE, false), (PollEvents::WRITABLE, true)] {
            if !events.contains(ev) {
                continue;
            }
            // A socket call is taken out while it is tried (creating its result or error
            // may run Python code, a finaliser that touches the registrations).
            let taken = {
                let mut m = self.map(writer).borrow_mut(py);
                match m.get(&fd) {
                    None => continue,
                    Some(Waiter::Handle(h)) => {
                        out.push(Ready::Run(h.clone_ref(py)));
                        continue;
                    }
                    Some(Waiter::Op(_)) => m.remove(&fd),
                }
            };
            let Some(Waiter::Op(mut op)) = taken else {
                continue;
            };
            match op_outcome(py, &mut op, fd) {
                None => {
                    // Back in its place, unless something else registered meanwhile (which
                    // replaced it, as a new add_reader does).
                    let displaced = match self.map(writer).borrow_mut(py).entry(fd) {
                        std::collections::hash_map::Entry::Occupied(_) => Some(op),
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(Waiter::Op(op));
                            None
                        }
                    };
                    drop(displaced);
                }
                Some(result) => {
                    self.narrow(py, fd);
                    if let Some(r) = result {
                        out.push(Ready::Settle(op.future().clone_ref(py), r));
                    }
                    drop(op);
                }
            }
        }
    }

    /// Drops every registration (for `close()`), handing them to the caller to drop.
    pub(crate) fn clear(&self, py: Python<'_>) -> Vec<Waiter> {
        let mut all: Vec<Waiter> = self
            .readers
            .borrow_mut(py)
            .drain()
            .map(|(_, h)| h)
            .collect();
        all.extend(self.writers.borrow_mut(py).drain().map(|(_, h)| h));
        self.sticky.borrow_mut(py).clear();
        all
    }

    pub(crate) fn traverse(
        &self,
        visit: &pyo3::gc::PyVisit<'_>,
    ) -> Result<(), pyo3::PyTraverseError> {
        for map in [&self.readers, &self.writers] {
            if let Some(m) = map.peek() {
                for w in m.values() {
                    match w {
                        Waiter::Handle(h) => visit.call(h)?,
                        Waiter::Op(op) => op.traverse(visit)?,
                    }
                }
            }
        }
        Ok(())
    }
}

/// A replaced or removed waiter: a handle is cancelled; a socket call is dropped (its future
/// then never completes, as asyncio's does when `add_reader` replaces its handle).
fn cancel(py: Python<'_>, old: Option<Waiter>) -> PyResult<()> {
    match old {
        Some(Waiter::Handle(h)) => Handle::cancel_from_rust(h.bind(py)),
        _ => Ok(()),
    }
}

/// A ready socket call: `None` to keep waiting; `Some(None)` to drop it (its future is done:
/// cancelled meanwhile); `Some(Some(result))` to settle it with.
fn op_outcome(py: Python<'_>, op: &mut SockOp, fd: RawFd) -> Option<Option<PyResult<Py<PyAny>>>> {
    let done = op
        .future()
        .bind(py)
        .call_method0(pyo3::intern!(py, "done"))
        .and_then(|d| d.is_truthy())
        .unwrap_or(true);
    if done {
        return Some(None);
    }
    match op.attempt(py, fd) {
        Attempt::Again => None,
        Attempt::Done(r) => Some(Some(r)),
    }
}

fn closed() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err("Event loop is closed")
}
