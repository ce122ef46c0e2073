//! `Handle` and `TimerHandle`: a callback, its arguments and its `contextvars.Context`, as
//! `asyncio.Handle`/`asyncio.TimerHandle` (same methods, same `repr`, same error routing).

use std::ffi::{c_int, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit, PyTypeError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};
use pyo3::{Borrowed, PyTraverseError, PyTypeInfo, ffi};

use super::gil::GilCell;

/// What a handle calls; dropped on `cancel()`, as asyncio drops it.
pub(crate) struct Call {
    callback: Py<PyAny>,
    /// `None` for no arguments (no empty tuple made per call).
    args: Option<Py<PyTuple>>,
}

/// A callback scheduled on the loop (what `call_soon` returns).
///
/// A handle that ran and that nothing else references is emptied and kept by its loop for the
/// next callback (`freelist.rs`), so every field a new callback sets is a cell.
#[pyclass(module = "rsuv", subclass, frozen, weakref)]
pub struct Handle {
    call: GilCell<Option<Call>>,
    cancelled: AtomicBool,
    context: GilCell<Py<PyAny>>,
    loop_: GilCell<Py<PyAny>>,
    source_traceback: Option<Py<PyAny>>,
    /// The repr taken at cancel time in debug mode (asyncio's `_repr`).
    repr: GilCell<Option<String>>,
}

/// What a handle let go of (emptied, or filled in again), to be dropped by the caller outside
/// every borrow (dropping may run arbitrary Python). Bound: dropped without pyo3's check of
/// the thread state that dropping a `Py` makes.
pub(crate) struct Vacated<'py> {
    _call: Option<(Bound<'py, PyAny>, Option<Bound<'py, PyTuple>>)>,
    _context: Bound<'py, PyAny>,
    _loop: Bound<'py, PyAny>,
}

impl<'py> Vacated<'py> {
    fn new(py: Python<'py>, call: Option<Call>, context: Py<PyAny>, lp: Py<PyAny>) -> Self {
        Vacated {
            _call: call.map(|c| (c.callback.into_bound(py), c.args.map(|a| a.into_bound(py)))),
            _context: context.into_bound(py),
            _loop: lp.into_bound(py),
        }
    }
}

/// The current context, copied (`contextvars.copy_context()`).
pub(crate) fn copy_context(py: Python<'_>) -> PyResult<Py<PyAny>> {
    // SAFETY: called with the GIL held; returns a new reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_CopyCurrent()).map(Bound::unbind) }
}

/// `asyncio.format_helpers.extract_stack()` from the Python code that called the loop's
/// method (the innermost Python frame: the methods are C functions), for debug mode.
pub(crate) fn extract_stack(py: Python<'_>) -> PyResult<Py<PyAny>> {
    static EXTRACT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let f = EXTRACT.import(py, "asyncio.format_helpers", "extract_stack")?;
    let frame = py.import("sys")?.call_method1("_getframe", (0,))?;
    Ok(f.call1((frame,))?.unbind())
}

/// The `TypeError` asyncio raises for a callback that is not callable.
/// In debug mode, coroutine functions are refused too, as asyncio's `_check_callback` does.
#[inline]
pub(crate) fn check_callable(cb: &Bound<'_, PyAny>, method: &str, debug: bool) -> PyResult<()> {
    if !debug && cb.is_callable() {
        return Ok(());
    }
    check_callable_slow(cb, method, debug)
}

#[cold]
fn check_callable_slow(cb: &Bound<'_, PyAny>, method: &str, debug: bool) -> PyResult<()> {
    let callable = cb.is_callable();
    let asyncio = cb.py().import("asyncio")?;
    let is_coro = asyncio.call_method1("iscoroutine", (cb,))?.is_truthy()?
        || (debug
            && asyncio
                .call_method1("iscoroutinefunction", (cb,))?
                .is_truthy()?);
    if callable && !is_coro {
        return Ok(());
    }
    if is_coro {
        return Err(PyTypeError::new_err(format!(
            "coroutines cannot be used with {method}()"
        )));
    }
    Err(PyTypeError::new_err(format!(
        "a callable object was expected by {method}(), got {}",
        cb.repr()?
    )))
}

/// Whether `err` must stop the loop and come out of `run_*` (as asyncio's `Handle._run`).
pub(crate) fn is_fatal(py: Python<'_>, err: &PyErr) -> bool {
    err.is_instance_of::<PyKeyboardInterrupt>(py) || err.is_instance_of::<PySystemExit>(py)
}

impl Handle {
    /// A handle for `callback(*args)` in `context` (a copy of the current one when `None`).
    pub(crate) fn create(
        py: Python<'_>,
        callback: Py<PyAny>,
        args: Option<Py<PyTuple>>,
        loop_: Py<PyAny>,
        context: Option<Py<PyAny>>,
        debug: bool,
    ) -> PyResult<Handle> {
        let context = match context {
            Some(c) if !c.is_none(py) => c,
            _ => copy_context(py)?,
        };
        let source_traceback = if debug {
            Some(extract_stack(py)?)
        } else {
            None
        };
        Ok(Handle {
            call: GilCell::new(Some(Call { callback, args })),
            cancelled: AtomicBool::new(false),
            context: GilCell::new(context),
            loop_: GilCell::new(loop_),
            source_traceback,
            repr: GilCell::new(None),
        })
    }

    /// Whether this handle may be emptied and filled in again: made outside debug mode (no
    /// source traceback, no repr kept).
    pub(crate) fn is_plain(&self, py: Python<'_>) -> bool {
        self.source_traceback.is_none() && self.repr.borrow(py).is_none()
    }

    /// Empties a handle that ran and that nothing else references; what it held is returned.
    pub(crate) fn vacate<'py>(&self, py: Python<'py>) -> Vacated<'py> {
        let call = self.call.borrow_mut(py).take();
        let ctx = std::mem::replace(&mut *self.context.borrow_mut(py), py.None());
        let lp = std::mem::replace(&mut *self.loop_.borrow_mut(py), py.None());
        Vacated::new(py, call, ctx, lp)
    }

    /// Fills in an emptied handle for a new callback (as `create` outside debug mode).
    pub(crate) fn refill<'py>(
        &self,
        py: Python<'py>,
        callback: Py<PyAny>,
        args: Option<Py<PyTuple>>,
        loop_: Py<PyAny>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Vacated<'py>> {
        let context = match context {
            Some(c) if !c.is_none(py) => c,
            _ => copy_context(py)?,
        };
        self.cancelled.store(false, Ordering::Relaxed);
        let call = self.call.borrow_mut(py).replace(Call { callback, args });
        let ctx = std::mem::replace(&mut *self.context.borrow_mut(py), context);
        let lp = std::mem::replace(&mut *self.loop_.borrow_mut(py), loop_);
        Ok(Vacated::new(py, call, ctx, lp))
    }

    /// Cancels through the Python method (so that a `TimerHandle` tells its heap).
    pub(crate) fn cancel_from_rust(h: &Bound<'_, Handle>) -> PyResult<()> {
        h.call_method0("cancel").map(drop)
    }

    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Calls the callback in its context; the exception it raised, if any.
    pub(crate) fn run(&self, py: Python<'_>) -> PyResult<()> {
        // Bound clones: their drops need no check of the thread state.
        let (callback, args) = match &*self.call.borrow(py) {
            Some(c) => (
                c.callback.bind(py).clone(),
                c.args.as_ref().map(|a| a.bind(py).clone()),
            ),
            None => return Ok(()),
        };
        let context = self.context.borrow(py).bind(py).clone();
        let ctx = context.as_ptr();
        // SAFETY: the GIL is held and `ctx` is a live Context (kept by `context`); a failure
        // sets an exception ("already entered"), fetched here.
        if unsafe { ffi::PyContext_Enter(ctx) } < 0 {
            return Err(PyErr::fetch(py));
        }
        let result = match &args {
            Some(args) => callback.call1(args),
            None => callback.call0(),
        };
        // SAFETY: `ctx` was entered just above on this thread; exiting it cannot fail then.
        unsafe { ffi::PyContext_Exit(ctx) };
        result.map(drop)
    }

    /// Runs the handle as asyncio's `Handle._run`: an exception goes to the loop's exception
    /// handler, but `KeyboardInterrupt` and `SystemExit` are returned, to stop the loop.
    pub(crate) fn run_routed(slf: &Bound<'_, Handle>) -> PyResult<()> {
        let py = slf.py();
        match slf.get().run(py) {
            Ok(()) => Ok(()),
            Err(e) if is_fatal(py, &e) => Err(e),
            Err(e) => slf.get().report(slf, e),
        }
    }

    /// Hands `err` to the loop's `call_exception_handler` with asyncio's context keys.
    fn report(&self, slf: &Bound<'_, Handle>, err: PyErr) -> PyResult<()> {
        let py = slf.py();
        let ctx = PyDict::new(py);
        let cb = self.callback_source(py).unwrap_or_else(|_| "?".into());
        ctx.set_item("message", format!("Exception in callback {cb}"))?;
        ctx.set_item("exception", err.into_value(py))?;
        ctx.set_item("handle", slf)?;
        if let Some(tb) = &self.source_traceback {
            ctx.set_item("source_traceback", tb)?;
        }
        let lp = self.loop_.borrow(py).clone_ref(py);
        match lp.bind(py).call_method1("call_exception_handler", (ctx,)) {
            Err(e) if is_fatal(py, &e) => Err(e),
            // The handler logs its own failures; one failing beyond that is not ours to raise.
            _ => Ok(()),
        }
    }

    /// `asyncio.format_helpers._format_callback_source(callback, args)`.
    fn callback_source(&self, py: Python<'_>) -> PyResult<String> {
        static FORMAT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let f = FORMAT.import(py, "asyncio.format_helpers", "_format_callback_source")?;
        let (cb, args) = match &*self.call.borrow(py) {
            Some(c) => (c.callback.clone_ref(py), args_tuple(py, c)),
            None => return Ok(String::new()),
        };
        if py.version_info() >= (3, 13) {
            // 3.13 shows the arguments in debug mode only, as its Handle passes `debug`.
            let kwargs = PyDict::new(py);
            kwargs.set_item("debug", self.loop_debug(py))?;
            return f.call((cb, args), Some(&kwargs))?.extract();
        }
        f.call1((cb, args))?.extract()
    }

    /// Visits what this handle references: for `__traverse__`, and for the loop's on behalf
    /// of a pending timer the collector does not track (`timers.rs`).
    pub(crate) fn visit_refs(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(Some(c)) = self.call.peek().as_deref() {
            visit.call(&c.callback)?;
            visit.call(&c.args)?;
        }
        if let Some(c) = self.context.peek() {
            visit.call(&*c)?;
        }
        if let Some(l) = self.loop_.peek() {
            visit.call(&*l)?;
        }
        visit.call(&self.source_traceback)
    }

    /// Calls `f` on each object this handle references, until `f` returns non-zero (that is
    /// returned). Touches no reference count and runs no Python: fit for `tp_traverse`.
    fn each_ref(&self, mut f: impl FnMut(*mut ffi::PyObject) -> c_int) -> c_int {
        let mut refs: [*mut ffi::PyObject; 5] = [std::ptr::null_mut(); 5];
        if let Some(Some(c)) = self.call.peek().as_deref() {
            refs[0] = c.callback.as_ptr();
            refs[1] = c.args.as_ref().map_or(std::ptr::null_mut(), |a| a.as_ptr());
        }
        if let Some(c) = self.context.peek() {
            refs[2] = c.as_ptr();
        }
        if let Some(l) = self.loop_.peek() {
            refs[3] = l.as_ptr();
        }
        if let Some(t) = &self.source_traceback {
            refs[4] = t.as_ptr();
        }
        for o in refs {
            if !o.is_null() {
                let rc = f(o);
                if rc != 0 {
                    return rc;
                }
            }
        }
        0
    }

    fn do_cancel(&self, py: Python<'_>, slf: &Bound<'_, PyAny>) -> PyResult<bool> {
        if self.cancelled.swap(true, Ordering::Relaxed) {
            return Ok(false);
        }
        if self.loop_debug(py) {
            let r: String = slf.repr()?.extract()?;
            *self.repr.borrow_mut(py) = Some(r);
        }
        let call = self.call.borrow_mut(py).take();
        drop(call); // outside the borrow: dropping may run arbitrary Python
        Ok(true)
    }

    fn loop_debug(&self, py: Python<'_>) -> bool {
        let lp = self.loop_.borrow(py).clone_ref(py);
        let lp = lp.bind(py);
        !lp.is_none()
            && lp
                .call_method0("get_debug")
                .and_then(|d| d.is_truthy())
                .unwrap_or(false)
    }

    fn repr_info(&self, py: Python<'_>, name: &str, when: Option<f64>) -> PyResult<String> {
        let mut info = vec![name.to_string()];
        if self.is_cancelled() {
            info.push("cancelled".into());
        }
        if let Some(w) = when {
            let w = pyo3::types::PyFloat::new(py, w).repr()?;
            info.push(format!("when={w}"));
        }
        if self.call.borrow(py).is_some() {
            info.push(self.callback_source(py)?);
        }
        if let Some(tb) = &self.source_traceback {
            let frame = tb.bind(py).get_item(-1)?;
            let (file, line): (String, i64) =
                (frame.get_item(0)?.extract()?, frame.get_item(1)?.extract()?);
            info.push(format!("created at {file}:{line}"));
        }
        Ok(format!("<{}>", info.join(" ")))
    }
}

/// The arguments of `call` as asyncio's `Handle._args` holds them (`()` for none).
fn args_tuple(py: Python<'_>, call: &Call) -> Py<PyTuple> {
    match &call.args {
        Some(a) => a.clone_ref(py),
        None => PyTuple::empty(py).unbind(),
    }
}

/// `args` as a tuple, `None` when empty.
/// The collector's `tp_traverse` of `Handle` and `TimerHandle` (and, through CPython's
/// `subtype_traverse`, of Python subclasses): pyo3's generic one walks the base classes and
/// guards the thread state on every call, which made traversal most of the cost of keeping
/// many timers (measured with callgrind: ~1,300 instructions per timer and collection).
unsafe extern "C" fn traverse(
    slf: *mut ffi::PyObject,
    visit: ffi::visitproc,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: the collector calls this with the GIL held on a live instance of `Handle` or of
    // a subclass (whose layout starts with `Handle`'s, as `as_super` relies on too); the token
    // made here is used only to view the object, and `each_ref` runs no Python.
    unsafe {
        let rc = visit(ffi::Py_TYPE(slf).cast(), arg); // instances of heap types visit their type
        if rc != 0 {
            return rc;
        }
        let h = Borrowed::from_ptr(Python::assume_attached(), slf).cast_unchecked::<Handle>();
        h.get().each_ref(|o| visit(o, arg))
    }
}

/// Puts `traverse` in the type slots of `Handle` and `TimerHandle`; called once, when the
/// module is made and before any instance exists.
pub(crate) fn install_traverse(py: Python<'_>) {
    for tp in [
        Handle::type_object_raw(py),
        TimerHandle::type_object_raw(py),
    ] {
        // SAFETY: `tp` is the live heap type object of a class whose instances all have
        // `Handle`'s layout; no instance exists yet and the GIL is held.
        unsafe { (*tp).tp_traverse = Some(traverse) };
    }
}

fn tuple_of(args: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyTuple>>> {
    let t = match args.cast::<PyTuple>() {
        Ok(t) => t.clone(),
        Err(_) => PyTuple::new(args.py(), args.try_iter()?.collect::<PyResult<Vec<_>>>()?)?,
    };
    Ok((!t.is_empty()).then(|| t.unbind()))
}

#[pymethods]
impl Handle {
    #[new]
    #[pyo3(signature = (callback, args, r#loop, context=None))]
    fn py_new(
        py: Python<'_>,
        callback: Py<PyAny>,
        args: &Bound<'_, PyAny>,
        r#loop: Py<PyAny>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Handle> {
        let args = tuple_of(args)?;
        let debug = {
            let lp = r#loop.bind(py);
            !lp.is_none() && lp.call_method0("get_debug")?.is_truthy()?
        };
        Handle::create(py, callback, args, r#loop, context, debug)
    }

    /// Cancels the callback; a no-op if it already ran or was cancelled.
    fn cancel(slf: &Bound<'_, Self>) -> PyResult<()> {
        slf.get().do_cancel(slf.py(), slf.as_any()).map(drop)
    }

    /// Whether the handle was cancelled.
    fn cancelled(&self) -> bool {
        self.is_cancelled()
    }

    /// The `contextvars.Context` the callback runs in.
    fn get_context(&self, py: Python<'_>) -> Py<PyAny> {
        self.context.borrow(py).clone_ref(py)
    }

    /// Runs the callback now (asyncio's `Handle._run`).
    fn _run(slf: &Bound<'_, Self>) -> PyResult<()> {
        Handle::run_routed(slf)
    }

    #[getter]
    fn _callback(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.call
            .borrow(py)
            .as_ref()
            .map(|c| c.callback.clone_ref(py))
    }

    #[getter]
    fn _args(&self, py: Python<'_>) -> Option<Py<PyTuple>> {
        self.call.borrow(py).as_ref().map(|c| args_tuple(py, c))
    }

    #[getter]
    fn _loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.loop_.borrow(py).clone_ref(py)
    }

    #[getter]
    fn _cancelled(&self) -> bool {
        self.is_cancelled()
    }

    #[getter]
    fn _source_traceback(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.source_traceback.as_ref().map(|t| t.clone_ref(py))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        if let Some(r) = &*self.repr.borrow(py) {
            return Ok(r.clone());
        }
        self.repr_info(py, "Handle", None)
    }

    /// What the collector sees through pyo3's slot, which `traverse` replaces at start-up
    /// with the same walk; keep the two in step (`each_ref`).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.visit_refs(&visit)
    }
}

/// A callback scheduled for a time (what `call_later` and `call_at` return).
#[pyclass(module = "rsuv", extends = Handle, frozen)]
pub struct TimerHandle {
    /// f64 bits (a cell, for a recycled handle).
    when: AtomicU64,
    /// Set while the handle is in a loop's timer heap; the loop's count of cancelled timers
    /// in its heap, raised when a scheduled timer is cancelled.
    scheduled: AtomicBool,
    cancelled_in_heap: Option<Arc<AtomicUsize>>,
}

impl TimerHandle {
    pub(crate) fn create(
        when: f64,
        handle: Handle,
        counter: Option<Arc<AtomicUsize>>,
    ) -> PyClassInitializer<TimerHandle> {
        PyClassInitializer::from(handle).add_subclass(TimerHandle {
            when: AtomicU64::new(when.to_bits()),
            scheduled: AtomicBool::new(false),
            cancelled_in_heap: counter,
        })
    }

    #[inline]
    pub(crate) fn when_f64(&self) -> f64 {
        f64::from_bits(self.when.load(Ordering::Relaxed))
    }

    /// Sets the time of a recycled timer being filled in again.
    pub(crate) fn set_when(&self, when: f64) {
        self.when.store(when.to_bits(), Ordering::Relaxed);
    }

    pub(crate) fn set_scheduled(&self, on: bool) {
        self.scheduled.store(on, Ordering::Relaxed);
    }
}

#[pymethods]
impl TimerHandle {
    #[new]
    #[pyo3(signature = (when, callback, args, r#loop, context=None))]
    fn py_new(
        py: Python<'_>,
        when: f64,
        callback: Py<PyAny>,
        args: &Bound<'_, PyAny>,
        r#loop: Py<PyAny>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<PyClassInitializer<TimerHandle>> {
        let handle = Handle::py_new(py, callback, args, r#loop, context)?;
        Ok(TimerHandle::create(when, handle, None))
    }

    /// Cancels the callback; the loop drops it from its heap lazily.
    fn cancel(slf: &Bound<'_, Self>) -> PyResult<()> {
        let base = slf.as_super().get();
        if base.do_cancel(slf.py(), slf.as_any())? && slf.get().scheduled.load(Ordering::Relaxed) {
            if let Some(c) = &slf.get().cancelled_in_heap {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let base = slf.as_super().get();
        if let Some(r) = &*base.repr.borrow(py) {
            return Ok(r.clone());
        }
        base.repr_info(py, "TimerHandle", Some(slf.get().when_f64()))
    }

    fn __hash__(&self) -> u64 {
        self.when.load(Ordering::Relaxed)
    }

    fn __richcmp__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let Ok(other) = other.cast::<TimerHandle>() else {
            return Ok(py.NotImplemented());
        };
        let (a, b) = (slf.get().when_f64(), other.get().when_f64());
        let r = match op {
            CompareOp::Lt => a < b,
            CompareOp::Le => a < b || slf.is(other) || same_timer(slf, other, py)?,
            CompareOp::Gt => a > b,
            CompareOp::Ge => a > b || slf.is(other) || same_timer(slf, other, py)?,
            CompareOp::Eq => slf.is(other) || same_timer(slf, other, py)?,
            CompareOp::Ne => !(slf.is(other) || same_timer(slf, other, py)?),
        };
        Ok(pyo3::types::PyBool::new(py, r)
            .to_owned()
            .into_any()
            .unbind())
    }
}

/// asyncio's `TimerHandle.__eq__`: same time, callback, arguments and cancelled state.
fn same_timer(
    a: &Bound<'_, TimerHandle>,
    b: &Bound<'_, TimerHandle>,
    py: Python<'_>,
) -> PyResult<bool> {
    if a.get().when_f64() != b.get().when_f64() {
        return Ok(false);
    }
    let (ha, hb) = (a.as_super().get(), b.as_super().get());
    if ha.is_cancelled() != hb.is_cancelled() {
        return Ok(false);
    }
    let (ca, cb) = (ha._callback(py), hb._callback(py));
    let (aa, ab) = (ha._args(py), hb._args(py));
    let eq = |x: Option<Py<PyAny>>, y: Option<Py<PyAny>>| -> PyResult<bool> {
        match (x, y) {
            (None, None) => Ok(true),
            (Some(x), Some(y)) => x.bind(py).eq(y.bind(py)),
            _ => Ok(false),
        }
    };
    Ok(eq(ca, cb)? && eq(aa.map(|t| t.into_any()), ab.map(|t| t.into_any()))?)
}
