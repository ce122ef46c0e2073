//! `pyuv.dns`: `getaddrinfo` and `getnameinfo`, blocking without a callback, on libuv's
//! threadpool with one (`callback(result, errorno)`).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use super::errors::{ErrKind, uv_err};
use super::handle::check_callable;
use super::loop_::{Loop, report};
use super::requests::{Pending, Request};
use super::util::{ResultType, addr_tuple, sockaddr};
use crate::uv;

static ADDRINFO: ResultType = ResultType::new(
    "pyuv.dns.addrinfo_result",
    "family socktype proto canonname sockaddr",
);

/// What an asynchronous `getaddrinfo` returns.
#[pyclass(module = "pyuv._cpyuv", name = "GAIRequest", extends = Request, subclass, frozen)]
pub struct GAIRequest;

/// What an asynchronous `getnameinfo` returns.
#[pyclass(module = "pyuv._cpyuv", name = "GNIRequest", extends = Request, subclass, frozen)]
pub struct GNIRequest;

fn results(py: Python<'_>, list: Vec<uv::AddrInfo>) -> PyResult<Py<PyAny>> {
    let out = PyList::empty(py);
    for a in list {
        let row = (
            a.family,
            a.socktype,
            a.protocol,
            a.canonname.unwrap_or_default(),
            addr_tuple(py, a.addr)?,
        );
        out.append(ADDRINFO.make(py, row)?)?;
    }
    Ok(out.into_any().unbind())
}

/// Calls `callback(result, errorno)` with a request's outcome.
fn deliver<T>(
    py: Python<'_>,
    lp: &Bound<'_, Loop>,
    cb: &Py<PyAny>,
    r: uv::Result<T>,
    conv: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>>,
) {
    let (value, err) = match r {
        Ok(v) => match conv(py, v) {
            Ok(v) => (Some(v), None),
            Err(e) => return report(py, lp, e),
        },
        Err(e) => (None, Some(e.code())),
    };
    if let Err(e) = cb.bind(py).call1((value, err)) {
        report(py, lp, e);
    }
}

/// A host or service name given as `str` or (ASCII) `bytes`, as pyuv accepts them.
fn text(o: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(b) = o.cast::<PyBytes>() {
        return String::from_utf8(b.as_bytes().to_vec())
            .map_err(|_| PyValueError::new_err("a name must be ASCII"));
    }
    o.extract::<String>()
}

#[pyfunction]
#[pyo3(signature = (r#loop, host, port = None, family = 0, socktype = 0, protocol = 0, flags = 0, callback = None))]
#[allow(clippy::too_many_arguments)]
fn getaddrinfo(
    r#loop: &Bound<'_, Loop>,
    host: Option<&Bound<'_, PyAny>>,
    port: Option<&Bound<'_, PyAny>>,
    family: i32,
    socktype: i32,
    protocol: i32,
    flags: i32,
    callback: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let py = r#loop.py();
    let host = host.filter(|h| !h.is_none()).map(text).transpose()?;
    let host = host.as_deref();
    let service = match port {
        None => None,
        Some(p) if p.is_none() => None,
        Some(p) if p.is_instance_of::<PyString>() || p.is_instance_of::<PyBytes>() => {
            Some(text(p)?)
        }
        Some(p) => Some(
            u16::try_from(p.extract::<i64>()?)
                .map_err(|_| PyValueError::new_err("port must be between 0 and 65535"))?
                .to_string(),
        ),
    };
    let hints = uv::AddrInfoHints {
        family,
        socktype,
        protocol,
        flags,
    };
    let lh = r#loop
        .get()
        .uv_handle(py)
        .map_err(|e| uv_err(ErrKind::Uv, e))?;
    let Some(cb) = callback else {
        let list = uv::getaddrinfo_blocking(&lh, host, service.as_deref(), Some(hints))
            .map_err(|e| uv_err(ErrKind::Uv, e))?;
        return results(py, list);
    };
    check_callable(cb.bind(py))?;
    let req = Py::new(
        py,
        PyClassInitializer::from(Request::new(r#loop)).add_subclass(GAIRequest),
    )?;
    let (req2, lp2) = (req.clone_ref(py), r#loop.clone().unbind());
    let d = uv::getaddrinfo(&lh, host, service.as_deref(), Some(hints), move |r| {
        Python::attach(|py| {
            Request::finish(req2.bind(py).as_super());
            deliver(py, lp2.bind(py), &cb, r, results);
        })
    })
    .map_err(|e| uv_err(ErrKind::Uv, e))?;
    Request::set_pending(req.bind(py).as_super(), Pending::Dns(d));
    Ok(req.into_any())
}

#[pyfunction]
#[pyo3(signature = (r#loop, address, flags = 0, callback = None))]
fn getnameinfo(
    r#loop: &Bound<'_, Loop>,
    address: &Bound<'_, PyAny>,
    flags: i32,
    callback: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let py = r#loop.py();
    let addr = sockaddr(address, false)?;
    let lh = r#loop
        .get()
        .uv_handle(py)
        .map_err(|e| uv_err(ErrKind::Uv, e))?;
    let pair = |py: Python<'_>, (h, s): (String, String)| -> PyResult<Py<PyAny>> {
        Ok((h, s).into_pyobject(py)?.into_any().unbind())
    };
    let Some(cb) = callback else {
        let names =
            uv::getnameinfo_blocking(&lh, addr, flags).map_err(|e| uv_err(ErrKind::Uv, e))?;
        return pair(py, names);
    };
    check_callable(cb.bind(py))?;
    let req = Py::new(
        py,
        PyClassInitializer::from(Request::new(r#loop)).add_subclass(GNIRequest),
    )?;
    let (req2, lp2) = (req.clone_ref(py), r#loop.clone().unbind());
    let d = uv::getnameinfo(&lh, addr, flags, move |r| {
        Python::attach(|py| {
            Request::finish(req2.bind(py).as_super());
            deliver(py, lp2.bind(py), &cb, r, pair);
        })
    })
    .map_err(|e| uv_err(ErrKind::Uv, e))?;
    Request::set_pending(req.bind(py).as_super(), Pending::Dns(d));
    Ok(req.into_any())
}

/// Fills `pyuv.dns`.
pub(crate) fn dns_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(getaddrinfo, m)?)?;
    m.add_function(wrap_pyfunction!(getnameinfo, m)?)?;
    m.add("addrinfo_result", ADDRINFO.get(m.py())?)?;
    Ok(())
}
