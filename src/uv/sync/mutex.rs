//! [`Mutex`]: mutual exclusion on libuv's `uv_mutex_t`, and its [`MutexGuard`].

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

use libuv_sys2::*;

use super::Boxed;
use crate::uv::error::Result;

/// A `uv_mutex_t` on the heap, destroyed on drop unless a leaked guard still holds it.
pub(super) struct RawMutex(ManuallyDrop<Boxed<uv_mutex_t>>);

impl RawMutex {
    fn new() -> Result<RawMutex> {
        // SAFETY: `p` points to writable memory for a uv_mutex_t, which uv_mutex_init
        // initialises (or leaves untouched on failure).
        let boxed = Boxed::new(|p| unsafe { uv_mutex_init(p) })?;
        Ok(RawMutex(ManuallyDrop::new(boxed)))
    }

    /// The mutex's address, for `uv_cond_wait`.
    pub(super) fn as_ptr(&self) -> *mut uv_mutex_t {
        self.0.as_ptr()
    }

    fn lock(&self) {
        // SAFETY: the mutex is initialised and not destroyed while `self` lives. Locking it a
        // second time from the same thread deadlocks or aborts, neither of which is unsound.
        unsafe { uv_mutex_lock(self.as_ptr()) }
    }

    fn try_lock(&self) -> bool {
        // SAFETY: as in `lock`; trylock never blocks, and fails with EBUSY when held.
        unsafe { uv_mutex_trylock(self.as_ptr()) == 0 }
    }

    /// # Safety
    ///
    /// The calling thread holds the lock.
    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the lock, so libuv's error-checking unlock succeeds.
        unsafe { uv_mutex_unlock(self.as_ptr()) }
    }
}

impl Drop for RawMutex {
    fn drop(&mut self) {
        // Destroying a locked mutex aborts the process: it is locked here only if a guard was
        // leaked (`mem::forget`). Then leak the mutex too, as std does.
        if !self.try_lock() {
            return;
        }
        // SAFETY: this thread just locked it, so it may unlock it; nothing else can use it
        // again (`&mut self`), so it is destroyed unlocked, then freed exactly once.
        unsafe {
            self.unlock();
            uv_mutex_destroy(self.as_ptr());
            ManuallyDrop::drop(&mut self.0);
        }
    }
}

/// A mutual-exclusion lock protecting a `T`, on libuv's `uv_mutex_t`.
///
/// Like [`std::sync::Mutex`], but created fallibly (libuv's initialisation can fail) and
/// without poisoning: a guard dropped during a panic just unlocks.
///
/// Locking a mutex that the current thread already holds never returns: libuv's mutex is not
/// recursive, so the thread deadlocks (on glibc), or the process aborts where libuv makes an
/// error-checking mutex. Do not call [`Mutex::lock`] while holding a guard of the same mutex;
/// [`Mutex::try_lock`] answers `None` instead.
///
/// # Examples
///
/// ```
/// use rsuv::Mutex;
/// use std::{sync::Arc, thread};
///
/// let counter = Arc::new(Mutex::new(0)?);
/// let threads: Vec<_> = (0..4)
///     .map(|_| {
///         let c = counter.clone();
///         thread::spawn(move || *c.lock() += 1)
///     })
///     .collect();
/// for t in threads {
///     t.join().unwrap();
/// }
/// assert_eq!(*counter.lock(), 4);
/// # Ok::<(), rsuv::Error>(())
/// ```
///
/// Leaking a guard leaves the mutex locked; dropping the mutex then leaks it too, rather than
/// destroying a locked mutex (which libuv answers with an abort):
///
/// ```
/// let m = rsuv::Mutex::new(1)?;
/// std::mem::forget(m.lock());
/// assert!(m.try_lock().is_none());
/// drop(m);
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out `&mut T` to one thread at a time, so sending or sharing it only
// ever moves a `T` between threads; the libuv mutex itself may be used from any thread.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: shared access only ever gives one thread at a time a `&mut T`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// Creates an unlocked mutex holding `value`.
    ///
    /// # Errors
    ///
    /// The error from `uv_mutex_init` (such as `ENOMEM` or `EAGAIN`), if it fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = rsuv::Mutex::new(vec![1, 2])?;
    /// m.lock().push(3);
    /// assert_eq!(m.into_inner(), [1, 2, 3]);
    /// # Ok::<(), rsuv::Error>(())
    /// ```
    #[doc(alias = "uv_mutex_init")]
    pub fn new(value: T) -> Result<Mutex<T>> {
        Ok(Mutex {
            raw: RawMutex::new()?,
            data: UnsafeCell::new(value),
        })
    }

    /// Consumes the mutex and returns the value. The libuv mutex is destroyed.
    #[doc(alias = "uv_mutex_destroy")]
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, blocking until it is free, and returns a guard that unlocks it when
    /// dropped.
    ///
    /// # Panics
    ///
    /// Never panics, but never returns if this thread already holds the lock (see [`Mutex`]).
    #[doc(alias = "uv_mutex_lock")]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.raw.lock();
        MutexGuard::new(self)
    }

    /// Locks the mutex if it is free, without blocking; `None` if it is held (also by this
    /// thread).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = rsuv::Mutex::new(())?;
    /// let g = m.lock();
    /// assert!(m.try_lock().is_none());
    /// drop(g);
    /// assert!(m.try_lock().is_some());
    /// # Ok::<(), rsuv::Error>(())
    /// ```
    #[doc(alias = "uv_mutex_trylock")]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.raw.try_lock().then(|| MutexGuard::new(self))
    }

    /// A mutable reference to the value, without locking: `&mut self` proves no guard is alive.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Unlocks a mutex locked by this thread through a guard it forgot (`mem::forget`), for
    /// bindings whose users lock and unlock by separate calls (pyuv's `Mutex.unlock`).
    ///
    /// # Safety
    ///
    /// The calling thread holds the lock, and no guard of it is alive.
    pub unsafe fn force_unlock(&self) {
        // SAFETY: per the contract this thread holds the lock.
        unsafe { self.raw.unlock() }
    }

    /// A guard for the lock this thread holds (locked through a guard it forgot), to hand to
    /// [`Condvar::wait`](super::Condvar::wait); forget it again afterwards to keep the lock.
    ///
    /// # Safety
    ///
    /// The calling thread holds the lock, and no other guard of it is alive.
    pub unsafe fn make_guard_unchecked(&self) -> MutexGuard<'_, T> {
        MutexGuard::new(self)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Proof that the current thread holds a [`Mutex`]: gives access to the value and unlocks the
/// mutex when dropped.
///
/// A guard is `!Send`: libuv requires a mutex to be unlocked by the thread that locked it, so
/// a guard cannot move to another thread.
///
/// ```compile_fail,E0277
/// fn needs_send<T: Send>(_: T) {}
/// let m = rsuv::Mutex::new(0).unwrap();
/// needs_send(m.lock());
/// ```
#[must_use = "the mutex unlocks as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives out `&T`, so it may be shared when `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// Wraps a mutex the current thread has just locked.
    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard {
            mutex,
            _not_send: PhantomData,
        }
    }

    /// The locked mutex's libuv object, for [`Condvar`](super::Condvar).
    pub(super) fn raw(&self) -> *mut uv_mutex_t {
        self.mutex.raw.as_ptr()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard proves this thread holds the lock, so no one else touches the data.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference via the guard.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: a guard exists only while its thread holds the lock, and being `!Send` it is
        // dropped on that thread.
        unsafe { self.mutex.raw.unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
