//! The write side of `StreamCore`'s connection: `write` tries the socket at once and queues
//! the rest (a `bytes` object by reference), write callbacks drain the queue, and asyncio's
//! flow control (pause above the high-water mark, resume at or below the low one). A child
//! of `transport` (it reaches `Conn`'s fields).

use std::rc::Rc;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::super::readers::os_error;
use super::{BytesTail, Conn, Stream, is_buffer};
use crate::uv::{self, WriteBuf};

impl Conn {
    pub(super) fn write(self: &Rc<Self>, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.sendfile.get() {
            return Err(PyRuntimeError::new_err(
                "unable to write; sendfile is in progress",
            ));
        }
        if self.eof_written.get() {
            return Err(PyRuntimeError::new_err(
                "Cannot call write() after write_eof()",
            ));
        }
        if let Ok(b) = data.cast::<PyBytes>() {
            return self.write_bytes(py, b.as_bytes(), Some(b)); // immutable: kept, not copied
        }
        if data.is_instance_of::<pyo3::types::PyString>() || !is_buffer(data) {
            return Err(PyTypeError::new_err(format!(
                "data argument must be a bytes-like object, not '{}'",
                data.get_type().name()?
            )));
        }
        let buf = PyBuffer::<u8>::get(data)?;
        let v = buf.to_vec(py)?;
        self.write_bytes(py, &v, None)
    }

    /// Tries the socket at once, then queues the rest (by reference for `bytes`).
    pub(super) fn write_bytes(
        self: &Rc<Self>,
        py: Python<'_>,
        data: &[u8],
        obj: Option<&Bound<'_, PyBytes>>,
    ) -> PyResult<()> {
        if data.is_empty() {
            return Ok(());
        }
        if self.lost.get() {
            let n = self.writes_after_lost.get() + 1;
            self.writes_after_lost.set(n);
            if n >= 5 {
                let log = py.import("asyncio.log")?.getattr("logger")?;
                log.call_method1("warning", ("socket.send() raised exception.",))?;
            }
            return Ok(());
        }
        let guard = self.stream.borrow(py);
        let Some(s) = guard.as_ref() else {
            return Ok(());
        };
        let mut sent = 0;
        if on_stream!(s, st => st.write_queue_size()) == 0 {
            match on_stream!(s, st => st.try_write(data)) {
                Ok(n) => sent = n,
                Err(uv::Error::EAGAIN) => {}
                Err(e) => {
                    drop(guard);
                    self.fatal_error(py, os_error(e), "Fatal write error on socket transport");
                    return Ok(());
                }
            }
        }
        if sent == data.len() {
            return Ok(());
        }
        let rest = match obj {
            Some(b) => WriteBuf::other(BytesTail {
                _obj: b.clone().unbind(),
                // SAFETY: `sent < data.len()`, inside the bytes object's buffer.
                ptr: unsafe { data.as_ptr().add(sent) },
                len: data.len() - sent,
            }),
            None => WriteBuf::from(data[sent..].to_vec()),
        };
        let weak = Rc::downgrade(self);
        let r = on_stream!(s, st => st.write(rest, move |_, r| {
            if let Some(c) = weak.upgrade() {
                Python::attach(|py| c.on_written(py, r));
            }
        }));
        drop(guard);
        match r {
            Ok(()) => self.maybe_pause(py),
            Err(e) => self.fatal_error(py, os_error(e), "Fatal write error on socket transport"),
        }
        Ok(())
    }

    pub(super) fn on_written(self: &Rc<Self>, py: Python<'_>, r: uv::Result<()>) {
        match r {
            Ok(()) => {}
            Err(uv::Error::ECANCELED) => return,
            Err(e) => {
                return self.fatal_error(py, os_error(e), "Fatal write error on socket transport");
            }
        }
        let queued = self.queued(py);
        self.maybe_resume(py, queued);
        if queued == 0 {
            self.wake_empty(py, None);
            if self.closing.get() && !self.lost.replace(true) {
                self.schedule_lost(py, None);
            }
        }
    }

    /// Settles the empty-buffer waiter: done, or failed with `exc`.
    pub(super) fn wake_empty(&self, py: Python<'_>, exc: Option<PyErr>) {
        let Some(fut) = self.empty_waiter.borrow_mut(py).take() else {
            return;
        };
        let fut = fut.bind(py);
        if fut
            .call_method0("done")
            .and_then(|d| d.is_truthy())
            .unwrap_or(true)
        {
            return;
        }
        let r = match exc {
            None => fut.call_method1("set_result", (py.None(),)),
            Some(e) => fut.call_method1("set_exception", (e.into_value(py),)),
        };
        if let Err(e) = r {
            e.write_unraisable(py, None);
        }
    }

    pub(super) fn maybe_pause(self: &Rc<Self>, py: Python<'_>) {
        if self.writing_paused.get() || self.queued(py) <= self.high.get() {
            return;
        }
        self.writing_paused.set(true);
        self.call_protocol(py, "pause_writing", "protocol.pause_writing() failed");
    }

    pub(super) fn maybe_resume(self: &Rc<Self>, py: Python<'_>, queued: usize) {
        if !self.writing_paused.get() || queued > self.low.get() {
            return;
        }
        self.writing_paused.set(false);
        self.call_protocol(py, "resume_writing", "protocol.resume_writing() failed");
    }
}
