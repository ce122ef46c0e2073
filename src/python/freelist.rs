//! Handles recycled once they ran: each loop keeps up to `CAP` emptied `Handle`s (and as many
//! `TimerHandle`s) that nothing else references, and fills one in for the next `call_soon` or
//! `call_later` instead of allocating, GC-tracking and freeing a Python object per callback.
//!
//! Only a handle that the loop holds the sole reference to (no other strong reference, no
//! weak reference) is recycled: no one can observe that the object is reused. One that
//! someone reached in the meantime anyway (`gc.get_objects()` sees tracked objects) is left
//! to them and not reused.

use pyo3::prelude::*;
use pyo3::{PyClass, ffi};

use super::gil::GilCell;

/// Emptied handles a loop keeps, per class.
const CAP: usize = 256;

/// A loop's emptied handles of one class.
pub(crate) struct FreeList<T> {
    items: GilCell<Vec<Py<T>>>,
}

impl<T: PyClass> FreeList<T> {
    pub(crate) fn new() -> Self {
        FreeList {
            items: GilCell::new(Vec::new()),
        }
    }

    /// An emptied handle that still has no other reference, if one is kept.
    #[inline]
    pub(crate) fn pop(&self, py: Python<'_>) -> Option<Py<T>> {
        loop {
            let h = self.items.borrow_mut(py).pop()?;
            if unshared(h.bind(py).as_any()) {
                return Some(h);
            }
            // Someone found it (through the collector): it stays theirs, as an empty handle.
        }
    }

    /// Keeps an emptied handle, or lets it go when `CAP` are kept.
    #[inline]
    pub(crate) fn push(&self, py: Python<'_>, h: Py<T>) {
        let mut items = self.items.borrow_mut(py);
        if items.len() < CAP {
            items.push(h);
            return;
        }
        drop(items);
        drop(h);
    }

    pub(crate) fn traverse(
        &self,
        visit: &pyo3::gc::PyVisit<'_>,
    ) -> Result<(), pyo3::PyTraverseError> {
        if let Some(items) = self.items.peek() {
            for h in items.iter() {
                visit.call(h)?;
            }
        }
        Ok(())
    }

    /// Every kept handle, for `close()` (dropped by the caller).
    pub(crate) fn take_all(&self, py: Python<'_>) -> Vec<Py<T>> {
        std::mem::take(&mut *self.items.borrow_mut(py))
    }
}

/// Whether the caller's reference to `obj` is its only one: no other strong reference and no
/// weak reference.
#[inline]
pub(crate) fn unshared(obj: &Bound<'_, PyAny>) -> bool {
    let p = obj.as_ptr();
    // SAFETY: `p` is a live object (the caller holds a reference) and the GIL is held; its
    // type object outlives it, and `tp_weaklistoffset`, when positive, is the offset of the
    // object's weak-reference list pointer (NULL while no weak reference exists).
    unsafe {
        if ffi::Py_REFCNT(p) != 1 {
            return false;
        }
        let offset = (*ffi::Py_TYPE(p)).tp_weaklistoffset;
        offset <= 0 || (*p.cast::<u8>().offset(offset).cast::<*mut ffi::PyObject>()).is_null()
    }
}

/// Whether `obj` is exactly of class `T` (not a subclass made in Python).
#[inline]
pub(crate) fn is_exact<T: PyClass>(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: `obj` is live; its type pointer is only compared.
    unsafe { ffi::Py_TYPE(obj.as_ptr()) == T::type_object_raw(obj.py()) }
}
