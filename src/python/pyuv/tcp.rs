//! `pyuv.TCP`.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::errors::{ErrKind, code_of, ebadf_is_einval, uv_err};
use super::handle::{Handle, Uv, call_cb, check_callable};
use super::loop_::Loop;
use super::stream::{self, Stream};
use super::util::{addr_tuple, sockaddr};
use super::watchers::base;
use crate::uv;

const UV_TCP_IPV6ONLY: u32 = 1;

fn tcp<R>(h: &Bound<'_, Handle>, f: impl FnOnce(&uv::Tcp) -> uv::Result<R>) -> PyResult<R> {
    Handle::with_uv(h, |u| match u {
        Uv::Tcp(t) => f(t),
        _ => Err(uv::Error::EBADF),
    })
}

/// `TCP(loop, family=AF_UNSPEC)`: a family other than `AF_UNSPEC` makes the socket at once.
#[pyclass(module = "pyuv._cpyuv", name = "TCP", extends = Stream, subclass, frozen)]
pub struct TCP;

#[pymethods]
impl TCP {
    #[new]
    #[pyo3(signature = (r#loop, family = 0, *_a, **_k))]
    fn new(
        r#loop: &Bound<'_, Loop>,
        family: i32,
        _a: &Bound<'_, PyTuple>,
        _k: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let lh = Handle::uv_loop(r#loop, ErrKind::Tcp)?;
        let t = if family == libc::AF_UNSPEC {
            uv::Tcp::new(&lh)
        } else {
            uv::Tcp::with_family(&lh, family)
        }
        .map_err(|e| uv_err(ErrKind::Tcp, e))?;
        let h = Handle::new(r#loop, ErrKind::Tcp, Uv::Tcp(t));
        Ok(PyClassInitializer::from(h)
            .add_subclass(Stream)
            .add_subclass(TCP))
    }

    /// `bind((ip, port[, flowinfo, scope_id]), flags=0)`; `flags` may be `UV_TCP_IPV6ONLY`.
    #[pyo3(signature = (addr, flags = 0))]
    fn bind(slf: &Bound<'_, Self>, addr: &Bound<'_, PyAny>, flags: u32) -> PyResult<()> {
        let a = sockaddr(addr, false)?;
        let f = uv::TcpBindFlags {
            ipv6_only: flags & UV_TCP_IPV6ONLY != 0,
            ..Default::default()
        };
        tcp(base(slf), |t| t.bind_with(a, f))
    }

    #[pyo3(signature = (callback, backlog = 511))]
    fn listen(slf: &Bound<'_, Self>, callback: Py<PyAny>, backlog: i32) -> PyResult<()> {
        stream::listen(base(slf), callback, backlog)
    }

    fn accept(slf: &Bound<'_, Self>, client: &Bound<'_, PyAny>) -> PyResult<()> {
        stream::accept(base(slf), client)
    }

    /// `connect((ip, port), callback)`: `callback(handle, error)`.
    fn connect(
        slf: &Bound<'_, Self>,
        addr: &Bound<'_, PyAny>,
        callback: Py<PyAny>,
    ) -> PyResult<()> {
        check_callable(callback.bind(slf.py()))?;
        let a = sockaddr(addr, false)?;
        let h = base(slf);
        let obj = h.clone().unbind();
        let mut cb = Some(callback);
        tcp(h, |t| {
            let cb = cb.take();
            t.connect(a, move |_, r| {
                let err = code_of(r);
                Python::attach(|py| call_cb(obj.bind(py), cb, |h| Ok((h.clone(), err))))
            })
        })
    }

    /// Takes `fd` over: `fileno()` is `fd`, `close()` closes it.
    fn open(slf: &Bound<'_, Self>, fd: &Bound<'_, PyAny>) -> PyResult<()> {
        Handle::adopt_fd(base(slf), fd, ErrKind::Tcp, |lh, fd| {
            uv::Tcp::open(lh, fd).map(Uv::Tcp)
        })
    }

    fn getsockname<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        // pyuv's libuv said EINVAL for a handle without a socket; libuv now says EBADF.
        let a = tcp(base(slf), |t| t.sockname().map_err(ebadf_is_einval))?;
        addr_tuple(slf.py(), a)
    }

    fn getpeername<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let a = tcp(base(slf), |t| t.peername())?;
        addr_tuple(slf.py(), a)
    }

    fn nodelay(slf: &Bound<'_, Self>, enable: bool) -> PyResult<()> {
        tcp(base(slf), |t| t.set_nodelay(enable))
    }

    /// `keepalive(enable, delay)`: `delay` seconds before the first probe.
    fn keepalive(slf: &Bound<'_, Self>, enable: bool, delay: u64) -> PyResult<()> {
        let d = enable.then(|| Duration::from_secs(delay.max(1)));
        tcp(base(slf), |t| t.set_keepalive(d))
    }

    fn simultaneous_accepts(slf: &Bound<'_, Self>, enable: bool) -> PyResult<()> {
        tcp(base(slf), |t| t.set_simultaneous_accepts(enable))
    }

    /// The socket's address family; `TCPError(UV_EINVAL)` before it has a socket.
    #[getter]
    fn family(slf: &Bound<'_, Self>) -> PyResult<i32> {
        let a = tcp(base(slf), |t| t.sockname().map_err(|_| uv::Error::EINVAL))?;
        Ok(if a.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        })
    }

    #[getter]
    fn get_send_buffer_size(slf: &Bound<'_, Self>) -> PyResult<usize> {
        tcp(base(slf), |t| t.send_buffer_size())
    }

    #[deleter(send_buffer_size)]
    fn del_send_buffer_size(&self) -> PyResult<()> {
        Err(super::errors::no_delete())
    }

    #[setter]
    fn set_send_buffer_size(slf: &Bound<'_, Self>, v: usize) -> PyResult<()> {
        tcp(base(slf), |t| t.set_send_buffer_size(v))
    }

    #[getter]
    fn get_receive_buffer_size(slf: &Bound<'_, Self>) -> PyResult<usize> {
        tcp(base(slf), |t| t.recv_buffer_size())
    }

    #[deleter(receive_buffer_size)]
    fn del_receive_buffer_size(&self) -> PyResult<()> {
        Err(super::errors::no_delete())
    }

    #[setter]
    fn set_receive_buffer_size(slf: &Bound<'_, Self>, v: usize) -> PyResult<()> {
        tcp(base(slf), |t| t.set_recv_buffer_size(v))
    }
}
