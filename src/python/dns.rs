//! `getaddrinfo`/`getnameinfo` on libuv's threadpool, completing an asyncio future with what
//! `socket.getaddrinfo`/`socket.getnameinfo` would return (python/rsuv/_loop.py turns the
//! families and types into `socket`'s enums, and resolves numeric hosts without a thread).

use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::uv::{self, AddrInfo, AddrInfoHints, Error as UvError, LoopHandle};

/// The exception Python raises for a failed lookup: `socket.gaierror(code, message)` for the
/// resolver's errors, `OSError` for a system error.
fn lookup_error(py: Python<'_>, e: UvError) -> PyErr {
    match uv::gai_error(e) {
        Some((code, msg)) => match py.import("socket").and_then(|s| s.getattr("gaierror")) {
            Ok(gaierror) => match gaierror.call1((code, msg)) {
                Ok(exc) => PyErr::from_value(exc),
                Err(err) => err,
            },
            Err(err) => err,
        },
        None => super::readers::os_error(e),
    }
}

fn sockaddr<'py>(py: Python<'py>, addr: &SocketAddr) -> PyResult<Bound<'py, PyAny>> {
    Ok(match addr {
        SocketAddr::V4(a) => (a.ip().to_string(), a.port()).into_pyobject(py)?.into_any(),
        SocketAddr::V6(a) => (a.ip().to_string(), a.port(), a.flowinfo(), a.scope_id())
            .into_pyobject(py)?
            .into_any(),
    })
}

fn results<'py>(py: Python<'py>, infos: &[AddrInfo]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for ai in infos {
        let canon = ai.canonname.clone().unwrap_or_default();
        list.append((
            ai.family,
            ai.socktype,
            ai.protocol,
            canon,
            sockaddr(py, &ai.addr)?,
        ))?;
    }
    Ok(list)
}

/// Settles `fut` with `value` or `err`, unless it is done (cancelled) already.
fn settle(py: Python<'_>, fut: &Py<PyAny>, outcome: PyResult<Bound<'_, PyAny>>) {
    let fut = fut.bind(py);
    let loop_closed = fut
        .call_method0("get_loop")
        .and_then(|l| l.call_method0("is_closed"))
        .and_then(|c| c.is_truthy());
    if !matches!(loop_closed, Ok(false)) {
        return; // close() is finishing this request: nobody waits for it
    }
    let done = fut.call_method0("done").and_then(|d| d.is_truthy());
    if !matches!(done, Ok(false)) {
        return;
    }
    let r = match outcome {
        Ok(v) => fut.call_method1("set_result", (v,)),
        Err(e) => fut.call_method1("set_exception", (e.into_value(py),)),
    };
    if let Err(e) = r {
        e.write_unraisable(py, Some(fut));
    }
}

/// Starts `getaddrinfo(host, port, family, type, proto, flags)`; its results (as tuples of
/// ints, canonical name and address) or its `gaierror` settle `fut`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn getaddrinfo(
    lp: &LoopHandle,
    host: Option<String>,
    port: Option<String>,
    hints: (i32, i32, i32, i32),
    fut: Py<PyAny>,
    py: Python<'_>,
) -> PyResult<()> {
    let (family, socktype, protocol, flags) = hints;
    let hints = AddrInfoHints {
        family,
        socktype,
        protocol,
        flags,
    };
    let cb = move |res: uv::Result<Vec<AddrInfo>>| {
        Python::attach(|py| {
            let outcome = res
                .map_err(|e| lookup_error(py, e))
                .and_then(|v| results(py, &v).map(Bound::into_any));
            settle(py, &fut, outcome);
        })
    };
    uv::getaddrinfo(lp, host.as_deref(), port.as_deref(), Some(hints), cb)
        .map(drop)
        .map_err(|e| lookup_error(py, e))
}

/// Starts `getnameinfo((ip, port, flowinfo, scope_id), flags)` for a numeric address;
/// `(host, service)` or its `gaierror` settle `fut`.
pub(crate) fn getnameinfo(
    lp: &LoopHandle,
    addr: (String, u16, u32, u32),
    flags: i32,
    fut: Py<PyAny>,
    py: Python<'_>,
) -> PyResult<()> {
    let (ip, port, flowinfo, scope) = addr;
    let ip: IpAddr = ip.parse().map_err(|_| {
        pyo3::exceptions::PyValueError::new_err(format!("not a numeric address: {ip:?}"))
    })?;
    let sa = match ip {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V4(v4), port),
        IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, flowinfo, scope)),
    };
    let cb = move |res: uv::Result<(String, String)>| {
        Python::attach(|py| {
            let outcome = res
                .map_err(|e| lookup_error(py, e))
                .and_then(|hs| Ok(hs.into_pyobject(py)?.into_any()));
            settle(py, &fut, outcome);
        })
    };
    uv::getnameinfo(lp, sa, flags, cb)
        .map(drop)
        .map_err(|e| lookup_error(py, e))
}
