//! The Rust side of one loop shared by Rust and Python: for a Rust program that embeds Python
//! (through pyo3) and runs `rt` tasks and asyncio coroutines side by side on one thread, each
//! able to await the other.
//!
//! ```no_run
//! use pyo3::prelude::*;
//! use rsuv::python::EventLoop;
//!
//! rsuv::python::prepare(); // before the interpreter starts: rsuv's module is built in
//! Python::attach(|py| -> PyResult<()> {
//!     let lp = EventLoop::new(py)?;
//!     // A Rust future, awaited by Python:
//!     let answer = lp.future_into_py(py, async {
//!         rsuv::rt::sleep(std::time::Duration::from_millis(1)).await;
//!         Python::attach(|py| Ok(42i32.into_pyobject(py)?.into_any().unbind()))
//!     })?;
//!     let got = lp.run_until_complete(py, &answer)?;
//!     assert_eq!(got.extract::<i32>(py)?, 42);
//!     lp.close(py)
//! })
//! .unwrap();
//! ```

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use pyo3::prelude::*;

use super::loop_core::{LoopCore, LoopSeed};
use crate::rt::JoinHandle;
use crate::uv::Loop;

/// Makes `rsuv._rsuv` a built-in module of the interpreter this program will start, so that
/// `import rsuv` uses the code linked into the program (one libuv, one loop implementation).
/// Call it before the interpreter is initialized; `python/` (or an installed rsuv) must still
/// be on `sys.path` for the Python half of the package.
///
/// # Panics
///
/// If the interpreter is already initialized.
pub fn prepare() {
    // SAFETY: Py_IsInitialized has no preconditions.
    let running = unsafe { pyo3::ffi::Py_IsInitialized() } != 0;
    assert!(
        !running,
        "rsuv::python::prepare must be called before the interpreter starts"
    );
    // SAFETY: called before Py_Initialize (checked above), with a 'static name and the module's
    // init function, as PyImport_AppendInittab requires.
    let rc =
        unsafe { pyo3::ffi::PyImport_AppendInittab(c"rsuv._rsuv".as_ptr(), Some(init_module)) };
    assert_eq!(rc, 0, "PyImport_AppendInittab failed");
}

extern "C" fn init_module() -> *mut pyo3::ffi::PyObject {
    // SAFETY: the init function pyo3 generated for the #[pymodule], called by the import system
    // with the GIL held, as an extension module's PyInit is.
    unsafe { super::_rsuv::__pyo3_init() }
}

/// An `rsuv.Loop` (a Python object) seen from Rust.
pub struct EventLoop {
    obj: Py<PyAny>,
}

impl EventLoop {
    /// A new `rsuv.Loop` (as `rsuv.new_event_loop()`).
    ///
    /// # Errors
    ///
    /// If `rsuv` cannot be imported (see [`prepare`]) or the loop cannot be made.
    pub fn new(py: Python<'_>) -> PyResult<EventLoop> {
        let obj = py.import("rsuv")?.call_method0("new_event_loop")?;
        Ok(EventLoop { obj: obj.unbind() })
    }

    /// An `rsuv.Loop` on a libuv loop made in Rust, with whatever handles are already on it:
    /// asyncio coroutines then run on the loop the program uses.
    ///
    /// # Errors
    ///
    /// As for [`EventLoop::new`].
    pub fn with_loop(py: Python<'_>, lp: Loop) -> PyResult<EventLoop> {
        let seed = Py::new(py, LoopSeed::new(lp))?;
        let obj = py.import("rsuv")?.getattr("Loop")?.call1((seed,))?;
        Ok(EventLoop { obj: obj.unbind() })
    }

    /// The Python object.
    pub fn as_py(&self) -> &Py<PyAny> {
        &self.obj
    }

    fn core<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, LoopCore>> {
        Ok(self.obj.bind(py).cast::<LoopCore>()?.clone())
    }

    /// Spawns an `rt` task on this loop; it runs while the loop runs (`run_until_complete`,
    /// `run_forever`), beside the Python callbacks. Inside it, everything of `rsuv::rt` works.
    ///
    /// # Errors
    ///
    /// `RuntimeError` if the loop is closed.
    pub fn spawn_local<F>(&self, py: Python<'_>, fut: F) -> PyResult<JoinHandle<F::Output>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let core = self.core(py)?;
        core.get().inner().local_set(py, |set| set.spawn_local(fut))
    }

    /// Runs `f` with this loop's tasks as `rt`'s current executor (to make `rt` sockets or
    /// timers outside a task).
    ///
    /// # Errors
    ///
    /// `RuntimeError` if the loop is closed.
    pub fn enter<R>(&self, py: Python<'_>, f: impl FnOnce() -> R) -> PyResult<R> {
        let core = self.core(py)?;
        core.get().inner().local_set(py, |set| set.enter(f))
    }

    /// `loop.run_until_complete(awaitable)`.
    ///
    /// # Errors
    ///
    /// What it raises.
    pub fn run_until_complete(
        &self,
        py: Python<'_>,
        awaitable: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        Ok(self
            .obj
            .bind(py)
            .call_method1("run_until_complete", (awaitable,))?
            .unbind())
    }

    /// A Rust future as a Python awaitable: an `asyncio.Future` of this loop that gets the
    /// future's result (or exception) when it completes. Cancelling the asyncio future drops
    /// the Rust one.
    ///
    /// # Errors
    ///
    /// `RuntimeError` if the loop is closed.
    pub fn future_into_py<'py, F>(&self, py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
    where
        F: Future<Output = PyResult<Py<PyAny>>> + 'static,
    {
        let pyfut = self.obj.bind(py).call_method0("create_future")?;
        let target = pyfut.clone().unbind();
        let task = self.spawn_local(py, async move {
            let out = fut.await;
            Python::attach(|py| settle(py, target.bind(py), out));
        })?;
        // Cancelling the asyncio future cancels the Rust task (dropping its JoinHandle).
        let on_done = Py::new(py, CancelOnDone(Some(task)))?;
        pyfut.call_method1("add_done_callback", (on_done,))?;
        Ok(pyfut)
    }

    /// A Python awaitable (a coroutine, task or future) as a Rust future, run as a task of
    /// this loop: it completes with the awaitable's result, or its exception.
    ///
    /// # Errors
    ///
    /// If the awaitable cannot be scheduled (`asyncio.ensure_future` refuses it).
    pub fn into_future(&self, py: Python<'_>, awaitable: &Bound<'_, PyAny>) -> PyResult<PyFuture> {
        let asyncio = py.import("asyncio")?;
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("loop", self.obj.bind(py))?;
        let task = asyncio.call_method("ensure_future", (awaitable,), Some(&kwargs))?;
        let state: Rc<RefCell<Slot>> = Rc::default();
        let s = Rc::clone(&state);
        let cb = SlotCallback(Some(s));
        let cb = Py::new(py, cb)?;
        task.call_method1("add_done_callback", (cb,))?;
        Ok(PyFuture {
            state,
            task: task.unbind(),
        })
    }

    /// `loop.close()`.
    ///
    /// # Errors
    ///
    /// `RuntimeError` if the loop is running.
    pub fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.obj.bind(py).call_method0("close").map(drop)
    }
}

fn settle(py: Python<'_>, fut: &Bound<'_, PyAny>, out: PyResult<Py<PyAny>>) {
    let done = fut.call_method0("done").and_then(|d| d.is_truthy());
    if !matches!(done, Ok(false)) {
        return;
    }
    let r = match out {
        Ok(v) => fut.call_method1("set_result", (v,)),
        Err(e) => fut.call_method1("set_exception", (e.into_value(py),)),
    };
    if let Err(e) = r {
        e.write_unraisable(py, Some(fut));
    }
}

/// The done callback of a future made by [`EventLoop::future_into_py`]: cancelled, it drops
/// (cancels) the Rust task; done, it lets the task finish (it already has).
#[pyclass(unsendable)]
struct CancelOnDone(Option<JoinHandle<()>>);

#[pymethods]
impl CancelOnDone {
    fn __call__(&mut self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        let task = self.0.take();
        if fut.call_method0("cancelled")?.is_truthy()? {
            drop(task);
        } else if let Some(t) = task {
            t.detach();
        }
        Ok(())
    }
}

#[derive(Default)]
struct Slot {
    out: Option<PyResult<Py<PyAny>>>,
    waker: Option<Waker>,
}

/// The done callback of the task behind a [`PyFuture`].
#[pyclass(unsendable)]
struct SlotCallback(Option<Rc<RefCell<Slot>>>);

#[pymethods]
impl SlotCallback {
    fn __call__(&mut self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        let Some(slot) = self.0.take() else {
            return Ok(());
        };
        let out = match fut.call_method0("result") {
            Ok(v) => Ok(v.unbind()),
            Err(e) => Err(e), // the task's exception, or CancelledError
        };
        let waker = {
            let mut s = slot.borrow_mut();
            s.out = Some(out);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

/// A Python awaitable running on the loop, as a Rust future ([`EventLoop::into_future`]).
/// Dropping it cancels the asyncio task.
pub struct PyFuture {
    state: Rc<RefCell<Slot>>,
    task: Py<PyAny>,
}

impl Future for PyFuture {
    type Output = PyResult<Py<PyAny>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.state.borrow_mut();
        match s.out.take() {
            Some(out) => Poll::Ready(out),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for PyFuture {
    fn drop(&mut self) {
        if self.state.borrow().out.is_none() {
            Python::attach(|py| {
                let _ = self.task.bind(py).call_method0("cancel");
            });
        }
    }
}
