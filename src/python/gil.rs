//! `GilCell`: state of a Python object that only code holding the GIL touches.

use std::cell::{Ref, RefCell, RefMut};

use pyo3::Python;

/// A `RefCell` shared by the threads of one interpreter, made safe by the GIL: every access
/// takes the `Python` token, so it happens with the GIL held, and the GIL's acquire and
/// release order the accesses of different threads. (Free-threaded builds are refused in
/// `mod.rs`.)
///
/// Borrows are short and never span a call into Python, which could re-enter the loop: take
/// a value out, let the borrow end, then drop or call it.
pub(crate) struct GilCell<T>(RefCell<T>);

// SAFETY: all access goes through `borrow`/`borrow_mut`, which need the GIL (see above), so no
// two threads touch the RefCell (or a non-Send value inside it) at the same time, and the
// GIL's mutex orders their accesses.
unsafe impl<T> Send for GilCell<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for GilCell<T> {}

impl<T> GilCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        GilCell(RefCell::new(value))
    }

    #[inline]
    pub(crate) fn borrow<'a>(&'a self, _py: Python<'_>) -> Ref<'a, T> {
        self.0.borrow()
    }

    #[inline]
    pub(crate) fn borrow_mut<'a>(&'a self, _py: Python<'_>) -> RefMut<'a, T> {
        self.0.borrow_mut()
    }

    /// Exclusive access, for `Drop` (which has `&mut self`, so no other borrow exists).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }

    /// A shared borrow without the token, for `__traverse__` (the collector holds the GIL but
    /// may not ask for the token); `None` if the value is mutably borrowed right now.
    pub(crate) fn peek(&self) -> Option<Ref<'_, T>> {
        self.0.try_borrow().ok()
    }
}
