//! Buffers that reads land in, exported by Python objects: `RawBuf` (a `PyObject_GetBuffer`
//! export, held while the kernel or libuv writes into it), and `BufSink`, through which a
//! stream transport reads straight into the buffer a `BufferedProtocol`'s `get_buffer`
//! returns (libuv's `read_start_into`, `uv::ReadSink`): no copy but the kernel's.
//!
//! Plain protocols keep reading into the loop's 256 KiB buffer and get a copy as `bytes`:
//! reading into a fresh `bytes` per read instead was measured slower (protocol echo of
//! 100 KiB, 4 connections: +5 µs of kernel time per round trip with 64 KiB objects, and page
//! faults with 256 KiB ones, against ~1 µs of copying saved).

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyBufferError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyByteArrayMethods, PyMemoryView};

use super::gil::GilCell;
use crate::uv::ReadSink;

/// A buffer exported by a Python object (`PyObject_GetBuffer`), released on drop.
pub(crate) struct RawBuf(Box<ffi::Py_buffer>, Py<PyAny>);

impl RawBuf {
    /// `obj`'s bytes, contiguous (`BufferError`/`TypeError` otherwise, as `sock.send` says),
    /// writable if asked.
    pub(crate) fn get(obj: &Bound<'_, PyAny>, writable: bool) -> PyResult<RawBuf> {
        let flags = if writable {
            ffi::PyBUF_WRITABLE
        } else {
            ffi::PyBUF_SIMPLE
        };
        // SAFETY: an all-zero Py_buffer is a valid "empty" value for GetBuffer to fill.
        let mut view: Box<ffi::Py_buffer> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: `obj` is alive (borrowed, GIL held); `view` is writable storage that
        // stays at its address (boxed) until PyBuffer_Release in Drop.
        let rc = unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, flags) };
        if rc != 0 {
            let py = obj.py();
            let err =
                PyErr::take(py).unwrap_or_else(|| PyBufferError::new_err("cannot export a buffer"));
            if writable && err.is_instance_of::<PyBufferError>(py) {
                // What `sock.recv_into` says of a read-only buffer.
                let kind = obj
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string());
                return Err(PyTypeError::new_err(format!(
                    "recv_into() argument 1 must be read-write bytes-like object, not {kind}"
                )));
            }
            return Err(err);
        }
        Ok(RawBuf(view, obj.clone().unbind()))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len.max(0) as usize
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.0.buf.cast()
    }

    /// `.1` holds the object the buffer came from; the view holds `view.obj`, usually the
    /// same object, reported twice then. Another one (an exporter's choice) goes unreported:
    /// it stays alive, which is the safe side.
    pub(crate) fn traverse(
        &self,
        visit: &pyo3::gc::PyVisit<'_>,
    ) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.1)?;
        if self.0.obj == self.1.as_ptr() {
            visit.call(&self.1)?;
        }
        Ok(())
    }
}

impl Drop for RawBuf {
    fn drop(&mut self) {
        // SAFETY: the view was filled by PyObject_GetBuffer and is released once, with the
        // GIL (taken if this thread does not hold it).
        Python::attach(|_| unsafe { ffi::PyBuffer_Release(&mut *self.0) });
    }
}

/// The read side of a `BufferedProtocol`: each read goes into what `get_buffer(-1)` returns
/// (asyncio's call); a failure of `get_buffer` is kept for the read callback, which libuv
/// calls with `ENOBUFS`.
pub(crate) struct BufSink {
    get_buffer: GilCell<Option<Py<PyAny>>>,
    /// The buffer lent to the read in progress.
    view: GilCell<Option<RawBuf>>,
    /// Why the last `buffer` call lent nothing, and the message asyncio reports it with.
    error: GilCell<Option<(PyErr, &'static str)>>,
}

impl BufSink {
    pub(crate) fn new() -> BufSink {
        BufSink {
            get_buffer: GilCell::new(None),
            view: GilCell::new(None),
            error: GilCell::new(None),
        }
    }

    /// The protocol's `get_buffer` (a new protocol's, after `set_protocol`).
    pub(crate) fn set_get_buffer(&self, py: Python<'_>, f: Option<Py<PyAny>>) {
        let old = std::mem::replace(&mut *self.get_buffer.borrow_mut(py), f);
        drop(old);
    }

    /// Lets go of the protocol: its `get_buffer`, the buffer lent last, a failure kept
    /// (at `connection_lost`: each of them holds the protocol).
    pub(crate) fn clear(&self, py: Python<'_>) {
        self.set_get_buffer(py, None);
        drop(self.take_error(py));
    }

    /// What the collector sees of it (`get_buffer` holds the protocol).
    pub(crate) fn traverse(
        &self,
        visit: &pyo3::gc::PyVisit<'_>,
    ) -> Result<(), pyo3::PyTraverseError> {
        if let Some(f) = self.get_buffer.peek() {
            visit.call(&*f)?;
        }
        Ok(())
    }

    /// After a read: releases the buffer it went into (before `buffer_updated`, so that the
    /// protocol may resize its bytearray there).
    pub(crate) fn release(&self, py: Python<'_>) {
        let view = self.view.borrow_mut(py).take();
        drop(view);
    }

    /// What made the last `buffer` call fail, if it did, with asyncio's message for it.
    pub(crate) fn take_error(&self, py: Python<'_>) -> Option<(PyErr, &'static str)> {
        self.view.borrow_mut(py).take();
        self.error.borrow_mut(py).take()
    }

    fn lend(&self, py: Python<'_>) -> Result<RawBuf, (PyErr, &'static str)> {
        const GET: &str = "Fatal error: protocol.get_buffer() call failed.";
        let get = self.get_buffer.borrow(py).as_ref().map(|g| g.clone_ref(py));
        let get = get.ok_or_else(|| {
            (
                PyRuntimeError::new_err("rsuv: no protocol to read for"),
                GET,
            )
        })?;
        let buf = get.call1(py, (-1,)).map_err(|e| (e, GET))?;
        // A buffer that cannot be written is the read's failure, as `recv_into`'s in asyncio.
        let view = RawBuf::get(buf.bind(py), true)
            .map_err(|e| (e, "Fatal read error on socket transport"))?;
        if view.len() == 0 {
            return Err((
                PyRuntimeError::new_err("get_buffer() returned an empty buffer"),
                GET,
            ));
        }
        Ok(view)
    }
}

// SAFETY: the memory `buffer` returns is a writable export of the protocol's buffer, held in
// `view` (so neither freed nor resized) until `release`/`take_error` in the read callback,
// which runs right after libuv wrote into it; no other code writes it meanwhile.
unsafe impl ReadSink for BufSink {
    fn buffer(&self, _suggested: usize) -> (*mut u8, usize) {
        Python::attach(|py| {
            self.release(py);
            match self.lend(py) {
                Ok(view) => {
                    let lent = (view.ptr(), view.len());
                    *self.view.borrow_mut(py) = Some(view);
                    lent
                }
                Err(e) => {
                    *self.error.borrow_mut(py) = Some(e);
                    (std::ptr::null_mut(), 0)
                }
            }
        })
    }
}

/// Copies `data` into the buffers `get_buffer(n)` gives, calling `buffer_updated` for each.
pub(crate) fn into_buffers(
    py: Python<'_>,
    mut data: &[u8],
    get_buffer: &Py<PyAny>,
    updated: &Py<PyAny>,
) -> PyResult<()> {
    while !data.is_empty() {
        let buf = get_buffer.call1(py, (data.len(),))?;
        let buf = buf.bind(py);
        let n = copy_into(py, buf, data)?;
        if n == 0 {
            return Err(PyRuntimeError::new_err(
                "get_buffer() returned an empty buffer",
            ));
        }
        updated.call1(py, (n,))?;
        data = &data[n..];
    }
    Ok(())
}

fn copy_into(py: Python<'_>, buf: &Bound<'_, PyAny>, data: &[u8]) -> PyResult<usize> {
    if let Ok(ba) = buf.cast::<PyByteArray>() {
        let n = data.len().min(ba.len());
        // SAFETY: no Python code runs while the bytearray's memory is written.
        unsafe { ba.as_bytes_mut()[..n].copy_from_slice(&data[..n]) };
        return Ok(n);
    }
    let mv = if buf.is_instance_of::<PyMemoryView>() {
        buf.clone()
    } else {
        PyMemoryView::from(buf)?.into_any()
    };
    let pb = PyBuffer::<u8>::get(&mv)?;
    if pb.readonly() {
        return Err(PyValueError::new_err(
            "get_buffer() returned a read-only buffer",
        ));
    }
    let n = data.len().min(pb.item_count());
    if n == pb.item_count() {
        pb.copy_from_slice(py, &data[..n])?;
    } else {
        // The buffer is larger than the data: copy into a slice of the data's length.
        let part = mv.get_item(pyo3::types::PySlice::new(py, 0, n as isize, 1))?;
        PyBuffer::<u8>::get(&part)?.copy_from_slice(py, &data[..n])?;
    }
    Ok(n)
}
