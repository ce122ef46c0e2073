//! pyuv's request objects (`Request`, `WorkRequest`, `FSRequest`, `GAIRequest`,
//! `GNIRequest`): returned by the calls that start them, cancellable while queued.

use pyo3::PyTraverseError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;

use super::errors::{ErrKind, uv_err};
use super::handle::check_callable;
use super::loop_::{Loop, report};
use crate::python::gil::GilCell;
use crate::uv;

/// The libuv request a Python request stands for, until it completes.
pub(crate) enum Pending {
    None,
    Work(uv::Work),
    Fs(uv::fs::FsRequest),
    Dns(uv::DnsRequest),
}

pub(crate) struct RState {
    lp: Option<Py<Loop>>,
    pub(crate) pending: Pending,
}

/// The base of pyuv's requests: `cancel()`, `loop`.
#[pyclass(
    module = "pyuv._cpyuv",
    name = "Request",
    subclass,
    frozen,
    dict,
    weakref
)]
pub struct Request {
    pub(crate) st: GilCell<RState>,
}

impl Request {
    pub(crate) fn new(lp: &Bound<'_, Loop>) -> Request {
        Request {
            st: GilCell::new(RState {
                lp: Some(lp.clone().unbind()),
                pending: Pending::None,
            }),
        }
    }

    /// The request completed: it lets go of libuv's and of the loop.
    pub(crate) fn finish(r: &Bound<'_, Request>) {
        let old = {
            let mut st = r.get().st.borrow_mut(r.py());
            std::mem::replace(&mut st.pending, Pending::None)
        };
        drop(old);
    }

    pub(crate) fn set_pending(r: &Bound<'_, Request>, p: Pending) {
        r.get().st.borrow_mut(r.py()).pending = p;
    }
}

#[pymethods]
impl Request {
    /// Cancels the request if no thread has started it; `True` if it was cancelled (its
    /// callback then gets `UV_ECANCELED`).
    fn cancel(slf: &Bound<'_, Self>) -> bool {
        let st = slf.get().st.borrow(slf.py());
        match &st.pending {
            Pending::None => false,
            Pending::Work(w) => w.cancel().is_ok(),
            Pending::Fs(f) => f.cancel().is_ok(),
            Pending::Dns(d) => d.cancel().is_ok(),
        }
    }

    #[getter(r#loop)]
    fn get_loop(slf: &Bound<'_, Self>) -> Option<Py<Loop>> {
        let py = slf.py();
        slf.get().st.borrow(py).lp.as_ref().map(|l| l.clone_ref(py))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let Some(st) = self.st.peek() else {
            return Ok(());
        };
        visit.call(&st.lp)
    }
}

/// What `Loop.queue_work` returns.
#[pyclass(module = "pyuv._cpyuv", name = "WorkRequest", extends = Request, subclass, frozen)]
pub struct WorkRequest;

/// `Loop.queue_work(work_cb, done_cb)`: `work_cb()` on the threadpool (it takes the GIL),
/// then `done_cb(errorno)` on the loop. An exception of `work_cb` goes to `excepthook`.
pub(crate) fn queue_work(
    lp: &Bound<'_, Loop>,
    work_cb: Py<PyAny>,
    done_cb: Option<Py<PyAny>>,
) -> PyResult<Py<WorkRequest>> {
    let py = lp.py();
    check_callable(work_cb.bind(py))?;
    if let Some(d) = &done_cb {
        check_callable(d.bind(py))?;
    }
    let lh = lp.get().uv_handle(py).map_err(|e| uv_err(ErrKind::Uv, e))?;
    let init = PyClassInitializer::from(Request::new(lp)).add_subclass(WorkRequest);
    let req = Py::new(py, init)?;
    let work = move || {
        Python::attach(move |py| {
            let r = work_cb.call0(py).err();
            drop(work_cb);
            r
        })
    };
    let (lp2, req2) = (lp.clone().unbind(), req.clone_ref(py));
    let done = move |r: Result<Option<PyErr>, uv::WorkError>| {
        Python::attach(|py| {
            let (lp, req) = (lp2.bind(py), req2.bind(py));
            Request::finish(req.as_super());
            let errno = match r {
                Ok(None) => None,
                Ok(Some(e)) => {
                    report(py, lp, e);
                    None
                }
                // work_cb's exception is already caught above; this is a Rust panic.
                Err(e @ uv::WorkError::Panicked(_)) => {
                    report(py, lp, PyRuntimeError::new_err(e.to_string()));
                    None
                }
                Err(uv::WorkError::Uv(e)) => Some(e.code()),
            };
            if let Some(cb) = done_cb
                && let Err(e) = cb.bind(py).call1((errno,))
            {
                report(py, lp, e);
            }
        })
    };
    let w = uv::Work::queue(&lh, work, done).map_err(|e| uv_err(ErrKind::Uv, e))?;
    Request::set_pending(req.bind(py).as_super(), Pending::Work(w));
    Ok(req)
}
