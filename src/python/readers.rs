//! `add_reader`/`add_writer`: descriptors watched by the loop's `FdWatch` (which survives a
//! descriptor closed under it), with the reader and writer handles of each, and the
//! descriptor of the signal wake-up.

use std::collections::HashMap;
use std::os::fd::RawFd;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyInt;

use super::gil::GilCell;
use super::handle::Handle;
use crate::uv::{Error as UvError, FdWatch, PollEvents};

/// The watched descriptors of one loop.
pub(crate) struct Io {
    pub(crate) watch: GilCell<Option<FdWatch>>,
    readers: GilCell<HashMap<RawFd, Py<Handle>>>,
    writers: GilCell<HashMap<RawFd, Py<Handle>>>,
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
        }
    }

    fn map(&self, writer: bool) -> &GilCell<HashMap<RawFd, Py<Handle>>> {
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

    /// Registers `handle` as the reader (or writer) of `fd`, replacing and cancelling the
    /// previous one, as asyncio does.
    pub(crate) fn add(
        &self,
        py: Python<'_>,
        fd: RawFd,
        handle: Py<Handle>,
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
        let old = self.map(writer).borrow_mut(py).insert(fd, handle);
        if let Some(old) = old {
            Handle::cancel_from_rust(old.bind(py))?;
        }
        Ok(())
    }

    /// Unregisters the reader (or writer) of `fd`; whether there was one.
    pub(crate) fn remove(&self, py: Python<'_>, fd: RawFd, writer: bool) -> PyResult<bool> {
        let old = self.map(writer).borrow_mut(py).remove(&fd);
        let Some(old) = old else { return Ok(false) };
        let rest = self.events_of(py, fd);
        if let Some(watch) = self.watch.borrow(py).as_ref() {
            // Narrowing a registration of a closed descriptor fails; it has left epoll anyway.
            if watch.set(fd, rest).is_err() {
                let _ = watch.set(fd, PollEvents::NONE);
            }
        }
        Handle::cancel_from_rust(old.bind(py))?;
        Ok(true)
    }

    /// The handles to run for `events` on `fd` (the FdWatch callback).
    pub(crate) fn ready(
        &self,
        py: Python<'_>,
        fd: RawFd,
        events: PollEvents,
        out: &mut Vec<Py<Handle>>,
    ) {
        for (ev, writer) in [(PollEvents::READABLE, false), (PollEvents::WRITABLE, true)] {
            if events.contains(ev) {
                if let Some(h) = self.map(writer).borrow(py).get(&fd) {
                    out.push(h.clone_ref(py));
                }
            }
        }
    }

    /// Drops every registration (for `close()`), handing the handles to the caller to drop.
    pub(crate) fn clear(&self, py: Python<'_>) -> Vec<Py<Handle>> {
        let mut all: Vec<Py<Handle>> = self
            .readers
            .borrow_mut(py)
            .drain()
            .map(|(_, h)| h)
            .collect();
        all.extend(self.writers.borrow_mut(py).drain().map(|(_, h)| h));
        all
    }

    pub(crate) fn traverse(
        &self,
        visit: &pyo3::gc::PyVisit<'_>,
    ) -> Result<(), pyo3::PyTraverseError> {
        for map in [&self.readers, &self.writers] {
            if let Some(m) = map.peek() {
                for h in m.values() {
                    visit.call(h)?;
                }
            }
        }
        Ok(())
    }
}

fn closed() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err("Event loop is closed")
}
