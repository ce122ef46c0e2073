//! The handles without I/O of their own: `Timer`, `Prepare`, `Check`, `Idle`, `Async`,
//! `Signal`, `Poll`, and `pyuv.util.SignalChecker`.

use std::time::Duration;

use pyo3::exceptions::{PyRuntimeWarning, PyValueError};
use pyo3::prelude::*;

use super::errors::{ErrKind, uv_err};
use super::handle::{Handle, MAIN, Uv, check_callable};
use super::loop_::Loop;
use crate::uv;

/// The `Handle` of a subclass instance.
pub(crate) fn base<'a, 'py, T: pyo3::PyClass>(slf: &'a Bound<'py, T>) -> &'a Bound<'py, Handle> {
    slf.as_any()
        .cast::<Handle>()
        .expect("every pyuv handle class extends Handle")
}

/// Installs `callback` in the main slot and starts the handle with `start(ctx)`.
fn start_with(
    h: &Bound<'_, Handle>,
    callback: Py<PyAny>,
    start: impl FnOnce(&Uv, super::handle::Ctx) -> uv::Result<()>,
) -> PyResult<()> {
    check_callable(callback.bind(h.py()))?;
    let ctx = Handle::ctx(h)?;
    Handle::with_uv(h, |u| start(u, ctx))?;
    Handle::set_cb(h, MAIN, Some(callback));
    Handle::sync_keep(h);
    Ok(())
}

fn stop_with(h: &Bound<'_, Handle>, stop: impl FnOnce(&Uv) -> uv::Result<()>) -> PyResult<()> {
    Handle::with_uv(h, stop)?;
    Handle::sync_keep(h);
    Ok(())
}

/// Seconds as pyuv takes them: negative refused, under a millisecond raised to one with a
/// `RuntimeWarning`.
fn millis(py: Python<'_>, what: &str, secs: f64) -> PyResult<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return Err(PyValueError::new_err(
            "a positive value or zero is required",
        ));
    }
    let mut secs = secs;
    if secs > 0.0 && secs < 0.001 {
        let msg = format!("timers don't have sub-millisecond accuracy, setting {what} to 1ms");
        let cat = py.get_type::<PyRuntimeWarning>();
        let _ = PyErr::warn(
            py,
            &cat,
            &std::ffi::CString::new(msg).unwrap_or_default(),
            1,
        );
        secs = 0.001;
    }
    Ok(Duration::from_millis(
        (secs * 1000.0).min(u64::MAX as f64 / 2.0) as u64,
    ))
}

/// `Timer(loop)`: `start(callback, timeout, repeat)` in seconds; `callback(timer)`.
#[pyclass(module = "pyuv._cpyuv", name = "Timer", extends = Handle, subclass, frozen)]
pub struct Timer;

#[pymethods]
impl Timer {
    #[new]
    #[pyo3(signature = (r#loop, *_a, **_k))]
    fn new(
        r#loop: &Bound<'_, Loop>,
        _a: &Bound<'_, pyo3::types::PyTuple>,
        _k: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let lh = Handle::uv_loop(r#loop, ErrKind::Timer)?;
        let t = uv::Timer::new(&lh).map_err(|e| uv_err(ErrKind::Timer, e))?;
        Ok(
            PyClassInitializer::from(Handle::new(r#loop, ErrKind::Timer, Uv::Timer(t)))
                .add_subclass(Timer),
        )
    }

    fn start(
        slf: &Bound<'_, Self>,
        callback: Py<PyAny>,
        timeout: f64,
        repeat: f64,
    ) -> PyResult<()> {
        let py = slf.py();
        let (t, r) = (
            millis(py, "timeout", timeout)?,
            millis(py, "repeat", repeat)?,
        );
        start_with(base(slf), callback, |u, ctx| match u {
            Uv::Timer(timer) => timer.start(t, r, move |_| {
                Python::attach(|py| ctx.fire(py, MAIN, |h| Ok((h.clone(),))))
            }),
            _ => Err(uv::Error::EINVAL),
        })
    }

    fn stop(slf: &Bound<'_, Self>) -> PyResult<()> {
        stop_with(base(slf), |u| match u {
            Uv::Timer(t) => t.stop(),
            _ => Err(uv::Error::EINVAL),
        })
    }

    /// Restarts a repeating timer from now (`TimerError(EINVAL)` if it never started).
    fn again(slf: &Bound<'_, Self>) -> PyResult<()> {
        stop_with(base(slf), |u| match u {
            Uv::Timer(t) => t.again(),
            _ => Err(uv::Error::EINVAL),
        })
    }

    #[getter]
    fn get_repeat(slf: &Bound<'_, Self>) -> f64 {
        Handle::peek_uv(base(slf), 0.0, |u| match u {
            Uv::Timer(t) => Ok(t.repeat().as_millis() as f64 / 1000.0),
            _ => Err(uv::Error::EINVAL),
        })
    }

    #[deleter(repeat)]
    fn del_repeat(&self) -> PyResult<()> {
        Err(super::errors::no_delete())
    }

    #[setter]
    fn set_repeat(slf: &Bound<'_, Self>, value: f64) -> PyResult<()> {
        if value.is_nan() || value < 0.0 {
            return Err(PyValueError::new_err("a positive float or 0.0 is required"));
        }
        let d = Duration::from_millis((value * 1000.0) as u64);
        Handle::with_uv(base(slf), |u| match u {
            Uv::Timer(t) => t.set_repeat(d),
            _ => Err(uv::Error::EINVAL),
        })
    }
}

/// `Prepare`, `Check`, `Idle`: `start(callback)`, `stop()`; `callback(handle)`.
macro_rules! watcher {
    ($ty:ident, $name:literal, $variant:ident, $kind:ident) => {
        #[doc = concat!("`", $name, "(loop)`: `start(callback)`, `stop()`; `callback(handle)`.")]
        #[pyclass(module = "pyuv._cpyuv", name = $name, extends = Handle, subclass, frozen)]
        pub struct $ty;

        #[pymethods]
        impl $ty {
            #[new]
            #[pyo3(signature = (r#loop, *_a, **_k))]
            fn new(
                r#loop: &Bound<'_, Loop>,
                _a: &Bound<'_, pyo3::types::PyTuple>,
                _k: Option<&Bound<'_, pyo3::types::PyDict>>,
            ) -> PyResult<PyClassInitializer<Self>> {
                let lh = Handle::uv_loop(r#loop, ErrKind::$kind)?;
                let w = uv::$variant::new(&lh).map_err(|e| uv_err(ErrKind::$kind, e))?;
                let h = Handle::new(r#loop, ErrKind::$kind, Uv::$variant(w));
                Ok(PyClassInitializer::from(h).add_subclass($ty))
            }

            fn start(slf: &Bound<'_, Self>, callback: Py<PyAny>) -> PyResult<()> {
                start_with(base(slf), callback, |u, ctx| match u {
                    Uv::$variant(w) => w.start(move |_| {
                        Python::attach(|py| ctx.fire(py, MAIN, |h| Ok((h.clone(),))))
                    }),
                    _ => Err(uv::Error::EINVAL),
                })
            }

            fn stop(slf: &Bound<'_, Self>) -> PyResult<()> {
                stop_with(base(slf), |u| match u {
                    Uv::$variant(w) => w.stop(),
                    _ => Err(uv::Error::EINVAL),
                })
            }
        }
    };
}

watcher!(Prepare, "Prepare", Prepare, Prepare);
watcher!(Check, "Check", Check, Check);
watcher!(Idle, "Idle", Idle, Idle);

/// `Async(loop, callback=None)`: `send()` from any thread runs `callback(handle)` on the
/// loop (sends before it runs coalesce, as libuv's do). Active from the start.
#[pyclass(module = "pyuv._cpyuv", name = "Async", extends = Handle, subclass, frozen)]
pub struct Async;

#[pymethods]
impl Async {
    #[new]
    #[pyo3(signature = (r#loop, callback = None, *_a, **_k))]
    fn new(
        r#loop: &Bound<'_, Loop>,
        callback: Option<Py<PyAny>>,
        _a: &Bound<'_, pyo3::types::PyTuple>,
        _k: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        if let Some(cb) = &callback {
            check_callable(cb.bind(r#loop.py()))?;
        }
        let lh = Handle::uv_loop(r#loop, ErrKind::Async)?;
        // The closure reaches the handle through the context `__init__` makes.
        let late = LateCtx::default();
        let l2 = late.clone();
        let a = uv::Async::new(&lh, move |_| {
            Python::attach(|py| {
                let ctx = l2.borrow().as_ref().map(|c| c.clone_ref(py));
                if let Some(ctx) = ctx {
                    ctx.fire(py, MAIN, |h| Ok((h.clone(),)));
                }
            })
        })
        .map_err(|e| uv_err(ErrKind::Async, e))?;
        let sender = a.sender();
        let h = Handle::new(r#loop, ErrKind::Async, Uv::Async(a, sender))
            .with_cb(MAIN, callback)
            .with_late_ctx(late);
        Ok(PyClassInitializer::from(h).add_subclass(Async))
    }

    /// Wakes the loop to run the callback; callable from any thread.
    fn send(slf: &Bound<'_, Self>) -> PyResult<()> {
        Handle::with_uv(base(slf), |u| match u {
            Uv::Async(_, s) => s.send(),
            _ => Err(uv::Error::EINVAL),
        })
    }
}

/// `Signal(loop)`: `start(callback, signum)`; `callback(handle, signum)`.
#[pyclass(module = "pyuv._cpyuv", name = "Signal", extends = Handle, subclass, frozen)]
pub struct Signal;

#[pymethods]
impl Signal {
    #[new]
    #[pyo3(signature = (r#loop, *_a, **_k))]
    fn new(
        r#loop: &Bound<'_, Loop>,
        _a: &Bound<'_, pyo3::types::PyTuple>,
        _k: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let lh = Handle::uv_loop(r#loop, ErrKind::Signal)?;
        let s = uv::Signal::new(&lh).map_err(|e| uv_err(ErrKind::Signal, e))?;
        Ok(
            PyClassInitializer::from(Handle::new(r#loop, ErrKind::Signal, Uv::Signal(s)))
                .add_subclass(Signal),
        )
    }

    fn start(slf: &Bound<'_, Self>, callback: Py<PyAny>, signum: i32) -> PyResult<()> {
        start_with(base(slf), callback, |u, ctx| match u {
            Uv::Signal(s) => s.start(signum, move |_, n| {
                Python::attach(|py| ctx.fire(py, MAIN, |h| Ok((h.clone(), n))))
            }),
            _ => Err(uv::Error::EINVAL),
        })
    }

    fn stop(slf: &Bound<'_, Self>) -> PyResult<()> {
        stop_with(base(slf), |u| match u {
            Uv::Signal(s) => s.stop(),
            _ => Err(uv::Error::EINVAL),
        })
    }
}

/// `Poll(loop, fd)`: `start(events, callback)` with `UV_READABLE | UV_WRITABLE |
/// UV_DISCONNECT`; `callback(handle, events, error)`. libuv watches a duplicate of `fd`, so
/// closing `fd` while polled cannot corrupt the loop.
#[pyclass(module = "pyuv._cpyuv", name = "Poll", extends = Handle, subclass, frozen)]
pub struct Poll {
    fd: i32,
}

#[pymethods]
impl Poll {
    #[new]
    #[pyo3(signature = (r#loop, fd, *_a, **_k))]
    fn new(
        r#loop: &Bound<'_, Loop>,
        fd: &Bound<'_, PyAny>,
        _a: &Bound<'_, pyo3::types::PyTuple>,
        _k: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let fd = super::util::fd_of(fd)?;
        let lh = Handle::uv_loop(r#loop, ErrKind::Poll)?;
        let owned = uv::dup_fd(fd).map_err(|e| uv_err(ErrKind::Poll, e))?;
        let p = uv::Poll::new(&lh, owned).map_err(|e| uv_err(ErrKind::Poll, e))?;
        let h = Handle::new(r#loop, ErrKind::Poll, Uv::Poll(p));
        Ok(PyClassInitializer::from(h).add_subclass(Poll { fd }))
    }

    fn start(slf: &Bound<'_, Self>, events: u32, callback: Py<PyAny>) -> PyResult<()> {
        let ev = uv::PollEvents::from_bits(events);
        start_with(base(slf), callback, |u, ctx| match u {
            Uv::Poll(p) => p.start(ev, move |_, r| {
                let (ev, err) = match r {
                    Ok(e) => (e.bits(), None),
                    Err(e) => (0, Some(e.code())),
                };
                Python::attach(|py| ctx.fire(py, MAIN, |h| Ok((h.clone(), ev, err))))
            }),
            _ => Err(uv::Error::EINVAL),
        })
    }

    fn stop(slf: &Bound<'_, Self>) -> PyResult<()> {
        stop_with(base(slf), |u| match u {
            Uv::Poll(p) => p.stop(),
            _ => Err(uv::Error::EINVAL),
        })
    }

    fn fileno(slf: &Bound<'_, Self>) -> PyResult<i32> {
        Handle::check_open(base(slf))?;
        Ok(slf.get().fd)
    }
}

/// `pyuv.util.SignalChecker(loop, fd)`: watches the socket given to `signal.set_wakeup_fd`
/// and runs Python's signal handlers when a signal arrives while the loop waits.
#[pyclass(module = "pyuv.util", name = "SignalChecker", extends = Handle, subclass, frozen)]
pub struct SignalChecker;

#[pymethods]
impl SignalChecker {
    #[new]
    #[pyo3(signature = (r#loop, fd, *_a, **_k))]
    fn new(
        r#loop: &Bound<'_, Loop>,
        fd: &Bound<'_, PyAny>,
        _a: &Bound<'_, pyo3::types::PyTuple>,
        _k: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let fd = super::util::fd_of(fd)?;
        let lh = Handle::uv_loop(r#loop, ErrKind::Handle)?;
        let owned = uv::dup_fd(fd).map_err(|e| uv_err(ErrKind::Handle, e))?;
        let p = uv::Poll::new(&lh, owned).map_err(|e| uv_err(ErrKind::Handle, e))?;
        let h = Handle::new(r#loop, ErrKind::Handle, Uv::Poll(p));
        Ok(PyClassInitializer::from(h).add_subclass(SignalChecker))
    }

    fn start(slf: &Bound<'_, Self>) -> PyResult<()> {
        let h = base(slf);
        let ctx = Handle::ctx(h)?;
        Handle::with_uv(h, |u| match u {
            Uv::Poll(p) => p.start(uv::PollEvents::READABLE, move |p, _| {
                let fd = p.fd();
                Python::attach(|py| {
                    drain(py, fd);
                    if let Err(e) = py.check_signals()
                        && let Some(obj) = ctx.handle(py)
                        && let Ok(h) = obj.cast::<Handle>()
                    {
                        super::handle::report_for(h, e);
                    }
                })
            }),
            _ => Err(uv::Error::EINVAL),
        })?;
        Handle::sync_keep(h);
        Ok(())
    }

    fn stop(slf: &Bound<'_, Self>) -> PyResult<()> {
        stop_with(base(slf), |u| match u {
            Uv::Poll(p) => p.stop(),
            _ => Err(uv::Error::EINVAL),
        })
    }
}

/// Empties the wake-up socket (non-blocking, as `set_wakeup_fd` requires).
fn drain(py: Python<'_>, fd: i32) {
    let Ok(os) = py.import("os") else { return };
    for _ in 0..64 {
        match os.call_method1("read", (fd, 4096)) {
            Ok(b) if b.len().is_ok_and(|n| n == 4096) => continue,
            _ => break,
        }
    }
}

/// The late-bound callback context of a handle whose libuv callback is fixed at creation.
pub(crate) type LateCtx = std::rc::Rc<std::cell::RefCell<Option<super::handle::Ctx>>>;
