//! Thread synchronisation on libuv's primitives: [`Mutex`], [`Condvar`], [`RwLock`],
//! [`Barrier`], [`Semaphore`] and [`Once`].
//!
//! These have nothing to do with the event loop: they are for plain threads, and are `Send` and
//! `Sync` wherever their `std::sync` counterparts are. Each libuv object lives on the heap and
//! never moves once initialised, and is destroyed when its owner is dropped.
//!
//! libuv aborts the process, or the platform behaves in undefined ways, on misuse such as
//! unlocking a mutex that is not held, unlocking it from another thread, or destroying it while
//! locked. None of that is reachable from safe code: a lock is released only when its guard is
//! dropped; guards are `!Send`, so the thread that locked is the thread that unlocks; and a
//! lock still held when dropped (its guard leaked with `mem::forget`) is leaked, not destroyed.
//!
//! Unlike `std::sync`, the locks are not poisoned by a panic: a guard dropped while unwinding
//! just unlocks, and the data is whatever the panicking thread left behind. [`Once`] is
//! poisoned, as std's is.

use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::mem::MaybeUninit;

use super::error::{Result, check};

mod barrier;
mod condvar;
mod mutex;
mod once;
mod rwlock;
mod semaphore;

pub use barrier::Barrier;
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use once::Once;
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::Semaphore;

thread_local! {
    /// A byte whose address identifies the thread while it lives.
    static MARKER: u8 = const { 0 };
}

/// An identifier of the current thread, never 0, unique among live threads: the address of
/// its `MARKER`.
///
/// It detects re-entry: a field records the thread inside (each thread stores only its own
/// identifier there, and clears it on leaving), and a thread that finds its own identifier
/// knows it is the one inside. A relaxed load suffices: a thread always sees its own stores.
fn this_thread() -> usize {
    MARKER.with(|m| std::ptr::from_ref(m).addr())
}

/// A libuv synchronisation object in its own heap allocation, so that it never moves.
///
/// It frees the memory when dropped but does not destroy the object: its owner's `Drop` does
/// that first (or leaks the allocation when destroying would be undefined).
struct Boxed<T>(Box<UnsafeCell<MaybeUninit<T>>>);

impl<T> Boxed<T> {
    /// Allocates the object and initialises it with `init`, which gets a pointer to the
    /// uninitialised memory and returns a libuv code.
    ///
    /// # Errors
    ///
    /// The code `init` returned, if negative; the memory is then freed without being read.
    fn new(init: impl FnOnce(*mut T) -> c_int) -> Result<Self> {
        let boxed = Boxed(Box::new(UnsafeCell::new(MaybeUninit::uninit())));
        check(init(boxed.as_ptr()))?;
        Ok(boxed)
    }

    /// Allocates an object whose initial value is a plain constant, such as `UV_ONCE_INIT`.
    fn from_value(value: T) -> Self {
        Boxed(Box::new(UnsafeCell::new(MaybeUninit::new(value))))
    }

    /// The object's address, stable for the life of the allocation.
    fn as_ptr(&self) -> *mut T {
        self.0.get().cast()
    }
}
