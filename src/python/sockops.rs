//! `sock_recv`, `sock_recv_into` and `sock_sendall` done in Rust for plain sockets: the
//! system call is tried at once and, if it would block, again from the loop's readiness
//! callback, which settles the future itself. No Python callback, handle or exception sits
//! on that path (asyncio's runs `sock.recv` from a `Handle` and raises `BlockingIOError` on
//! every miss).
//!
//! Only exact `socket.socket` objects come here (`python/rsuv/_sock.py` checks): their
//! methods cannot be replaced on the instance (the class has `__slots__`), so calling
//! `recv(2)`/`send(2)` on the descriptor is what `sock.recv`/`sock.send` would do.
//!
//! A pending call is a [`SockOp`] registered as the reader (or writer) of its descriptor in
//! the loop's `Io`, in place of a handle. Its future is an `rsuv._sock._SockFuture`, whose
//! `cancel` unregisters the call before cancelling (`LoopCore._sock_op_cancel`), so a
//! cancelled receive never reads a byte that nobody waits for.

use std::ffi::c_void;
use std::os::fd::RawFd;

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict};

use super::loop_core::LoopCore;
use super::readbuf::RawBuf;
use super::readers::{os_error, registrable};
use crate::uv::Error as UvError;

/// Receives of up to this many bytes go through a buffer on the stack, larger ones through
/// one on the heap, then into an exact-size `bytes` (one copy; CPython's `recv` allocates
/// the whole asked size and shrinks it instead).
const STACK_RECV: usize = 64 * 1024;

/// A pending socket call.
pub(crate) struct SockOp {
    fut: Py<PyAny>,
    /// Kept alive while the call waits (as asyncio's handle keeps it through its arguments).
    sock: Py<PyAny>,
    kind: Kind,
}

enum Kind {
    Recv { n: usize },
    RecvInto { buf: RawBuf },
    SendAll { buf: RawBuf, pos: usize },
}

/// What one attempt came to.
pub(crate) enum Attempt {
    /// It would block: keep waiting.
    Again,
    /// Settle the future with this result or error.
    Done(PyResult<Py<PyAny>>),
}

impl SockOp {
    pub(crate) fn future(&self) -> &Py<PyAny> {
        &self.fut
    }

    /// One try of the call; the future is not touched (the caller settles it once the
    /// registration is gone).
    pub(crate) fn attempt(&mut self, py: Python<'_>, fd: RawFd) -> Attempt {
        match &mut self.kind {
            Kind::Recv { n } => recv_bytes(py, fd, *n),
            Kind::RecvInto { buf } => recv_into(py, fd, buf),
            Kind::SendAll { buf, pos } => match send_from(fd, buf, pos) {
                Ok(true) => Attempt::Done(Ok(py.None())),
                Ok(false) => Attempt::Again,
                Err(e) => Attempt::Done(Err(e)),
            },
        }
    }

    pub(crate) fn traverse(
        &self,
        visit: &pyo3::gc::PyVisit<'_>,
    ) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.fut)?;
        visit.call(&self.sock)?;
        match &self.kind {
            Kind::Recv { .. } => Ok(()),
            Kind::RecvInto { buf } | Kind::SendAll { buf, .. } => buf.traverse(visit),
        }
    }
}

/// The calling thread's `errno` after a failed call: `None` for "would block"/"interrupted".
fn failed() -> Option<i32> {
    let e = std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO);
    (e != libc::EAGAIN && e != libc::EWOULDBLOCK && e != libc::EINTR).then_some(e)
}

/// The `OSError` subclass Python raises for `errno`, with `errno` and `strerror` set.
fn errno_error(errno: i32) -> PyErr {
    os_error(UvError::from_raw(-errno))
}

fn recv_bytes(py: Python<'_>, fd: RawFd, n: usize) -> Attempt {
    if n <= STACK_RECV {
        // Not zeroed: recv writes what is read, and only that is looked at.
        let mut buf = std::mem::MaybeUninit::<[u8; STACK_RECV]>::uninit();
        let ptr = buf.as_mut_ptr().cast::<u8>();
        // SAFETY: `buf` has room for `n <= STACK_RECV` bytes.
        let got = unsafe { libc::recv(fd, ptr.cast::<c_void>(), n, 0) };
        if got < 0 {
            return failed().map_or(Attempt::Again, |e| Attempt::Done(Err(errno_error(e))));
        }
        // SAFETY: recv initialised the first `got` bytes of `buf`.
        let read = unsafe { std::slice::from_raw_parts(ptr, got as usize) };
        return Attempt::Done(Ok(PyBytes::new(py, read).into_any().unbind()));
    }
    let mut heap: Vec<u8> = Vec::new();
    if heap.try_reserve_exact(n).is_err() {
        return Attempt::Done(Err(pyo3::exceptions::PyMemoryError::new_err(())));
    }
    // SAFETY: `heap` has capacity for `n` bytes; recv writes at most that many.
    let got = unsafe { libc::recv(fd, heap.as_mut_ptr().cast::<c_void>(), n, 0) };
    if got < 0 {
        return failed().map_or(Attempt::Again, |e| Attempt::Done(Err(errno_error(e))));
    }
    // SAFETY: recv initialised the first `got` bytes.
    unsafe { heap.set_len(got as usize) };
    Attempt::Done(Ok(PyBytes::new(py, &heap).into_any().unbind()))
}

fn recv_into(py: Python<'_>, fd: RawFd, buf: &RawBuf) -> Attempt {
    // SAFETY: the exported writable buffer has `len` bytes and stays exported while `buf`
    // lives.
    let got = unsafe { libc::recv(fd, buf.ptr().cast::<c_void>(), buf.len(), 0) };
    if got < 0 {
        return failed().map_or(Attempt::Again, |e| Attempt::Done(Err(errno_error(e))));
    }
    Attempt::Done((got as usize).into_py_any(py))
}

/// Sends from `*pos` on until everything is sent (`true`) or the socket is full (`false`).
fn send_from(fd: RawFd, buf: &RawBuf, pos: &mut usize) -> PyResult<bool> {
    while *pos < buf.len() {
        // SAFETY: `pos < len`: the range lies in the exported buffer, alive while `buf` is.
        let sent = unsafe {
            libc::send(
                fd,
                buf.ptr().add(*pos).cast::<c_void>(),
                buf.len() - *pos,
                libc::MSG_NOSIGNAL,
            )
        };
        if sent < 0 {
            return match failed() {
                Some(e) => Err(errno_error(e)),
                None => Ok(false),
            };
        }
        *pos += sent as usize;
    }
    Ok(true)
}

/// What a `sock_*` call started in Rust gives Python: its result, or the operation to
/// register and the future to await.
pub(crate) enum Started {
    Ready(Py<PyAny>),
    Wait(SockOp),
}

/// The first attempt of `sock_recv(sock, n)` on descriptor `fd`.
pub(crate) fn start_recv(
    py: Python<'_>,
    sock: &Bound<'_, PyAny>,
    fd: RawFd,
    n: usize,
) -> PyResult<Started> {
    match recv_bytes(py, fd, n) {
        Attempt::Done(r) => Ok(Started::Ready(r?)),
        Attempt::Again => Ok(Started::Wait(pending(sock, Kind::Recv { n }))),
    }
}

/// The first attempt of `sock_recv_into(sock, buf)`.
pub(crate) fn start_recv_into(
    py: Python<'_>,
    sock: &Bound<'_, PyAny>,
    fd: RawFd,
    buf: &Bound<'_, PyAny>,
) -> PyResult<Started> {
    let buf = RawBuf::get(buf, true)?;
    match recv_into(py, fd, &buf) {
        Attempt::Done(r) => Ok(Started::Ready(r?)),
        Attempt::Again => Ok(Started::Wait(pending(sock, Kind::RecvInto { buf }))),
    }
}

/// The first attempt of `sock_sendall(sock, data)`: sends what the socket takes now.
pub(crate) fn start_sendall(
    py: Python<'_>,
    sock: &Bound<'_, PyAny>,
    fd: RawFd,
    data: &Bound<'_, PyAny>,
) -> PyResult<Started> {
    let buf = RawBuf::get(data, false)?;
    let mut pos = 0;
    if send_from(fd, &buf, &mut pos)? {
        return Ok(Started::Ready(py.None()));
    }
    Ok(Started::Wait(pending(sock, Kind::SendAll { buf, pos })))
}

/// An operation whose future is still to be made (`with_future`).
fn pending(sock: &Bound<'_, PyAny>, kind: Kind) -> SockOp {
    SockOp {
        fut: sock.py().None(),
        sock: sock.clone().unbind(),
        kind,
    }
}

impl SockOp {
    /// Gives the operation its future, an `rsuv._sock._SockFuture(loop=...)` that knows
    /// where it is registered (`fd * 2 + writer`, for its `cancel`).
    pub(crate) fn with_future(
        mut self,
        py: Python<'_>,
        loop_kwargs: &Bound<'_, PyDict>,
        fd: RawFd,
        writer: bool,
    ) -> PyResult<(SockOp, Py<PyAny>)> {
        static SOCK_FUTURE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let cls = SOCK_FUTURE.import(py, "rsuv._sock", "_SockFuture")?;
        let fut = cls.call((), Some(loop_kwargs))?;
        let key = i64::from(fd) * 2 + i64::from(writer);
        fut.setattr(pyo3::intern!(py, "_rsuv_io"), key)?;
        self.fut = fut.clone().unbind();
        Ok((self, fut.unbind()))
    }
}

/// Whether the loop's transport registry (`_sock.py`: `_transports`, a
/// `WeakValueDictionary` by descriptor) names `fd`: its `data` dict is looked at directly
/// (its `__len__`/`get` are Python code); the loop's own `_ensure_fd_no_transport` then
/// decides (a closing transport does not count).
fn owned_by_a_transport(lp: &Bound<'_, LoopCore>, fd: RawFd) -> bool {
    let py = lp.py();
    let data = lp
        .getattr(pyo3::intern!(py, "_transports"))
        .and_then(|t| t.getattr(pyo3::intern!(py, "data")));
    match data {
        Ok(d) => match d.cast::<PyDict>() {
            Ok(d) => d.contains(fd).unwrap_or(true),
            Err(_) => true, // not what we made: let the Python check say
        },
        Err(_) => false, // no transport was ever made on this loop
    }
}

/// A `sock_*` call to start in Rust.
pub(crate) enum Call<'a, 'py> {
    Recv(usize),
    RecvInto(&'a Bound<'py, PyAny>),
    SendAll(&'a Bound<'py, PyAny>),
}

/// Starts `call` on the plain socket `sock` of loop `lp`: its result if it completes now,
/// else the future that the loop settles once it does. asyncio's checks come first: a
/// blocking socket is a `ValueError`; waiting on a descriptor that a transport owns is a
/// `RuntimeError` (the loop's `_ensure_fd_no_transport`, asked only when it has transports).
pub(crate) fn begin(
    lp: &Bound<'_, LoopCore>,
    sock: &Bound<'_, PyAny>,
    call: Call<'_, '_>,
) -> PyResult<Py<PyAny>> {
    let py = lp.py();
    let timeout = sock.call_method0(pyo3::intern!(py, "gettimeout"))?;
    if timeout.is_none() || timeout.extract::<f64>()? != 0.0 {
        return Err(PyValueError::new_err("the socket must be non-blocking"));
    }
    let fd: i64 = sock.call_method0(pyo3::intern!(py, "fileno"))?.extract()?;
    let fd = registrable(fd)?;
    let writer = matches!(call, Call::SendAll(_));
    let started = match call {
        Call::Recv(n) => start_recv(py, sock, fd, n)?,
        Call::RecvInto(buf) => start_recv_into(py, sock, fd, buf)?,
        Call::SendAll(data) => start_sendall(py, sock, fd, data)?,
    };
    let op = match started {
        Started::Ready(v) => return Ok(v),
        Started::Wait(op) => op,
    };
    lp.get().inner().check_open()?;
    if owned_by_a_transport(lp, fd) {
        lp.call_method1(pyo3::intern!(py, "_ensure_fd_no_transport"), (fd,))?;
    }
    let (op, fut) = op.with_future(py, &LoopCore::future_kwargs(lp)?, fd, writer)?;
    lp.get()
        .inner()
        .io
        .add_op(py, fd, Box::new(op), writer, sock)?;
    Ok(fut)
}
