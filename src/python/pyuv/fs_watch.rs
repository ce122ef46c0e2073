//! `pyuv.fs.FSEvent` (changes under a path, pushed by the kernel) and `pyuv.fs.FSPoll`
//! (stat polling at an interval).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::errors::{ErrKind, uv_err};
use super::fs::stat_obj;
use super::handle::{Handle, MAIN, Uv, check_callable};
use super::loop_::Loop;
use super::watchers::base;
use crate::uv;

const UV_RENAME: i32 = 1;
const UV_CHANGE: i32 = 2;
const UV_FS_EVENT_RECURSIVE: i32 = 4;

fn path_of(u: &Uv) -> Option<String> {
    let p = match u {
        Uv::FsEvent(e) => e.path(),
        Uv::FsPoll(p) => p.path(),
        _ => None,
    };
    p.map(|p| p.to_string_lossy().into_owned())
}

/// `FSEvent(loop)`: `start(path, flags, callback)`; `callback(handle, filename, events,
/// error)` with `events` `UV_RENAME | UV_CHANGE`.
#[pyclass(module = "pyuv.fs", name = "FSEvent", extends = Handle, subclass, frozen)]
pub struct FSEvent;

#[pymethods]
impl FSEvent {
    #[new]
    #[pyo3(signature = (r#loop, *_a, **_k))]
    fn new(
        r#loop: &Bound<'_, Loop>,
        _a: &Bound<'_, PyTuple>,
        _k: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let lh = Handle::uv_loop(r#loop, ErrKind::FsEvent)?;
        let e = uv::FsEvent::new(&lh).map_err(|e| uv_err(ErrKind::FsEvent, e))?;
        Ok(
            PyClassInitializer::from(Handle::new(r#loop, ErrKind::FsEvent, Uv::FsEvent(e)))
                .add_subclass(FSEvent),
        )
    }

    fn start(slf: &Bound<'_, Self>, path: &str, flags: i32, callback: Py<PyAny>) -> PyResult<()> {
        let h = base(slf);
        check_callable(callback.bind(slf.py()))?;
        let ctx = Handle::ctx(h)?;
        let recursive = flags & UV_FS_EVENT_RECURSIVE != 0;
        Handle::with_uv(h, |u| match u {
            Uv::FsEvent(e) => e.start(path, recursive, move |_, r| {
                let (name, events, err) = match r {
                    Ok(c) => {
                        let ev = if c.rename { UV_RENAME } else { 0 }
                            | if c.change { UV_CHANGE } else { 0 };
                        (c.name.map(|n| n.to_string_lossy().into_owned()), ev, None)
                    }
                    Err(e) => (None, 0, Some(e.code())),
                };
                Python::attach(|py| ctx.fire(py, MAIN, |h| Ok((h.clone(), name, events, err))))
            }),
            _ => Err(uv::Error::EBADF),
        })?;
        Handle::set_cb(h, MAIN, Some(callback));
        Handle::sync_keep(h);
        Ok(())
    }

    fn stop(slf: &Bound<'_, Self>) -> PyResult<()> {
        let h = base(slf);
        Handle::with_uv(h, |u| match u {
            Uv::FsEvent(e) => e.stop(),
            _ => Err(uv::Error::EBADF),
        })?;
        Handle::sync_keep(h);
        Ok(())
    }

    /// The path watched (`None` when not started).
    #[getter]
    fn path(slf: &Bound<'_, Self>) -> PyResult<Option<String>> {
        Handle::with_uv(base(slf), |u| Ok(path_of(u)))
    }
}

/// `FSPoll(loop)`: `start(path, interval, callback)` with `interval` in seconds;
/// `callback(handle, prev_stat, curr_stat, error)`.
#[pyclass(module = "pyuv.fs", name = "FSPoll", extends = Handle, subclass, frozen)]
pub struct FSPoll;

#[pymethods]
impl FSPoll {
    #[new]
    #[pyo3(signature = (r#loop, *_a, **_k))]
    fn new(
        r#loop: &Bound<'_, Loop>,
        _a: &Bound<'_, PyTuple>,
        _k: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let lh = Handle::uv_loop(r#loop, ErrKind::FsPoll)?;
        let p = uv::FsPoll::new(&lh).map_err(|e| uv_err(ErrKind::FsPoll, e))?;
        Ok(
            PyClassInitializer::from(Handle::new(r#loop, ErrKind::FsPoll, Uv::FsPoll(p)))
                .add_subclass(FSPoll),
        )
    }

    fn start(
        slf: &Bound<'_, Self>,
        path: &str,
        interval: f64,
        callback: Py<PyAny>,
    ) -> PyResult<()> {
        if interval.is_nan() || interval < 0.0 {
            return Err(PyValueError::new_err(
                "a positive value or zero is required",
            ));
        }
        let ms = (interval * 1000.0).min(u32::MAX as f64) as u32;
        let h = base(slf);
        check_callable(callback.bind(slf.py()))?;
        let ctx = Handle::ctx(h)?;
        Handle::with_uv(h, |u| match u {
            Uv::FsPoll(p) => p.start(path, ms, move |_, r| {
                Python::attach(|py| {
                    ctx.fire(py, MAIN, |h| {
                        Ok(match r {
                            Ok((prev, curr)) => (
                                h.clone(),
                                Some(stat_obj(py, prev)?),
                                Some(stat_obj(py, curr)?),
                                None,
                            ),
                            Err(e) => (h.clone(), None, None, Some(e.code())),
                        })
                    })
                })
            }),
            _ => Err(uv::Error::EBADF),
        })?;
        Handle::set_cb(h, MAIN, Some(callback));
        Handle::sync_keep(h);
        Ok(())
    }

    fn stop(slf: &Bound<'_, Self>) -> PyResult<()> {
        let h = base(slf);
        Handle::with_uv(h, |u| match u {
            Uv::FsPoll(p) => p.stop(),
            _ => Err(uv::Error::EBADF),
        })?;
        Handle::sync_keep(h);
        Ok(())
    }

    #[getter]
    fn path(slf: &Bound<'_, Self>) -> PyResult<Option<String>> {
        Handle::with_uv(base(slf), |u| Ok(path_of(u)))
    }
}
