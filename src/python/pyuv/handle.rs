//! `pyuv.Handle`: the base of every pyuv handle. It owns the libuv handle (one of `Uv`), the
//! Python callbacks, and the handle's lifetime: a started handle keeps itself alive (`keep`),
//! one dropped without `close()` is closed by its `Drop`, and libuv's callbacks reach the
//! Python object through a weak reference, so they never keep it alive or outlive it.

use pyo3::PyTraverseError;
use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyWeakrefMethods, PyWeakrefReference};

use super::errors::{ErrKind, closed, uv_err};
use super::loop_::{Loop, report};
use crate::python::gil::GilCell;
use crate::uv;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The libuv handle a pyuv handle owns; `None` before it exists (an unspawned `Process`)
/// and after the close callback.
pub(crate) enum Uv {
    None,
    Timer(uv::Timer),
    Prepare(uv::Prepare),
    Check(uv::Check),
    Idle(uv::Idle),
    Async(uv::Async, uv::AsyncSender),
    Signal(uv::Signal),
    Poll(uv::Poll),
    Tcp(uv::Tcp),
    Pipe(uv::Pipe),
    Tty(uv::Tty),
    Udp(uv::Udp),
    Process(uv::Process),
    FsEvent(uv::FsEvent),
    FsPoll(uv::FsPoll),
}

/// `$body` with `$h` bound to whichever libuv handle `$uv` holds; `$none` when none.
macro_rules! each_uv {
    ($uv:expr, $h:ident => $body:expr, $none:expr) => {
        match $uv {
            Uv::None => $none,
            Uv::Timer($h) => $body,
            Uv::Prepare($h) => $body,
            Uv::Check($h) => $body,
            Uv::Idle($h) => $body,
            Uv::Async($h, _) => $body,
            Uv::Signal($h) => $body,
            Uv::Poll($h) => $body,
            Uv::Tcp($h) => $body,
            Uv::Pipe($h) => $body,
            Uv::Tty($h) => $body,
            Uv::Udp($h) => $body,
            Uv::Process($h) => $body,
            Uv::FsEvent($h) => $body,
            Uv::FsPoll($h) => $body,
        }
    };
}

impl Uv {
    pub(crate) fn is_active(&self) -> bool {
        each_uv!(self, h => h.is_active(), false)
    }

    fn is_closing(&self) -> bool {
        each_uv!(self, h => h.is_closing(), true)
    }
}

/// Callback slots: the one `start`/`start_read`/`start_recv` takes, and a listening
/// stream's connection callback (or a process's exit callback).
pub(crate) const MAIN: usize = 0;
pub(crate) const AUX: usize = 1;

pub(crate) struct HState {
    pub(crate) lp: Option<Py<Loop>>,
    pub(crate) uv: Uv,
    pub(crate) cb: [Option<Py<PyAny>>; 2],
    on_close: Option<Py<PyAny>>,
    /// The handle itself while libuv holds it active (pyuv's "started handles stay alive");
    /// not visited by the collector, so that an active handle is never collected.
    keep: Option<Py<PyAny>>,
    weak: Option<Py<PyWeakrefReference>>,
    pub(crate) closing: bool,
    pub(crate) kind: ErrKind,
    /// Filled with the callback context once it exists, for a libuv callback fixed at the
    /// handle's creation (`Async`).
    late: Option<super::watchers::LateCtx>,
    /// The descriptor given to `open(fd)`: the handle owns it (its `fileno()`, closed by
    /// `close()`), while libuv works on a private duplicate.
    fd: Option<OwnedFd>,
    /// `Handle.__init__` ran (a subclass's `__init__` must call it, as in pyuv).
    init: bool,
}

/// The base of every pyuv handle.
#[pyclass(
    module = "pyuv._cpyuv",
    name = "Handle",
    subclass,
    frozen,
    dict,
    weakref
)]
pub struct Handle {
    pub(crate) st: GilCell<HState>,
}

/// What a libuv callback closure holds to reach its Python handle: a weak reference, so
/// that it never keeps the handle (or, through it, the loop) alive.
pub(crate) struct Ctx {
    weak: Py<PyWeakrefReference>,
}

impl Ctx {
    pub(crate) fn clone_ref(&self, py: Python<'_>) -> Ctx {
        Ctx {
            weak: self.weak.clone_ref(py),
        }
    }

    /// The handle, if it is still alive.
    pub(crate) fn handle<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.weak.bind(py).upgrade()
    }

    /// Calls the callback in `slot` of the live handle with `args(handle)`; its exception
    /// goes to the loop's `excepthook`. Then the handle's keep-alive follows its state.
    pub(crate) fn fire<'py, A>(
        &self,
        py: Python<'py>,
        slot: usize,
        args: impl FnOnce(&Bound<'py, PyAny>) -> PyResult<A>,
    ) where
        A: pyo3::call::PyCallArgs<'py>,
    {
        let Some(obj) = self.handle(py) else { return };
        let Ok(h) = obj.cast::<Handle>() else { return };
        let cb = h.get().st.borrow(py).cb[slot]
            .as_ref()
            .map(|c| c.clone_ref(py));
        call_cb(h, cb, args);
    }
}

/// Calls `cb(*args(handle))` if there is a callback, its exception to the loop's
/// `excepthook`; then the handle's keep-alive follows its state. For a request's callback
/// too (the request holds the handle).
pub(crate) fn call_cb<'py, A>(
    h: &Bound<'py, Handle>,
    cb: Option<Py<PyAny>>,
    args: impl FnOnce(&Bound<'py, PyAny>) -> PyResult<A>,
) where
    A: pyo3::call::PyCallArgs<'py>,
{
    let py = h.py();
    if let Some(cb) = cb {
        if let Err(e) = args(h.as_any()).and_then(|a| cb.bind(py).call1(a)) {
            report_for(h, e);
        }
    }
    Handle::sync_keep(h);
}

/// A callback's exception, to the handle's loop (printed if the handle has none any more).
pub(crate) fn report_for(h: &Bound<'_, Handle>, e: PyErr) {
    let py = h.py();
    let lp = h.get().st.borrow(py).lp.as_ref().map(|l| l.clone_ref(py));
    match lp {
        Some(lp) => report(py, lp.bind(py), e),
        None => e.print(py),
    }
}

impl HState {
    /// pyuv's `RuntimeError` for a handle whose `__init__` was not run.
    fn check_init(&self) -> PyResult<()> {
        if !self.init {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "Object was not initialized, forgot to call __init__?",
            ));
        }
        Ok(())
    }
}

impl Handle {
    pub(crate) fn new(lp: &Bound<'_, Loop>, kind: ErrKind, uv: Uv) -> Handle {
        Handle {
            st: GilCell::new(HState {
                lp: Some(lp.clone().unbind()),
                uv,
                cb: [None, None],
                on_close: None,
                keep: None,
                weak: None,
                closing: false,
                kind,
                late: None,
                fd: None,
                init: false,
            }),
        }
    }

    pub(crate) fn with_cb(mut self, slot: usize, cb: Option<Py<PyAny>>) -> Handle {
        self.st.get_mut().cb[slot] = cb;
        self
    }

    pub(crate) fn with_late_ctx(mut self, late: super::watchers::LateCtx) -> Handle {
        self.st.get_mut().late = Some(late);
        self
    }

    /// The handle's libuv loop, for making its libuv handle.
    pub(crate) fn uv_loop(lp: &Bound<'_, Loop>, kind: ErrKind) -> PyResult<uv::LoopHandle> {
        lp.get().uv_handle(lp.py()).map_err(|e| uv_err(kind, e))
    }

    /// The callback context; registers the handle with its loop the first time (normally
    /// from `__init__`).
    pub(crate) fn ctx(h: &Bound<'_, Handle>) -> PyResult<Ctx> {
        let py = h.py();
        let (weak, lp) = {
            let st = h.get().st.borrow(py);
            st.check_init()?;
            let lp = st.lp.as_ref().map(|l| l.clone_ref(py)).ok_or_else(closed)?;
            (st.weak.as_ref().map(|w| w.clone_ref(py)), lp)
        };
        let weak = match weak {
            Some(w) => w,
            None => {
                let w = PyWeakrefReference::new(h.as_any())?.unbind();
                let late = {
                    let mut st = h.get().st.borrow_mut(py);
                    st.weak = Some(w.clone_ref(py));
                    st.late.clone()
                };
                lp.get().register(py, w.clone_ref(py));
                if let Some(late) = late {
                    let ctx = Ctx {
                        weak: w.clone_ref(py),
                    };
                    *late.borrow_mut() = Some(ctx);
                    Handle::sync_keep(h);
                }
                w
            }
        };
        Ok(Ctx { weak })
    }

    /// Runs `f` on the open libuv handle; a libuv error becomes the handle's exception.
    pub(crate) fn with_uv<R>(
        h: &Bound<'_, Handle>,
        f: impl FnOnce(&Uv) -> uv::Result<R>,
    ) -> PyResult<R> {
        let st = h.get().st.borrow(h.py());
        st.check_init()?;
        if st.closing {
            return Err(closed());
        }
        let kind = st.kind;
        f(&st.uv).map_err(|e| uv_err(kind, e))
    }

    /// What a getter reads from the libuv handle, also once closed (pyuv's getters check
    /// only initialisation): `default` when the handle is gone or the read fails.
    pub(crate) fn peek_uv<R>(
        h: &Bound<'_, Handle>,
        default: R,
        f: impl FnOnce(&Uv) -> uv::Result<R>,
    ) -> R {
        let st = h.get().st.borrow(h.py());
        f(&st.uv).unwrap_or(default)
    }

    /// Raises `HandleClosedError` once `close()` was called.
    pub(crate) fn check_open(h: &Bound<'_, Handle>) -> PyResult<()> {
        let st = h.get().st.borrow(h.py());
        st.check_init()?;
        if st.closing {
            return Err(closed());
        }
        Ok(())
    }

    /// pyuv's `open(fd)`: the handle takes `fd` over (`fileno()` is `fd`, `close()` closes
    /// it, so the peer sees the end), and libuv works on a private duplicate, so that Python
    /// code closing `fd` behind the handle's back cannot make libuv abort. A bad descriptor
    /// is the handle's error with `UV_EBADF`, and leaves `fd` to the caller.
    pub(crate) fn adopt_fd(
        h: &Bound<'_, Handle>,
        fd: &Bound<'_, PyAny>,
        kind: ErrKind,
        open: impl FnOnce(&uv::LoopHandle, OwnedFd) -> uv::Result<Uv>,
    ) -> PyResult<()> {
        Handle::check_open(h)?;
        let lp = h
            .get()
            .st
            .borrow(h.py())
            .lp
            .as_ref()
            .map(|l| l.clone_ref(h.py()));
        let lh = Handle::uv_loop(lp.ok_or_else(closed)?.bind(h.py()), kind)?;
        let fd = match fd.extract::<i32>() {
            Ok(n) => n,
            Err(_) => super::util::fd_of(fd)?,
        };
        let private = uv::dup_fd(fd).map_err(|e| uv_err(kind, e))?;
        let uv = open(&lh, private).map_err(|e| uv_err(kind, e))?;
        // SAFETY: dup_fd just proved `fd` open, and pyuv's open(fd) hands the descriptor to
        // the handle (its documented contract): from here the handle alone closes it.
        let own = unsafe { OwnedFd::from_raw_fd(fd) };
        Handle::set_uv(h, uv);
        let old = h.get().st.borrow_mut(h.py()).fd.replace(own);
        drop(old);
        Ok(())
    }

    /// The descriptor `open(fd)` adopted, if any (what `fileno()` reports).
    pub(crate) fn adopted_fd(h: &Bound<'_, Handle>) -> Option<i32> {
        let st = h.get().st.borrow(h.py());
        st.fd.as_ref().map(|f| f.as_raw_fd())
    }

    pub(crate) fn set_cb(h: &Bound<'_, Handle>, slot: usize, cb: Option<Py<PyAny>>) {
        let old = std::mem::replace(&mut h.get().st.borrow_mut(h.py()).cb[slot], cb);
        drop(old); // may run Python: after the borrow
    }

    /// Replaces the libuv handle (an accepted stream, a spawned process).
    pub(crate) fn set_uv(h: &Bound<'_, Handle>, uv: Uv) {
        let old = std::mem::replace(&mut h.get().st.borrow_mut(h.py()).uv, uv);
        drop(old);
    }

    /// Keeps the handle alive exactly while libuv holds it active.
    pub(crate) fn sync_keep(h: &Bound<'_, Handle>) {
        let py = h.py();
        let active = {
            let st = h.get().st.borrow(py);
            !st.closing && st.uv.is_active()
        };
        let old = {
            let mut st = h.get().st.borrow_mut(py);
            match (active, st.keep.is_some()) {
                (true, false) => {
                    st.keep = Some(h.clone().into_any().unbind());
                    None
                }
                (false, true) => st.keep.take(),
                _ => None,
            }
        };
        drop(old); // may free the handle: after the borrow
    }

    /// The close callback's work: the loop let go, callbacks dropped, `callback(handle)`.
    fn closed_cb(py: Python<'_>, obj: Py<PyAny>, lp: Py<Loop>) {
        let obj = obj.into_bound(py);
        let Ok(h) = obj.cast::<Handle>() else { return };
        let (cb, rest) = {
            let mut st = h.get().st.borrow_mut(py);
            let rest = (
                st.cb[MAIN].take(),
                st.cb[AUX].take(),
                st.keep.take(),
                st.lp.take(),
            );
            st.uv = Uv::None;
            (st.on_close.take(), rest)
        };
        drop(rest);
        if let Some(cb) = cb
            && let Err(e) = cb.bind(py).call1((&obj,))
        {
            report(py, lp.bind(py), e);
        }
    }

    /// `close(callback=None)`, shared with `Process`.
    pub(crate) fn do_close(h: &Bound<'_, Handle>, callback: Option<Py<PyAny>>) -> PyResult<()> {
        let py = h.py();
        check_callable_opt(py, callback.as_ref())?;
        let lp = {
            let mut st = h.get().st.borrow_mut(py);
            st.check_init()?;
            if st.closing {
                return Err(closed());
            }
            st.closing = true;
            st.on_close = callback;
            st.lp.as_ref().map(|l| l.clone_ref(py))
        };
        let Some(lp) = lp else { return Ok(()) };
        let obj = h.clone().into_any().unbind();
        let started = {
            let st = h.get().st.borrow(py);
            let lp2 = lp.clone_ref(py);
            let done = move || Python::attach(|py| Handle::closed_cb(py, obj, lp2));
            each_uv!(&st.uv, u => u.close_with(done).is_ok(), false)
        };
        let adopted = h.get().st.borrow_mut(py).fd.take();
        drop(adopted); // libuv closed its duplicate in uv_close: now the caller's descriptor
        if !started {
            // Nothing open in libuv (an unspawned process): closed at once.
            Handle::closed_cb(py, h.clone().into_any().unbind(), lp);
        }
        Ok(())
    }
}

pub(crate) fn check_callable_opt(_py: Python<'_>, cb: Option<&Py<PyAny>>) -> PyResult<()> {
    match cb {
        Some(c) if !c.bind(_py).is_callable() => {
            Err(PyTypeError::new_err("a callable is required"))
        }
        _ => Ok(()),
    }
}

pub(crate) fn check_callable(cb: &Bound<'_, PyAny>) -> PyResult<()> {
    if !cb.is_callable() {
        return Err(PyTypeError::new_err("a callable is required"));
    }
    Ok(())
}

#[pymethods]
impl Handle {
    /// Registers the handle with its loop (`Loop.handles`); subclasses' `__init__` must call
    /// it, as pyuv's must call its base's.
    #[pyo3(signature = (*_args, **_kwargs))]
    fn _pyuv_init(
        slf: &Bound<'_, Self>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let registered = {
            let mut st = slf.get().st.borrow_mut(slf.py());
            st.init = true;
            st.lp.is_some()
        };
        if registered {
            Handle::ctx(slf)?;
        }
        Ok(())
    }

    /// Closes the handle; `callback(handle)` runs once libuv has closed it.
    #[pyo3(signature = (callback=None))]
    fn close(slf: &Bound<'_, Self>, callback: Option<Py<PyAny>>) -> PyResult<()> {
        Handle::do_close(slf, callback)
    }

    #[getter]
    fn active(slf: &Bound<'_, Self>) -> bool {
        let st = slf.get().st.borrow(slf.py());
        !st.closing && st.uv.is_active()
    }

    /// True once `close()` was called (also while closing).
    #[getter]
    fn closed(slf: &Bound<'_, Self>) -> bool {
        let st = slf.get().st.borrow(slf.py());
        st.closing || st.uv.is_closing()
    }

    /// The loop; `None` after the close callback.
    #[getter(r#loop)]
    fn get_loop(slf: &Bound<'_, Self>) -> Option<Py<Loop>> {
        let py = slf.py();
        slf.get().st.borrow(py).lp.as_ref().map(|l| l.clone_ref(py))
    }

    #[getter(r#ref)]
    fn get_ref(slf: &Bound<'_, Self>) -> bool {
        let st = slf.get().st.borrow(slf.py());
        each_uv!(&st.uv, h => h.has_ref(), false)
    }

    #[deleter(r#ref)]
    fn del_ref(&self) -> PyResult<()> {
        Err(super::errors::no_delete())
    }

    #[setter(r#ref)]
    fn set_ref(slf: &Bound<'_, Self>, value: bool) -> PyResult<()> {
        Handle::with_uv(slf, |uv| {
            each_uv!(uv, h => if value { h.ref_() } else { h.unref() }, ());
            Ok(())
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let Some(st) = self.st.peek() else {
            return Ok(());
        };
        visit.call(&st.lp)?;
        for c in &st.cb {
            visit.call(c)?;
        }
        visit.call(&st.on_close)
    }

    fn __clear__(&self) {
        Python::attach(|py| {
            let old = {
                let mut st = self.st.borrow_mut(py);
                (st.cb[MAIN].take(), st.cb[AUX].take(), st.on_close.take())
            };
            drop(old);
        });
    }
}
