//! `pyuv.Loop`: a libuv loop run from Python. The GIL is released only around the wait in
//! the kernel (on the loop's backend descriptor); libuv dispatches with the GIL held, so a
//! callback never pays for taking it, and no other Python thread can touch the loop while
//! libuv runs.
//!
//! A blocking run is a series of non-blocking libuv iterations whose wait happens in the
//! loop's own prepare handle (the gate), started before any other so that libuv runs it
//! last, right before its poll: timers, idle and prepare callbacks run before the wait and
//! check and close callbacks after it, in libuv's order.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use pyo3::PyTraverseError;
use pyo3::exceptions::{
    PyAttributeError, PyKeyboardInterrupt, PyRuntimeError, PySystemExit, PyValueError,
};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyType, PyWeakrefMethods, PyWeakrefReference};

use super::errors::{ErrKind, uv_err};
use crate::python::gil::GilCell;
use crate::uv::{self, RunMode};

const UV_RUN_DEFAULT: i32 = 0;
const UV_RUN_ONCE: i32 = 1;
const UV_RUN_NOWAIT: i32 = 2;

struct LoopState {
    /// The prepare handle that waits (dropped before the loop).
    _gate: uv::Prepare,
    /// Whether the gate waits in this iteration.
    gate: Rc<Cell<bool>>,
    /// Taken out while `run` runs it (callbacks then use `handle`).
    lp: Option<uv::Loop>,
    handle: uv::LoopHandle,
    /// Every handle made on this loop, weakly (`handles`).
    handles: Vec<Py<PyWeakrefReference>>,
    stop: bool,
    running: bool,
    /// A `KeyboardInterrupt`/`SystemExit` raised by a callback: it stops the loop and comes
    /// out of `run`.
    fatal: Option<PyErr>,
    default: bool,
}

/// pyuv's event loop.
#[pyclass(module = "pyuv._cpyuv", name = "Loop", subclass, frozen, dict, weakref)]
pub struct Loop {
    st: GilCell<LoopState>,
}

static DEFAULT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

impl Loop {
    pub(crate) fn uv_handle(&self, py: Python<'_>) -> uv::Result<uv::LoopHandle> {
        let st = self.st.borrow(py);
        if st.handle.is_closed() {
            return Err(uv::Error::CLOSED);
        }
        Ok(st.handle.clone())
    }

    pub(crate) fn register(&self, py: Python<'_>, w: Py<PyWeakrefReference>) {
        let mut st = self.st.borrow_mut(py);
        if st.handles.len() >= 64 && st.handles.len().is_power_of_two() {
            st.handles.retain(|w| w.bind(py).upgrade().is_some());
        }
        st.handles.push(w);
    }

    fn stop_now(&self, py: Python<'_>) {
        let st = {
            let mut st = self.st.borrow_mut(py);
            st.stop = true;
            st.handle.clone()
        };
        st.stop();
    }

    /// One libuv iteration that does not block, the GIL held.
    fn nowait(lp: &uv::Loop) -> bool {
        lp.run(RunMode::NoWait).unwrap_or(false)
    }

    /// One non-blocking libuv iteration whose gate may wait (see the module's doc), then
    /// Python's signal handlers (a `KeyboardInterrupt` comes out here). `once`: as
    /// UV_RUN_ONCE, which does not sleep when callbacks were already due as it began.
    fn iterate(&self, py: Python<'_>, lp: &uv::Loop, once: bool) -> PyResult<bool> {
        let gate = self.st.borrow(py).gate.clone();
        gate.set(!once || lp.backend_timeout() != Some(Duration::ZERO));
        let alive = Loop::nowait(lp);
        gate.set(false);
        py.check_signals()?;
        Ok(alive)
    }

    /// The gate's callback: blocks in the kernel, the GIL released, until libuv has
    /// something to do.
    fn wait(h: &uv::LoopHandle, gate: &Cell<bool>) {
        if !gate.get() {
            return;
        }
        let timeout = h.backend_timeout();
        if timeout == Some(Duration::ZERO) {
            return;
        }
        let Ok(fd) = h.backend_fd() else { return };
        // Readiness, a timeout and EINTR all end the wait alike: libuv's poll follows.
        let _ = Python::attach(|py| py.detach(|| uv::wait_readable(fd, timeout)));
    }

    fn gate(lp: &uv::Loop) -> PyResult<(uv::Prepare, Rc<Cell<bool>>)> {
        let h = lp.handle();
        let gate = Rc::new(Cell::new(false));
        let prep = uv::Prepare::new(&h).map_err(|e| uv_err(ErrKind::Uv, e))?;
        let g = gate.clone();
        let wh = h.clone();
        prep.start(move |_| Loop::wait(&wh, &g))
            .map_err(|e| uv_err(ErrKind::Uv, e))?;
        // libuv's loop starts with its signal pipe's watcher not yet in epoll, and until a
        // poll registers it uv_backend_timeout() says 0: get_timeout() would be 0.0 and a
        // first UV_RUN_ONCE would not wait. One empty pass (the gate closed) registers it.
        lp.run(RunMode::NoWait)
            .map_err(|e| uv_err(ErrKind::Uv, e))?;
        prep.unref();
        Ok((prep, gate))
    }

    fn run_mode(&self, py: Python<'_>, lp: &uv::Loop, mode: i32) -> PyResult<bool> {
        let halted = |me: &Loop| {
            let st = me.st.borrow(py);
            st.stop || st.fatal.is_some()
        };
        match mode {
            UV_RUN_NOWAIT => Ok(Loop::nowait(lp)),
            UV_RUN_ONCE => self.iterate(py, lp, true),
            _ => loop {
                let alive = self.iterate(py, lp, false)?;
                if !alive || halted(self) {
                    break Ok(alive);
                }
            },
        }
    }
}

/// A callback's exception: `KeyboardInterrupt`/`SystemExit` stop the loop and are raised
/// from `run()`; the rest go to `loop.excepthook(type, value, tb)` as in pyuv (printed if
/// the hook is `None`, missing or fails).
pub(crate) fn report(py: Python<'_>, lp: &Bound<'_, Loop>, err: PyErr) {
    if err.is_instance_of::<PyKeyboardInterrupt>(py) || err.is_instance_of::<PySystemExit>(py) {
        let mut st = lp.get().st.borrow_mut(py);
        if st.fatal.is_none() {
            st.fatal = Some(err);
        }
        drop(st);
        lp.get().stop_now(py);
        return;
    }
    let mut in_hook = false;
    let pending = match lp.getattr("excepthook") {
        Ok(hook) if hook.is_none() => Some(err),
        Ok(hook) => {
            let args = (err.get_type(py), err.value(py).clone(), err.traceback(py));
            match hook.call1(args) {
                Ok(_) => None,
                Err(e) => {
                    write_stderr(py, "Unhandled exception in excepthook\n");
                    e.print(py);
                    in_hook = true;
                    Some(err)
                }
            }
        }
        Err(e) if e.is_instance_of::<PyAttributeError>(py) => Some(err),
        Err(e) => {
            write_stderr(py, "Exception while getting excepthook\n");
            e.print(py);
            in_hook = true;
            Some(err)
        }
    };
    if let Some(err) = pending {
        if in_hook {
            write_stderr(py, "\n");
        }
        write_stderr(py, "Unhandled exception in callback\n");
        err.print(py);
    }
}

fn write_stderr(py: Python<'_>, s: &str) {
    let _ = py
        .import("sys")
        .and_then(|sys| sys.getattr("stderr"))
        .and_then(|e| e.call_method1("write", (s,)));
}

#[pymethods]
impl Loop {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(
        _args: &Bound<'_, pyo3::types::PyTuple>,
        _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Loop> {
        let lp = uv::Loop::new().map_err(|e| uv_err(ErrKind::Uv, e))?;
        let handle = lp.handle();
        let (prep, gate) = Loop::gate(&lp)?;
        Ok(Loop {
            st: GilCell::new(LoopState {
                _gate: prep,
                gate,
                lp: Some(lp),
                handle,
                handles: Vec::new(),
                stop: false,
                running: false,
                fatal: None,
                default: false,
            }),
        })
    }

    /// The process's default loop, made (with the subclass's `__init__`) on first use.
    #[classmethod]
    fn default_loop(cls: &Bound<'_, PyType>) -> PyResult<Py<PyAny>> {
        let py = cls.py();
        DEFAULT
            .get_or_try_init(py, || {
                let obj = cls.call0()?;
                obj.cast::<Loop>()?.get().st.borrow_mut(py).default = true;
                Ok::<_, PyErr>(obj.unbind())
            })
            .map(|o| o.clone_ref(py))
    }

    /// Runs the loop: `UV_RUN_DEFAULT` until nothing is active or `stop()`, `UV_RUN_ONCE`
    /// one wait and dispatch, `UV_RUN_NOWAIT` one dispatch without waiting. Returns whether
    /// the loop is still alive.
    #[pyo3(signature = (mode = UV_RUN_DEFAULT))]
    fn run(slf: &Bound<'_, Self>, mode: i32) -> PyResult<bool> {
        let py = slf.py();
        if !(UV_RUN_DEFAULT..=UV_RUN_NOWAIT).contains(&mode) {
            return Err(PyValueError::new_err("invalid mode specified"));
        }
        let me = slf.get();
        let lp = {
            let mut st = me.st.borrow_mut(py);
            if st.running {
                return Err(PyRuntimeError::new_err("the loop is already running"));
            }
            let lp = st
                .lp
                .take()
                .ok_or_else(|| PyRuntimeError::new_err("loop is closed"))?;
            st.running = true;
            st.stop = false;
            lp
        };
        let r = me.run_mode(py, &lp, mode);
        let fatal = {
            let mut st = me.st.borrow_mut(py);
            st.lp = Some(lp);
            st.running = false;
            st.stop = false;
            st.fatal.take()
        };
        match fatal {
            Some(e) => Err(e),
            None => r,
        }
    }

    fn stop(slf: &Bound<'_, Self>) {
        slf.get().stop_now(slf.py());
    }

    /// The loop's time in milliseconds (libuv's cached clock).
    fn now(slf: &Bound<'_, Self>) -> u64 {
        slf.get().st.borrow(slf.py()).handle.now()
    }

    fn update_time(slf: &Bound<'_, Self>) {
        slf.get().st.borrow(slf.py()).handle.update_time();
    }

    /// The backend descriptor (epoll).
    fn fileno(slf: &Bound<'_, Self>) -> PyResult<i32> {
        let st = slf.get().st.borrow(slf.py());
        st.handle.backend_fd().map_err(|e| uv_err(ErrKind::Uv, e))
    }

    /// How long the next poll would block, in seconds; -0.001 for "indefinitely".
    fn get_timeout(slf: &Bound<'_, Self>) -> f64 {
        let st = slf.get().st.borrow(slf.py());
        st.handle
            .backend_timeout()
            .map_or(-0.001, |d| d.as_millis() as f64 / 1000.0)
    }

    #[getter]
    fn alive(slf: &Bound<'_, Self>) -> bool {
        slf.get().st.borrow(slf.py()).handle.alive()
    }

    #[getter]
    fn default(slf: &Bound<'_, Self>) -> bool {
        slf.get().st.borrow(slf.py()).default
    }

    /// Every live handle of this loop whose close callback has not run.
    #[getter]
    fn handles<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyList>> {
        let py = slf.py();
        let weaks: Vec<_> = {
            let mut st = slf.get().st.borrow_mut(py);
            st.handles.retain(|w| w.bind(py).upgrade().is_some());
            st.handles.iter().map(|w| w.clone_ref(py)).collect()
        };
        // As libuv's uv_walk: a handle leaves the list with its close callback.
        let live = weaks
            .iter()
            .filter_map(|w| w.bind(py).upgrade())
            .filter(|h| {
                h.cast::<super::handle::Handle>()
                    .is_ok_and(|h| h.get().st.borrow(py).lp.is_some())
            });
        PyList::new(py, live)
    }

    /// The default hook for exceptions raised by callbacks: prints them to `sys.stderr`.
    fn excepthook(
        &self,
        py: Python<'_>,
        r#type: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        tb: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        write_stderr(py, "Unhandled exception in callback\n");
        let sys = py.import("sys")?;
        let hook = sys.getattr("__excepthook__")?;
        hook.call1((r#type, value, tb))?;
        Ok(())
    }

    /// Runs `work_cb()` on libuv's threadpool (with the GIL), then `done_cb(errorno)` on
    /// the loop: `None`, or `UV_ECANCELED` if cancelled before it started.
    #[pyo3(signature = (work_cb, done_cb = None))]
    fn queue_work(
        slf: &Bound<'_, Self>,
        work_cb: Py<PyAny>,
        done_cb: Option<Py<PyAny>>,
    ) -> PyResult<Py<super::requests::WorkRequest>> {
        super::requests::queue_work(slf, work_cb, done_cb)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let Some(st) = self.st.peek() else {
            return Ok(());
        };
        for w in &st.handles {
            visit.call(w)?;
        }
        Ok(())
    }
}
