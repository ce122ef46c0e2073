//! `pyuv.Stream`: what TCP, Pipe and TTY share — reading, writing, shutdown, listening and
//! accepting.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PySequence, PyString};

use super::errors::code_of;
use super::handle::{AUX, Handle, MAIN, Uv, call_cb, check_callable, check_callable_opt};
use super::watchers::base;
use crate::uv::{self, WriteBuf};

/// `$body` with `$s` bound to the libuv stream `$uv` holds; `Err(EBADF)` for none.
macro_rules! each_stream {
    ($uv:expr, $s:ident => $body:expr) => {
        match $uv {
            Uv::Tcp($s) => $body,
            Uv::Pipe($s) => $body,
            Uv::Tty($s) => $body,
            _ => Err(uv::Error::EBADF),
        }
    };
}

/// pyuv's write data: a buffer, or a sequence (not a str) of buffers. `bytes` is sent
/// without a copy; other buffers are copied (they may change before libuv writes them).
pub(crate) fn buffers(data: &Bound<'_, PyAny>) -> PyResult<Vec<WriteBuf>> {
    if data.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "data must be a bytes-like object, not str",
        ));
    }
    if let Some(b) = one_buffer(data)? {
        return Ok(vec![b]);
    }
    // A sequence as pyuv's PySequence_Check takes it (a list, a tuple), not any iterable.
    let seq = data
        .cast::<PySequence>()
        .map_err(|_| PyTypeError::new_err("only bytes and sequences are supported"))?
        .try_iter()?;
    let mut out = Vec::new();
    for item in seq {
        let item = item?;
        if item.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "data must be bytes-like objects, not str",
            ));
        }
        out.push(
            one_buffer(&item)?
                .ok_or_else(|| PyTypeError::new_err("each item must be a bytes-like object"))?,
        );
    }
    if out.is_empty() {
        return Err(PyValueError::new_err("data must not be an empty sequence"));
    }
    Ok(out)
}

fn one_buffer(obj: &Bound<'_, PyAny>) -> PyResult<Option<WriteBuf>> {
    if obj.is_instance_of::<PyBytes>() {
        let b: PyBackedBytes = obj.extract()?;
        return Ok(Some(WriteBuf::other(b)));
    }
    match pyo3::buffer::PyBuffer::<u8>::get(obj) {
        Ok(buf) => Ok(Some(WriteBuf::from(buf.to_vec(obj.py())?))),
        Err(_) => Ok(None),
    }
}

/// All the buffers as one copy (for `try_write`, which cannot keep them).
pub(crate) fn joined(bufs: &[WriteBuf]) -> Vec<u8> {
    bufs.iter()
        .flat_map(|b| b.as_slice().iter().copied())
        .collect()
}

/// `listen(callback, backlog)` for TCP and Pipe: `callback(server, error)`.
pub(crate) fn listen(h: &Bound<'_, Handle>, callback: Py<PyAny>, backlog: i32) -> PyResult<()> {
    check_callable(callback.bind(h.py()))?;
    if backlog < 0 {
        return Err(PyValueError::new_err("backlog must be >= 0"));
    }
    let ctx = Handle::ctx(h)?;
    Handle::with_uv(h, |u| {
        each_stream!(u, s => s.listen(backlog, move |_, r| {
            let err = code_of(r);
            Python::attach(|py| ctx.fire(py, AUX, |h| Ok((h.clone(), err))))
        }))
    })?;
    Handle::set_cb(h, AUX, Some(callback));
    Handle::sync_keep(h);
    Ok(())
}

/// The handle a stream `accept(client)` fills: the client's libuv handle is replaced by
/// the accepted one (its kind must match the server's, or the IPC pipe's pending handle).
pub(crate) fn accept(h: &Bound<'_, Handle>, client: &Bound<'_, PyAny>) -> PyResult<()> {
    let client = client
        .cast::<Handle>()
        .ok()
        .filter(|c| c.is_instance_of::<Stream>() || c.is_instance_of::<super::udp::UDP>())
        .ok_or_else(|| PyTypeError::new_err("only stream objects are supported for accept"))?;
    Handle::check_open(client)?;
    let accepted = Handle::with_uv(h, |u| match u {
        Uv::Tcp(t) => t.accept().map(Uv::Tcp),
        Uv::Pipe(p) if p.pending_count() > 0 => p.accept_pending().map(|ph| match ph {
            uv::PendingHandle::Tcp(t) => Uv::Tcp(t),
            uv::PendingHandle::Pipe(p) => Uv::Pipe(p),
            uv::PendingHandle::Udp(u) => Uv::Udp(u),
        }),
        Uv::Pipe(p) => p.accept().map(Uv::Pipe),
        _ => Err(uv::Error::EINVAL),
    })?;
    let same = {
        let st = client.get().st.borrow(client.py());
        matches!(
            (&st.uv, &accepted),
            (Uv::Tcp(_), Uv::Tcp(_)) | (Uv::Pipe(_), Uv::Pipe(_)) | (Uv::Udp(_), Uv::Udp(_))
        )
    };
    if !same {
        return Err(PyTypeError::new_err(
            "the client's type does not match the connection accepted",
        ));
    }
    Handle::set_uv(client, accepted);
    Ok(())
}

/// The base of `TCP`, `Pipe` and `TTY`.
#[pyclass(module = "pyuv._cpyuv", name = "Stream", extends = Handle, subclass, frozen)]
pub struct Stream;

#[pymethods]
impl Stream {
    /// `callback(handle, data, error)`: `data` bytes, or `None` with `error` a libuv code
    /// (`UV_EOF` at the end); reading stops on an error.
    fn start_read(slf: &Bound<'_, Self>, callback: Py<PyAny>) -> PyResult<()> {
        let h = base(slf);
        check_callable(callback.bind(slf.py()))?;
        let ctx = Handle::ctx(h)?;
        Handle::with_uv(h, |u| {
            each_stream!(u, s => s.read_start(move |s, r| {
                if r.is_err() {
                    let _ = s.read_stop();
                }
                Python::attach(|py| {
                    ctx.fire(py, MAIN, |h| {
                        Ok(match r {
                            Ok(d) => (h.clone(), Some(PyBytes::new(py, d)), None),
                            Err(e) => (h.clone(), None, Some(e.code())),
                        })
                    })
                })
            }))
        })?;
        Handle::set_cb(h, MAIN, Some(callback));
        Handle::sync_keep(h);
        Ok(())
    }

    fn stop_read(slf: &Bound<'_, Self>) -> PyResult<()> {
        let h = base(slf);
        Handle::with_uv(h, |u| each_stream!(u, s => s.read_stop()))?;
        Handle::sync_keep(h);
        Ok(())
    }

    /// Queues `data`; `callback(handle, error)` once written.
    #[pyo3(signature = (data, callback = None))]
    fn write(
        slf: &Bound<'_, Self>,
        data: &Bound<'_, PyAny>,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        write_data(base(slf), data, callback)
    }

    /// Writes what the socket takes now; the count written. `<Type>Error(UV_EAGAIN)` if
    /// nothing could be.
    fn try_write(slf: &Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let bufs = buffers(data)?;
        let all = joined(&bufs);
        Handle::with_uv(base(slf), |u| each_stream!(u, s => s.try_write(&all)))
    }

    /// Shuts the write side once queued writes are done; `callback(handle, error)`.
    #[pyo3(signature = (callback = None))]
    fn shutdown(slf: &Bound<'_, Self>, callback: Option<Py<PyAny>>) -> PyResult<()> {
        let h = base(slf);
        check_callable_opt(slf.py(), callback.as_ref())?;
        let obj = h.clone().unbind();
        Handle::with_uv(h, |u| {
            each_stream!(u, s => s.shutdown(move |_, r| {
                let err = code_of(r);
                Python::attach(|py| call_cb(obj.bind(py), callback, |h| Ok((h.clone(), err))))
            }))
        })
    }

    fn fileno(slf: &Bound<'_, Self>) -> PyResult<i32> {
        if let Some(fd) = Handle::adopted_fd(base(slf)) {
            return Ok(fd);
        }
        Handle::with_uv(base(slf), |u| each_stream!(u, s => s.fileno()))
    }

    /// Blocking writes on (`True`) or off.
    fn set_blocking(slf: &Bound<'_, Self>, blocking: &Bound<'_, PyAny>) -> PyResult<()> {
        let on = blocking
            .cast::<pyo3::types::PyBool>()
            .map_err(|_| PyTypeError::new_err("a boolean is required"))?
            .is_true();
        Handle::with_uv(base(slf), |u| each_stream!(u, s => s.set_blocking(on)))
    }

    #[getter]
    fn readable(slf: &Bound<'_, Self>) -> bool {
        let closing = base(slf).get().st.borrow(slf.py()).closing;
        !closing
            && Handle::peek_uv(
                base(slf),
                false,
                |u| each_stream!(u, s => Ok(s.is_readable())),
            )
    }

    #[getter]
    fn writable(slf: &Bound<'_, Self>) -> bool {
        let closing = base(slf).get().st.borrow(slf.py()).closing;
        !closing
            && Handle::peek_uv(
                base(slf),
                false,
                |u| each_stream!(u, s => Ok(s.is_writable())),
            )
    }

    #[getter]
    fn write_queue_size(slf: &Bound<'_, Self>) -> usize {
        Handle::peek_uv(
            base(slf),
            0,
            |u| each_stream!(u, s => Ok(s.write_queue_size())),
        )
    }
}

/// `write(data, callback)` on any stream.
pub(crate) fn write_data(
    h: &Bound<'_, Handle>,
    data: &Bound<'_, PyAny>,
    callback: Option<Py<PyAny>>,
) -> PyResult<()> {
    check_callable_opt(h.py(), callback.as_ref())?;
    let bufs = buffers(data)?;
    let obj = h.clone().unbind();
    Handle::with_uv(h, |u| {
        each_stream!(u, s => s.write_vectored(bufs, move |_, r| {
            let err = code_of(r);
            Python::attach(|py| call_cb(obj.bind(py), callback, |h| Ok((h.clone(), err))))
        }))
    })
}
