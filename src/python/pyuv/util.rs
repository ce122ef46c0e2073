//! `pyuv.util`: machine and process facts from libuv, and the helpers every pyuv module
//! shares (descriptors, addresses, the result types as struct sequences).

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyTuple};

use super::errors::{ErrKind, uv_err};
use crate::uv;

/// A descriptor from an int or an object with `fileno()`.
pub(crate) fn fd_of(obj: &Bound<'_, PyAny>) -> PyResult<i32> {
    if let Ok(fd) = obj.extract::<i32>() {
        if fd < 0 {
            return Err(PyValueError::new_err(
                "file descriptor cannot be a negative integer",
            ));
        }
        return Ok(fd);
    }
    if obj.hasattr("fileno")? {
        return obj.call_method0("fileno")?.extract::<i32>();
    }
    Err(PyTypeError::new_err(
        "argument must be an int, or have a fileno() method",
    ))
}

/// `(ip, port[, flowinfo, scope_id])` as pyuv takes it; `OverflowError` for a port over
/// 65535. `"<broadcast>"` is 255.255.255.255 when `broadcast`.
pub(crate) fn sockaddr(addr: &Bound<'_, PyAny>, broadcast: bool) -> PyResult<SocketAddr> {
    let t = addr
        .cast::<PyTuple>()
        .map_err(|_| PyTypeError::new_err("address must be a tuple"))?;
    if t.len() < 2 || t.len() > 4 {
        return Err(PyTypeError::new_err(
            "address must be (ip, port[, flowinfo, scope_id])",
        ));
    }
    let host: String = t.get_item(0)?.extract()?;
    let port: i64 = t.get_item(1)?.extract()?;
    if !(0..=65535).contains(&port) {
        return Err(PyOverflowError::new_err("port must be 0-65535"));
    }
    let port = port as u16;
    let host = if broadcast && host == "<broadcast>" {
        "255.255.255.255".into()
    } else {
        host
    };
    let host = if host.is_empty() {
        "0.0.0.0".into()
    } else {
        host
    };
    let ip: IpAddr = host
        .parse()
        .map_err(|_| uv_err(ErrKind::Uv, uv::Error::EINVAL))?;
    match ip {
        IpAddr::V4(_) => Ok(SocketAddr::new(ip, port)),
        IpAddr::V6(v6) => {
            let flow: u32 = if t.len() > 2 {
                t.get_item(2)?.extract()?
            } else {
                0
            };
            let scope: u32 = if t.len() > 3 {
                t.get_item(3)?.extract()?
            } else {
                0
            };
            Ok(SocketAddr::V6(SocketAddrV6::new(v6, port, flow, scope)))
        }
    }
}

/// `(ip, port)` or `(ip, port, flowinfo, scope_id)`.
pub(crate) fn addr_tuple<'py>(py: Python<'py>, a: SocketAddr) -> PyResult<Bound<'py, PyTuple>> {
    match a {
        SocketAddr::V4(v4) => (v4.ip().to_string(), v4.port()).into_pyobject(py),
        SocketAddr::V6(v6) => {
            (v6.ip().to_string(), v6.port(), v6.flowinfo(), v6.scope_id()).into_pyobject(py)
        }
    }
}

/// The interface an address's IPv6 scope names, for multicast (`None`: the default).
pub(crate) fn ip_opt(s: Option<&str>) -> PyResult<Option<IpAddr>> {
    s.map(|s| {
        s.parse::<IpAddr>()
            .or_else(|_| s.parse::<Ipv6Addr>().map(IpAddr::V6))
            .map_err(|_| uv_err(ErrKind::Uv, uv::Error::EINVAL))
    })
    .transpose()
}

/// A result type as pyuv's: a struct sequence (`os.stat_result`'s kind), made once; `name`
/// is qualified by the module that exports it, so that instances pickle.
pub(crate) struct ResultType {
    cell: PyOnceLock<Py<PyAny>>,
    name: &'static str,
    fields: &'static str,
}

impl ResultType {
    pub(crate) const fn new(name: &'static str, fields: &'static str) -> Self {
        ResultType {
            cell: PyOnceLock::new(),
            name,
            fields,
        }
    }

    pub(crate) fn get<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = self.cell.get_or_try_init(py, || self.new_type(py))?;
        Ok(t.bind(py).clone())
    }

    /// `PyStructSequence_NewType` keeps pointers to the names: they are leaked, once per
    /// type per process (the type lives as long).
    fn new_type(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let leak = |s: String| -> *const std::ffi::c_char {
            let c = std::ffi::CString::new(s).expect("names have no NUL");
            Box::leak(c.into_boxed_c_str()).as_ptr()
        };
        let mut fields: Vec<ffi::PyStructSequence_Field> = self
            .fields
            .split_whitespace()
            .map(|f| ffi::PyStructSequence_Field {
                name: leak(f.to_owned()),
                doc: std::ptr::null(),
            })
            .collect();
        let n = fields.len();
        fields.push(ffi::PyStructSequence_Field {
            name: std::ptr::null(),
            doc: std::ptr::null(),
        });
        let desc = Box::leak(Box::new(ffi::PyStructSequence_Desc {
            name: leak(self.name.to_owned()),
            doc: std::ptr::null(),
            fields: Box::leak(fields.into_boxed_slice()).as_mut_ptr(),
            n_in_sequence: i32::try_from(n).expect("few fields"),
        }));
        // SAFETY: `desc` and every string it points to are leaked, so they outlive the type;
        // the field list ends with a null name; the GIL is held.
        let t = unsafe { ffi::PyStructSequence_NewType(desc) };
        if t.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: a new reference to a type object, owned from here.
        Ok(unsafe { Bound::from_owned_ptr(py, t.cast()) }.unbind())
    }

    /// The type's name without its module (`pyuv.fs.stat_result` -> `stat_result`).
    pub(crate) fn short_name(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }

    /// An instance from a tuple of the field values, in order.
    pub(crate) fn make<'py>(
        &self,
        py: Python<'py>,
        values: impl IntoPyObject<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.get(py)?.call1((values,))
    }
}

static CPU_INFO: ResultType = ResultType::new("pyuv.util.cpu_info_result", "model speed times");
static CPU_TIMES: ResultType =
    ResultType::new("pyuv.util.cpu_info_times_result", "sys user idle irq nice");
static IFADDR: ResultType = ResultType::new(
    "pyuv.util.interface_addresses_result",
    "name is_internal address netmask mac",
);
static RUSAGE: ResultType = ResultType::new(
    "pyuv.util.rusage_result",
    "ru_utime ru_stime ru_maxrss ru_ixrss ru_idrss ru_isrss ru_minflt ru_majflt ru_nswap \
     ru_inblock ru_oublock ru_msgsnd ru_msgrcv ru_nsignals ru_nvcsw ru_nivcsw",
);

fn uverr(e: uv::Error) -> PyErr {
    uv_err(ErrKind::Uv, e)
}

/// High-resolution monotonic time in nanoseconds.
#[pyfunction]
fn hrtime() -> u64 {
    uv::hrtime()
}

#[pyfunction]
fn get_free_memory() -> u64 {
    uv::free_memory()
}

#[pyfunction]
fn get_total_memory() -> u64 {
    uv::total_memory()
}

#[pyfunction]
fn loadavg() -> (f64, f64, f64) {
    let [a, b, c] = uv::loadavg();
    (a, b, c)
}

#[pyfunction]
fn uptime() -> PyResult<f64> {
    uv::uptime().map_err(uverr)
}

#[pyfunction]
fn resident_set_memory() -> PyResult<usize> {
    uv::resident_set_memory().map_err(uverr)
}

/// libuv's `UV_*` handle type of a descriptor.
#[pyfunction]
fn guess_handle_type(fd: &Bound<'_, PyAny>) -> PyResult<i32> {
    Ok(uv::guess_handle(fd_of(fd)?))
}

#[pyfunction]
fn cpu_info(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for c in uv::cpu_info().map_err(uverr)? {
        let t = c.times;
        let times = CPU_TIMES.make(py, (t.sys, t.user, t.idle, t.irq, t.nice))?;
        list.append(CPU_INFO.make(py, (c.model, c.speed, times))?)?;
    }
    Ok(list)
}

#[pyfunction]
fn interface_addresses(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for a in uv::interface_addresses().map_err(uverr)? {
        let mac = a
            .mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let row = (
            a.name,
            a.is_internal,
            a.address.to_string(),
            a.netmask.to_string(),
            mac,
        );
        list.append(IFADDR.make(py, row)?)?;
    }
    Ok(list)
}

#[pyfunction]
fn getrusage(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let r = uv::getrusage().map_err(uverr)?;
    let mut v: Vec<Py<PyAny>> = vec![
        r.utime.into_pyobject(py)?.into_any().unbind(),
        r.stime.into_pyobject(py)?.into_any().unbind(),
    ];
    for c in r.counts {
        v.push(c.into_pyobject(py)?.into_any().unbind());
    }
    RUSAGE.make(py, PyTuple::new(py, v)?)
}

/// Fills `pyuv.util`.
pub(crate) fn util_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hrtime, m)?)?;
    m.add_function(wrap_pyfunction!(get_free_memory, m)?)?;
    m.add_function(wrap_pyfunction!(get_total_memory, m)?)?;
    m.add_function(wrap_pyfunction!(loadavg, m)?)?;
    m.add_function(wrap_pyfunction!(uptime, m)?)?;
    m.add_function(wrap_pyfunction!(resident_set_memory, m)?)?;
    m.add_function(wrap_pyfunction!(guess_handle_type, m)?)?;
    m.add_function(wrap_pyfunction!(cpu_info, m)?)?;
    m.add_function(wrap_pyfunction!(interface_addresses, m)?)?;
    m.add_function(wrap_pyfunction!(getrusage, m)?)?;
    m.add_class::<super::watchers::SignalChecker>()?;
    for t in [&CPU_INFO, &CPU_TIMES, &IFADDR, &RUSAGE] {
        m.add(t.short_name(), t.get(m.py())?)?;
    }
    Ok(())
}
