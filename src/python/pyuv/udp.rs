//! `pyuv.UDP`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use super::errors::{ErrKind, code_of, ebadf_is_einval, uv_err};
use super::handle::{Handle, MAIN, Uv, call_cb, check_callable, check_callable_opt};
use super::loop_::Loop;
use super::stream::{buffers, joined};
use super::util::{addr_tuple, ip_opt, sockaddr};
use super::watchers::base;
use crate::uv;

const UV_UDP_IPV6ONLY: u32 = 1;
const UV_UDP_PARTIAL: i32 = 2;
const UV_UDP_REUSEADDR: u32 = 4;
const UV_JOIN_GROUP: i32 = 1;

fn udp<R>(h: &Bound<'_, Handle>, f: impl FnOnce(&uv::Udp) -> uv::Result<R>) -> PyResult<R> {
    Handle::with_uv(h, |u| match u {
        Uv::Udp(s) => f(s),
        _ => Err(uv::Error::EBADF),
    })
}

/// `UDP(loop, family=AF_UNSPEC)`.
#[pyclass(module = "pyuv._cpyuv", name = "UDP", extends = Handle, subclass, frozen)]
pub struct UDP;

#[pymethods]
impl UDP {
    #[new]
    #[pyo3(signature = (r#loop, family = 0, *_a, **_k))]
    fn new(
        r#loop: &Bound<'_, Loop>,
        family: i32,
        _a: &Bound<'_, PyTuple>,
        _k: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let lh = Handle::uv_loop(r#loop, ErrKind::Udp)?;
        let s = if family == libc::AF_UNSPEC {
            uv::Udp::new(&lh)
        } else {
            uv::Udp::with_family(&lh, family)
        }
        .map_err(|e| uv_err(ErrKind::Udp, e))?;
        let h = Handle::new(r#loop, ErrKind::Udp, Uv::Udp(s));
        Ok(PyClassInitializer::from(h).add_subclass(UDP))
    }

    /// `bind((ip, port), flags=0)`: `flags` `UV_UDP_IPV6ONLY | UV_UDP_REUSEADDR`; the host
    /// may be `"<broadcast>"`.
    #[pyo3(signature = (addr, flags = 0))]
    fn bind(slf: &Bound<'_, Self>, addr: &Bound<'_, PyAny>, flags: u32) -> PyResult<()> {
        let a = sockaddr(addr, true)?;
        let f = uv::UdpBindFlags {
            ipv6_only: flags & UV_UDP_IPV6ONLY != 0,
            reuse_addr: flags & UV_UDP_REUSEADDR != 0,
            ..Default::default()
        };
        udp(base(slf), |s| s.bind_with(a, f))
    }

    /// `callback(handle, (ip, port) | None, flags, data | None, error | None)`.
    fn start_recv(slf: &Bound<'_, Self>, callback: Py<PyAny>) -> PyResult<()> {
        let h = base(slf);
        check_callable(callback.bind(slf.py()))?;
        let ctx = Handle::ctx(h)?;
        udp(h, |s| {
            s.recv_start(move |_, r| {
                Python::attach(|py| {
                    ctx.fire(py, MAIN, |h| {
                        Ok(match r {
                            Ok(d) => {
                                let flags = if d.truncated { UV_UDP_PARTIAL } else { 0 };
                                let addr = addr_tuple(py, d.addr)?;
                                let data = PyBytes::new(py, d.data);
                                (h.clone(), Some(addr), flags, Some(data), None)
                            }
                            Err(e) => (h.clone(), None, 0, None, Some(e.code())),
                        })
                    })
                })
            })
        })?;
        Handle::set_cb(h, MAIN, Some(callback));
        Handle::sync_keep(h);
        Ok(())
    }

    fn stop_recv(slf: &Bound<'_, Self>) -> PyResult<()> {
        let h = base(slf);
        udp(h, |s| s.recv_stop())?;
        Handle::sync_keep(h);
        Ok(())
    }

    /// `send((ip, port), data, callback=None)`: `callback(handle, error)`.
    #[pyo3(signature = (addr, data, callback = None))]
    fn send(
        slf: &Bound<'_, Self>,
        addr: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        check_callable_opt(slf.py(), callback.as_ref())?;
        let a = sockaddr(addr, true)?;
        let bufs = buffers(data)?;
        let h = base(slf);
        let obj = h.clone().unbind();
        udp(h, |s| {
            s.send_vectored(bufs, Some(a), move |_, r| {
                let err = code_of(r);
                Python::attach(|py| call_cb(obj.bind(py), callback, |h| Ok((h.clone(), err))))
            })
        })
    }

    /// Sends now if the socket can; the count sent (`UDPError(UV_EAGAIN)` if it cannot).
    fn try_send(
        slf: &Bound<'_, Self>,
        addr: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let a = sockaddr(addr, true)?;
        let bytes = joined(&buffers(data)?);
        udp(base(slf), |s| s.try_send(&bytes, Some(a)))
    }

    /// Takes `fd` over: `fileno()` is `fd`, `close()` closes it.
    fn open(slf: &Bound<'_, Self>, fd: &Bound<'_, PyAny>) -> PyResult<()> {
        Handle::adopt_fd(base(slf), fd, ErrKind::Udp, |lh, fd| {
            uv::Udp::open(lh, fd).map(Uv::Udp)
        })
    }

    /// `UDPError(UV_EINVAL)` while unbound.
    fn getsockname<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        // pyuv's libuv said EINVAL for a handle without a socket; libuv now says EBADF.
        let a = udp(base(slf), |s| s.sockname().map_err(ebadf_is_einval))?;
        addr_tuple(slf.py(), a)
    }

    fn fileno(slf: &Bound<'_, Self>) -> PyResult<i32> {
        if let Some(fd) = Handle::adopted_fd(base(slf)) {
            return Ok(fd);
        }
        let st = base(slf).get().st.borrow(slf.py());
        match &st.uv {
            Uv::Udp(s) => s.fileno().map_err(|e| uv_err(ErrKind::Udp, e)),
            _ => Err(super::errors::closed()),
        }
    }

    #[getter]
    fn family(slf: &Bound<'_, Self>) -> PyResult<i32> {
        let a = udp(base(slf), |s| s.sockname().map_err(|_| uv::Error::EINVAL))?;
        Ok(if a.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        })
    }

    #[pyo3(signature = (multicast_address, membership, interface = None))]
    fn set_membership(
        slf: &Bound<'_, Self>,
        multicast_address: &str,
        membership: i32,
        interface: Option<&str>,
    ) -> PyResult<()> {
        let group =
            ip_opt(Some(multicast_address))?.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
        let iface = ip_opt(interface)?;
        udp(base(slf), |s| {
            s.set_membership(group, iface, membership == UV_JOIN_GROUP)
        })
    }

    #[pyo3(signature = (interface = None))]
    fn set_multicast_interface(slf: &Bound<'_, Self>, interface: Option<&str>) -> PyResult<()> {
        let iface = ip_opt(interface)?;
        udp(base(slf), |s| s.set_multicast_interface(iface))
    }

    fn set_multicast_loop(slf: &Bound<'_, Self>, enable: bool) -> PyResult<()> {
        udp(base(slf), |s| s.set_multicast_loop(enable))
    }

    fn set_multicast_ttl(slf: &Bound<'_, Self>, ttl: i64) -> PyResult<()> {
        let ttl = ttl_of(ttl)?;
        udp(base(slf), |s| s.set_multicast_ttl(ttl))
    }

    fn set_ttl(slf: &Bound<'_, Self>, ttl: i64) -> PyResult<()> {
        let ttl = ttl_of(ttl)?;
        udp(base(slf), |s| s.set_ttl(ttl))
    }

    fn set_broadcast(slf: &Bound<'_, Self>, enable: bool) -> PyResult<()> {
        udp(base(slf), |s| s.set_broadcast(enable))
    }

    /// Bytes queued for sending.
    #[getter]
    fn send_queue_size(slf: &Bound<'_, Self>) -> usize {
        Handle::peek_uv(base(slf), 0, |u| match u {
            Uv::Udp(s) => Ok(s.send_queue_size()),
            _ => Err(uv::Error::EBADF),
        })
    }

    #[getter]
    fn get_send_buffer_size(slf: &Bound<'_, Self>) -> PyResult<usize> {
        udp(base(slf), |s| s.send_buffer_size())
    }

    #[deleter(send_buffer_size)]
    fn del_send_buffer_size(&self) -> PyResult<()> {
        Err(super::errors::no_delete())
    }

    #[setter]
    fn set_send_buffer_size(slf: &Bound<'_, Self>, v: usize) -> PyResult<()> {
        udp(base(slf), |s| s.set_send_buffer_size(v))
    }

    #[getter]
    fn get_receive_buffer_size(slf: &Bound<'_, Self>) -> PyResult<usize> {
        udp(base(slf), |s| s.recv_buffer_size())
    }

    #[deleter(receive_buffer_size)]
    fn del_receive_buffer_size(&self) -> PyResult<()> {
        Err(super::errors::no_delete())
    }

    #[setter]
    fn set_receive_buffer_size(slf: &Bound<'_, Self>, v: usize) -> PyResult<()> {
        udp(base(slf), |s| s.set_recv_buffer_size(v))
    }
}

/// pyuv's TTL range check, before libuv's.
fn ttl_of(ttl: i64) -> PyResult<u32> {
    u32::try_from(ttl)
        .ok()
        .filter(|t| *t <= 255)
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("ttl must be between 0 and 255"))
}
