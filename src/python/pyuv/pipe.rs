//! `pyuv.Pipe` (pipes and Unix sockets, with handle passing over IPC pipes) and `pyuv.TTY`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyString, PyTuple};

use super::errors::{ErrKind, code_of, uv_err};
use super::handle::{Handle, Uv, call_cb, check_callable, check_callable_opt};
use super::loop_::Loop;
use super::stream::{self, Stream, buffers, joined};
use super::watchers::base;
use crate::uv;

fn pipe<R>(h: &Bound<'_, Handle>, f: impl FnOnce(&uv::Pipe) -> uv::Result<R>) -> PyResult<R> {
    Handle::with_uv(h, |u| match u {
        Uv::Pipe(p) => f(p),
        _ => Err(uv::Error::EBADF),
    })
}

fn name_str(n: uv::PipeName) -> String {
    match n {
        uv::PipeName::Path(p) => String::from_utf8_lossy(p.as_os_str().as_bytes()).into_owned(),
        uv::PipeName::Abstract(a) => format!("\0{}", String::from_utf8_lossy(&a)),
        uv::PipeName::Unnamed => String::new(),
    }
}

/// `Pipe(loop, ipc=False)`.
#[pyclass(module = "pyuv._cpyuv", name = "Pipe", extends = Stream, subclass, frozen)]
pub struct Pipe {
    ipc: bool,
}

/// A pipe name as pyuv takes it: `str` (UTF-8, as `os.fsencode` on Linux) or `bytes`.
fn name_bytes(name: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = name.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    if let Ok(b) = name.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err("a pipe name must be str or bytes"))
}

#[pymethods]
impl Pipe {
    #[new]
    #[pyo3(signature = (r#loop, ipc = None, *_a, **_k))]
    fn new(
        r#loop: &Bound<'_, Loop>,
        ipc: Option<&Bound<'_, PyAny>>,
        _a: &Bound<'_, PyTuple>,
        _k: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let ipc = match ipc {
            None => false,
            Some(v) => v
                .cast::<PyBool>()
                .map_err(|_| PyTypeError::new_err("ipc must be a boolean"))?
                .is_true(),
        };
        let lh = Handle::uv_loop(r#loop, ErrKind::Pipe)?;
        let p = uv::Pipe::new(&lh, ipc).map_err(|e| uv_err(ErrKind::Pipe, e))?;
        let h = Handle::new(r#loop, ErrKind::Pipe, Uv::Pipe(p));
        Ok(PyClassInitializer::from(h)
            .add_subclass(Stream)
            .add_subclass(Pipe { ipc }))
    }

    /// `bind(name)`: a path (`str` or `bytes`), or a Linux abstract name when it starts
    /// with a NUL.
    fn bind(slf: &Bound<'_, Self>, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let name = name_bytes(name)?;
        pipe(base(slf), |p| match name.as_slice() {
            [0, rest @ ..] => p.bind_abstract(rest),
            path => p.bind(OsStr::from_bytes(path)),
        })
    }

    #[pyo3(signature = (callback, backlog = 511))]
    fn listen(slf: &Bound<'_, Self>, callback: Py<PyAny>, backlog: i32) -> PyResult<()> {
        stream::listen(base(slf), callback, backlog)
    }

    fn accept(slf: &Bound<'_, Self>, client: &Bound<'_, PyAny>) -> PyResult<()> {
        stream::accept(base(slf), client)
    }

    /// `connect(name, callback)`: `callback(handle, error)`.
    fn connect(
        slf: &Bound<'_, Self>,
        name: &Bound<'_, PyAny>,
        callback: Py<PyAny>,
    ) -> PyResult<()> {
        check_callable(callback.bind(slf.py()))?;
        let name = name_bytes(name)?;
        let h = base(slf);
        let obj = h.clone().unbind();
        let done = move |_: &uv::Pipe, r: uv::Result<()>| {
            let err = code_of(r);
            Python::attach(|py| call_cb(obj.bind(py), Some(callback), |h| Ok((h.clone(), err))))
        };
        pipe(h, |p| match name.as_slice() {
            [0, rest @ ..] => p.connect_abstract(rest, done),
            path => p.connect(OsStr::from_bytes(path), done),
        })
    }

    /// Takes `fd` over: `fileno()` is `fd`, `close()` closes it.
    fn open(slf: &Bound<'_, Self>, fd: &Bound<'_, PyAny>) -> PyResult<()> {
        let ipc = slf.get().ipc;
        Handle::adopt_fd(base(slf), fd, ErrKind::Pipe, |lh, fd| {
            uv::Pipe::open(lh, fd, ipc).map(Uv::Pipe)
        })
    }

    fn getsockname(slf: &Bound<'_, Self>) -> PyResult<String> {
        pipe(base(slf), |p| p.sockname()).map(name_str)
    }

    fn getpeername(slf: &Bound<'_, Self>) -> PyResult<String> {
        pipe(base(slf), |p| p.peername()).map(name_str)
    }

    /// `UV_TCP`, `UV_NAMED_PIPE`, or `UV_UNKNOWN_HANDLE` for none, of the next handle
    /// received over an IPC pipe.
    fn pending_handle_type(slf: &Bound<'_, Self>) -> PyResult<i32> {
        pipe(base(slf), |p| Ok(p.pending_type()))
    }

    /// Windows only in libuv; accepted and ignored here.
    fn pending_instances(slf: &Bound<'_, Self>, count: i32) -> PyResult<()> {
        Handle::check_open(base(slf))?;
        if count < 0 {
            return Err(PyValueError::new_err("count must be >= 0"));
        }
        Ok(())
    }

    /// `write(data, callback=None, send_handle=None)`: over an IPC pipe, `send_handle` (a
    /// TCP or Pipe) goes with the data.
    #[pyo3(signature = (data, callback = None, send_handle = None))]
    fn write(
        slf: &Bound<'_, Self>,
        data: &Bound<'_, PyAny>,
        callback: Option<Py<PyAny>>,
        send_handle: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let h = base(slf);
        let Some(sh) = send_handle else {
            return stream::write_data(h, data, callback);
        };
        check_callable_opt(slf.py(), callback.as_ref())?;
        let sh = sh
            .cast::<Handle>()
            .ok()
            .filter(|h| h.is_instance_of::<Stream>() || h.is_instance_of::<super::udp::UDP>())
            .ok_or_else(|| PyTypeError::new_err("Only Stream and UDP objects are supported"))?;
        if sh.is_instance_of::<TTY>() {
            return Err(PyTypeError::new_err(
                "Only TCP and Pipe objects are supported",
            ));
        }
        let bytes = joined(&buffers(data)?);
        let obj = h.clone().unbind();
        let done = move |_: &uv::Pipe, r: uv::Result<()>| {
            let err = code_of(r);
            Python::attach(|py| call_cb(obj.bind(py), callback, |h| Ok((h.clone(), err))))
        };
        let send = sh.get().st.borrow(slf.py());
        pipe(h, |p| match &send.uv {
            Uv::Tcp(t) => p.write_handle(bytes, t, done),
            Uv::Pipe(q) => p.write_handle(bytes, q, done),
            Uv::Udp(u) => p.write_handle(bytes, u, done),
            _ => Err(uv::Error::EINVAL),
        })
    }

    #[getter]
    fn ipc(&self) -> bool {
        self.ipc
    }

    #[getter]
    fn get_send_buffer_size(slf: &Bound<'_, Self>) -> PyResult<usize> {
        pipe(base(slf), |p| p.send_buffer_size())
    }

    #[deleter(send_buffer_size)]
    fn del_send_buffer_size(&self) -> PyResult<()> {
        Err(super::errors::no_delete())
    }

    #[setter]
    fn set_send_buffer_size(slf: &Bound<'_, Self>, v: usize) -> PyResult<()> {
        pipe(base(slf), |p| p.set_send_buffer_size(v))
    }

    #[getter]
    fn get_receive_buffer_size(slf: &Bound<'_, Self>) -> PyResult<usize> {
        pipe(base(slf), |p| p.recv_buffer_size())
    }

    #[deleter(receive_buffer_size)]
    fn del_receive_buffer_size(&self) -> PyResult<()> {
        Err(super::errors::no_delete())
    }

    #[setter]
    fn set_receive_buffer_size(slf: &Bound<'_, Self>, v: usize) -> PyResult<()> {
        pipe(base(slf), |p| p.set_recv_buffer_size(v))
    }
}

/// `TTY(loop, fd, readable)`: a terminal, on a duplicate of `fd`.
#[pyclass(module = "pyuv._cpyuv", name = "TTY", extends = Stream, subclass, frozen)]
pub struct TTY;

#[pymethods]
impl TTY {
    #[new]
    #[pyo3(signature = (r#loop, fd, readable, *_a, **_k))]
    fn new(
        r#loop: &Bound<'_, Loop>,
        fd: &Bound<'_, PyAny>,
        readable: bool,
        _a: &Bound<'_, PyTuple>,
        _k: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let _ = readable; // libuv decides from the descriptor on Unix
        let fd = super::util::fd_of(fd)?;
        let lh = Handle::uv_loop(r#loop, ErrKind::Tty)?;
        let owned = uv::dup_fd(fd).map_err(|e| uv_err(ErrKind::Tty, e))?;
        let t = uv::Tty::new(&lh, owned).map_err(|e| uv_err(ErrKind::Tty, e))?;
        let h = Handle::new(r#loop, ErrKind::Tty, Uv::Tty(t));
        Ok(PyClassInitializer::from(h)
            .add_subclass(Stream)
            .add_subclass(TTY))
    }

    /// `(width, height)`.
    fn get_winsize(slf: &Bound<'_, Self>) -> PyResult<(u16, u16)> {
        Handle::with_uv(base(slf), |u| match u {
            Uv::Tty(t) => t.winsize(),
            _ => Err(uv::Error::EBADF),
        })
    }

    /// 0 normal, 1 raw, 2 io.
    fn set_mode(slf: &Bound<'_, Self>, mode: i32) -> PyResult<()> {
        let m = match mode {
            0 => uv::TtyMode::Normal,
            1 => uv::TtyMode::Raw,
            2 => uv::TtyMode::Io,
            _ => return Err(uv_err(ErrKind::Tty, uv::Error::EINVAL)),
        };
        Handle::with_uv(base(slf), |u| match u {
            Uv::Tty(t) => t.set_mode(m),
            _ => Err(uv::Error::EBADF),
        })
    }

    /// Restores every terminal libuv put in another mode.
    #[classmethod]
    fn reset_mode(_cls: &Bound<'_, pyo3::types::PyType>) -> PyResult<()> {
        uv::reset_tty_mode().map_err(|e| uv_err(ErrKind::Tty, e))
    }
}
