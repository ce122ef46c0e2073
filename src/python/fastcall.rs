//! `call_soon`, `call_soon_threadsafe`, `call_later` and `call_at` of `LoopCore` as C
//! functions with CPython's fastcall convention (`METH_FASTCALL | METH_KEYWORDS`), and
//! `LoopCore.time()` and `TimerHandle.when()` as `METH_NOARGS` ones, installed in the classes
//! when the module is made.
//!
//! They are the hottest entry points of the loop: asyncio's own tasks and futures call
//! `call_soon` for every step. pyo3's generic wrapper collects `*args` into a new tuple and
//! matches keywords by a table on every call; here the positional arguments are read straight
//! from the caller's array, a tuple is made only when there are extra arguments, and the one
//! keyword, `context`, is matched by its interned pointer first (callgrind: ~130 instructions
//! less per call).

use std::ffi::CStr;
use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyString, PyTuple};
use pyo3::{Borrowed, PyTypeInfo, ffi};

use super::gil::GilCell;
use super::handle::TimerHandle;
use super::loop_core::LoopCore;

/// Named positional parameters at most (`delay, callback`).
const MAX_NAMED: usize = 2;

impl<'a, 'py> Args<'a, 'py> {
    /// Named positional parameter `i` (present: `parse` checked it).
    fn arg(&self, i: usize) -> PyResult<Borrowed<'a, 'py, PyAny>> {
        self.fixed[i].ok_or_else(|| PyRuntimeError::new_err("rsuv: argument missing after parse"))
    }
}

/// The arguments of one call, as `(positional..., *args, context=None)`.
struct Args<'a, 'py> {
    /// The named positional parameters (`delay`/`when`, then `callback`), all present.
    fixed: [Option<Borrowed<'a, 'py, PyAny>>; MAX_NAMED],
    /// `*args`: `None` when empty.
    rest: Option<Py<PyTuple>>,
    context: Option<Py<PyAny>>,
}

/// Reads `(names..., *args, context=None)` from a fastcall argument vector, raising the
/// `TypeError` Python raises for a mismatched call of such a function.
///
/// # Safety
/// `args` points to `nargs` positional objects followed by one per name in `kwnames` (a
/// tuple of `str`, or NULL), all live for the call, as CPython passes them.
unsafe fn parse<'a, 'py>(
    py: Python<'py>,
    method: &str,
    names: &[&str],
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Args<'a, 'py>> {
    // SAFETY: as the function's contract says (NARGS only masks a flag bit); `args` may be
    // NULL when there is no argument at all.
    let (nargs, positional) = unsafe {
        let n = ffi::PyVectorcall_NARGS(nargs as usize) as usize;
        if n == 0 {
            (0, &[][..])
        } else {
            (n, std::slice::from_raw_parts(args, n))
        }
    };
    let mut fixed: [Option<Borrowed<'a, 'py, PyAny>>; MAX_NAMED] = [None; MAX_NAMED];
    for (slot, &p) in fixed[..names.len()].iter_mut().zip(positional) {
        // SAFETY: a live object of the caller's (contract).
        *slot = Some(unsafe { Borrowed::from_ptr(py, p) });
    }
    let mut context = None;
    if !kwnames.is_null() {
        // SAFETY: `kwnames` is a tuple of str and its values follow the positional ones.
        let kw = unsafe { Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>() };
        for (i, name) in kw.iter().enumerate() {
            // SAFETY: as above: value `i` of the keywords.
            let value = unsafe { Borrowed::from_ptr(py, *args.add(nargs + i)) };
            keyword(method, names, &name, value, &mut fixed, &mut context)?;
        }
    }
    let rest = match positional.get(names.len()..) {
        Some(extra) if !extra.is_empty() => {
            // SAFETY: each is a live object of the caller's; `PyTuple::new` takes references.
            let items = extra.iter().map(|&p| unsafe { Borrowed::from_ptr(py, p) });
            Some(PyTuple::new(py, items)?.unbind())
        }
        _ => None,
    };
    if let Some(i) = fixed[..names.len()].iter().position(Option::is_none) {
        return Err(PyTypeError::new_err(format!(
            "{method}() missing required positional argument: '{}'",
            names[i]
        )));
    }
    Ok(Args {
        fixed,
        rest,
        context,
    })
}

/// One keyword argument: `context`, or a named positional parameter given by name.
fn keyword<'a, 'py>(
    method: &str,
    names: &[&str],
    name: &Bound<'py, PyAny>,
    value: Borrowed<'a, 'py, PyAny>,
    fixed: &mut [Option<Borrowed<'a, 'py, PyAny>>],
    context: &mut Option<Py<PyAny>>,
) -> PyResult<()> {
    if is_context(name)? {
        *context = Some(value.to_owned().unbind());
        return Ok(());
    }
    let name = name.cast::<PyString>()?.to_cow()?;
    let Some(i) = names.iter().position(|n| *n == name) else {
        return Err(PyTypeError::new_err(format!(
            "{method}() got an unexpected keyword argument '{name}'"
        )));
    };
    if fixed[i].replace(value).is_some() {
        return Err(PyTypeError::new_err(format!(
            "{method}() got multiple values for argument '{name}'"
        )));
    }
    Ok(())
}

/// Whether a keyword is `context`: by pointer for the interned name (Python code's), and for
/// the last other string found equal to it, kept alive here (asyncio's C tasks pass one name
/// object of their own on every call); by value else.
fn is_context(name: &Bound<'_, PyAny>) -> PyResult<bool> {
    static ALIAS: GilCell<Option<Py<PyAny>>> = GilCell::new(None);
    let py = name.py();
    let interned = pyo3::intern!(py, "context");
    if name.is(interned) || ALIAS.borrow(py).as_ref().is_some_and(|a| name.is(a)) {
        return Ok(true);
    }
    if !name.eq(interned)? {
        return Ok(false);
    }
    let old = ALIAS.borrow_mut(py).replace(name.clone().unbind());
    drop(old);
    Ok(true)
}

/// Runs `f` for a method called from Python: attached to the interpreter, a panic turned
/// into an exception, the result (or NULL with the exception set) handed back to CPython.
///
/// # Safety
/// `slf` is an instance of `LoopCore` (the method descriptor checked it) and the caller
/// holds the GIL.
unsafe fn enter(
    slf: *mut ffi::PyObject,
    f: impl FnOnce(&Bound<'_, LoopCore>) -> PyResult<Py<PyAny>>,
) -> *mut ffi::PyObject {
    Python::attach(|py| {
        // SAFETY: the contract: a live `LoopCore` the caller holds.
        let slf = unsafe { Borrowed::from_ptr(py, slf).cast_unchecked::<LoopCore>() };
        let result = catch_unwind(AssertUnwindSafe(|| f(&slf))).unwrap_or_else(|payload| {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            Err(PyRuntimeError::new_err(format!(
                "rsuv: internal error: {msg}"
            )))
        });
        match result {
            Ok(v) => v.into_ptr(),
            Err(e) => {
                e.restore(py);
                std::ptr::null_mut()
            }
        }
    })
}

/// The loop time `delay` seconds from now, as `time() + delay` in Python (its types, its
/// `TypeError`), computed directly for a float or an int.
fn later(py: Python<'_>, now: f64, delay: &Bound<'_, PyAny>) -> PyResult<f64> {
    if delay.is_exact_instance_of::<PyFloat>() {
        return Ok(now + delay.cast::<PyFloat>()?.value());
    }
    PyFloat::new(py, now).add(delay)?.extract()
}

unsafe extern "C" fn call_soon(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this as a fastcall method of `LoopCore` (see `install`).
    unsafe {
        enter(slf, |slf| {
            let a = parse(slf.py(), "call_soon", &["callback"], args, nargs, kwnames)?;
            let cb = a.arg(0)?;
            LoopCore::soon(slf, &cb, a.rest, a.context, "call_soon", false).map(Py::into_any)
        })
    }
}

unsafe extern "C" fn call_soon_threadsafe(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as `call_soon`.
    unsafe {
        enter(slf, |slf| {
            let m = "call_soon_threadsafe";
            let a = parse(slf.py(), m, &["callback"], args, nargs, kwnames)?;
            let cb = a.arg(0)?;
            LoopCore::soon_threadsafe(slf, &cb, a.rest, a.context).map(Py::into_any)
        })
    }
}

unsafe extern "C" fn call_later(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as `call_soon`.
    unsafe {
        enter(slf, |slf| {
            let py = slf.py();
            let names = ["delay", "callback"];
            let a = parse(py, "call_later", &names, args, nargs, kwnames)?;
            let (delay, cb) = (a.arg(0)?, a.arg(1)?);
            if delay.is_none() {
                return Err(PyTypeError::new_err("delay must not be None"));
            }
            let when = later(py, super::loop_core::now(), &delay)?;
            let m = "call_later";
            LoopCore::schedule_at(slf, when, &cb, a.rest, a.context, m).map(Py::into_any)
        })
    }
}

unsafe extern "C" fn call_at(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as `call_soon`.
    unsafe {
        enter(slf, |slf| {
            let names = ["when", "callback"];
            let a = parse(slf.py(), "call_at", &names, args, nargs, kwnames)?;
            let (when, cb) = (a.arg(0)?, a.arg(1)?);
            if when.is_none() {
                return Err(PyTypeError::new_err("when cannot be None"));
            }
            let when: f64 = when.extract()?;
            let m = "call_at";
            LoopCore::schedule_at(slf, when, &cb, a.rest, a.context, m).map(Py::into_any)
        })
    }
}

type FastFn = ffi::PyCFunctionFastWithKeywords;

/// Name, function and docstring (with the signature `inspect` reads) of each method.
const METHODS: [(&CStr, FastFn, &CStr); 4] = [
    (
        c"call_soon",
        call_soon,
        c"call_soon($self, callback, *args, context=None)\n--\n\n\
          Schedules `callback(*args)` for the next iteration; returns its Handle.",
    ),
    (
        c"call_soon_threadsafe",
        call_soon_threadsafe,
        c"call_soon_threadsafe($self, callback, *args, context=None)\n--\n\n\
          As call_soon, from any thread: wakes the loop.",
    ),
    (
        c"call_later",
        call_later,
        c"call_later($self, delay, callback, *args, context=None)\n--\n\n\
          Schedules `callback(*args)` `delay` seconds from now; returns its TimerHandle.",
    ),
    (
        c"call_at",
        call_at,
        c"call_at($self, when, callback, *args, context=None)\n--\n\n\
          Schedules `callback(*args)` at loop time `when`; returns its TimerHandle.",
    ),
];

/// `LoopCore.time()` as `METH_NOARGS`: no pyo3 wrapper, nothing to attach (it only makes a
/// float), for a method that asyncio code calls all the time.
unsafe extern "C" fn time(_slf: *mut ffi::PyObject, _: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: called by CPython with the GIL held; returns a new reference or NULL with an
    // exception set.
    unsafe { ffi::PyFloat_FromDouble(super::loop_core::now()) }
}

/// `TimerHandle.when()` as `METH_NOARGS` (as `time`).
unsafe extern "C" fn when(slf: *mut ffi::PyObject, _: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the method descriptor made for `TimerHandle` checked that `slf` is one; the GIL
    // is held, and the token only views the object.
    unsafe {
        let py = Python::assume_attached();
        let h = Borrowed::from_ptr(py, slf).cast_unchecked::<TimerHandle>();
        ffi::PyFloat_FromDouble(h.get().when_f64())
    }
}

/// Puts the methods into the class dictionaries of `LoopCore` and `TimerHandle`; once, when
/// the module is made.
pub(crate) fn install(py: Python<'_>) -> PyResult<()> {
    let tp = LoopCore::type_object_raw(py);
    for (name, f, doc) in METHODS {
        let meth = ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: f,
        };
        add_method(
            py,
            tp,
            name,
            meth,
            ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
            doc,
        )?;
    }
    let noargs = ffi::METH_NOARGS;
    let doc = c"time($self, /)\n--\n\nThe loop's clock: time.monotonic()'s, at its resolution.";
    add_method(
        py,
        tp,
        c"time",
        ffi::PyMethodDefPointer { PyCFunction: time },
        noargs,
        doc,
    )?;
    let tp = TimerHandle::type_object_raw(py);
    let doc = c"when($self, /)\n--\n\nThe loop time at which the callback is due.";
    add_method(
        py,
        tp,
        c"when",
        ffi::PyMethodDefPointer { PyCFunction: when },
        noargs,
        doc,
    )
}

/// Adds one C method to a class made by pyo3.
fn add_method(
    py: Python<'_>,
    tp: *mut ffi::PyTypeObject,
    name: &'static CStr,
    meth: ffi::PyMethodDefPointer,
    flags: std::ffi::c_int,
    doc: &'static CStr,
) -> PyResult<()> {
    // Lives as long as the class, which lives as long as the process (never freed).
    let def: &'static mut ffi::PyMethodDef = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: meth,
        ml_flags: flags,
        ml_doc: doc.as_ptr(),
    }));
    // SAFETY: `tp` is a live type object and `def` outlives it; the GIL is held. The new
    // descriptor is a new reference (or NULL with an exception set).
    let descr = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(tp, def))? };
    // SAFETY: `tp` is a live heap type (its dict is a dict); the key and value are live. Its
    // method caches are reset after the change.
    let rc = unsafe {
        let rc = ffi::PyDict_SetItemString((*tp).tp_dict, name.as_ptr(), descr.as_ptr());
        ffi::PyType_Modified(tp);
        rc
    };
    if rc < 0 {
        return Err(PyErr::fetch(py));
    }
    Ok(())
}
