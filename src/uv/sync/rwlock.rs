//! [`RwLock`]: many readers or one writer, on libuv's `uv_rwlock_t`, and its guards.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

use libuv_sys2::*;

use super::{Boxed, this_thread};
use crate::uv::error::Result;

/// A `uv_rwlock_t` on the heap, destroyed on drop unless a leaked guard still holds it.
struct RawRwLock(ManuallyDrop<Boxed<uv_rwlock_t>>);

impl RawRwLock {
    fn new() -> Result<RawRwLock> {
        // SAFETY: `p` points to writable memory for a uv_rwlock_t, which uv_rwlock_init
        // initialises (or leaves untouched on failure).
        let boxed = Boxed::new(|p| unsafe { uv_rwlock_init(p) })?;
        Ok(RawRwLock(ManuallyDrop::new(boxed)))
    }

    fn as_ptr(&self) -> *mut uv_rwlock_t {
        self.0.as_ptr()
    }
}

impl Drop for RawRwLock {
    fn drop(&mut self) {
        // SAFETY: the lock is initialised; trywrlock never blocks.
        if unsafe { uv_rwlock_trywrlock(self.as_ptr()) } != 0 {
            // Held only if a guard was leaked (`mem::forget`): destroying a held lock is
            // undefined, so leak it, as std does.
            return;
        }
        // SAFETY: this thread holds the write lock, so it may release it; nothing can use the
        // lock again (`&mut self`), so it is destroyed free, then freed exactly once.
        unsafe {
            uv_rwlock_wrunlock(self.as_ptr());
            uv_rwlock_destroy(self.as_ptr());
            ManuallyDrop::drop(&mut self.0);
        }
    }
}

/// A reader-writer lock protecting a `T`, on libuv's `uv_rwlock_t`: any number of threads may
/// read at once, or one may write.
///
/// Like [`std::sync::RwLock`], but created fallibly and without poisoning. Whether waiting
/// writers are preferred over new readers is up to the platform (on glibc, readers are).
///
/// Taking the lock again on a thread that already holds it is a mistake: [`RwLock::read`] or
/// [`RwLock::write`] while holding the write guard panics (libuv would abort the process), and
/// [`RwLock::write`] while holding a read guard deadlocks. A second read lock on one thread
/// may deadlock if a writer is waiting, on a platform that prefers writers (glibc does not).
/// The `try_` methods answer `None` instead.
///
/// About 2^29 read guards held at once (only possible by leaking them with `mem::forget`)
/// exceed glibc's limit, and libuv then aborts the process.
///
/// # Examples
///
/// ```
/// use rsuv::RwLock;
///
/// let lock = RwLock::new(5)?;
/// {
///     let (r1, r2) = (lock.read(), lock.read());
///     assert_eq!(*r1 + *r2, 10);
/// }
/// *lock.write() += 1;
/// assert_eq!(*lock.read(), 6);
/// # Ok::<(), rsuv::Error>(())
/// ```
///
/// A leaked guard leaves the lock held; dropping the lock then leaks it instead of destroying
/// a held lock:
///
/// ```
/// let lock = rsuv::RwLock::new(())?;
/// std::mem::forget(lock.write());
/// assert!(lock.try_read().is_none());
/// drop(lock);
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    /// The thread holding the write lock (see `this_thread`), or 0.
    writer: AtomicUsize,
    data: UnsafeCell<T>,
}

// SAFETY: sending the lock moves the `T`; the libuv lock may be used from any thread.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: sharing the lock gives several threads `&T` (so `T: Sync`) or one thread `&mut T`
// (so `T: Send`), as for std's RwLock.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// Creates an unlocked reader-writer lock holding `value`.
    ///
    /// # Errors
    ///
    /// The error from `uv_rwlock_init` (such as `ENOMEM` or `EAGAIN`), if it fails.
    #[doc(alias = "uv_rwlock_init")]
    pub fn new(value: T) -> Result<RwLock<T>> {
        Ok(RwLock {
            raw: RawRwLock::new()?,
            writer: AtomicUsize::new(0),
            data: UnsafeCell::new(value),
        })
    }

    /// Consumes the lock and returns the value. The libuv lock is destroyed.
    #[doc(alias = "uv_rwlock_destroy")]
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for reading, blocking while a writer holds the lock.
    ///
    /// # Panics
    ///
    /// If this thread holds the write lock.
    #[doc(alias = "uv_rwlock_rdlock")]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.assert_not_writer();
        // SAFETY: the lock is initialised and lives as long as `self`.
        unsafe { uv_rwlock_rdlock(self.raw.as_ptr()) };
        RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Locks for reading if no writer holds the lock, without blocking; `None` otherwise.
    #[doc(alias = "uv_rwlock_tryrdlock")]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        // SAFETY: as in `read`; tryrdlock never blocks.
        let locked = unsafe { uv_rwlock_tryrdlock(self.raw.as_ptr()) } == 0;
        // Lazily: a guard made for a lock not taken would release it when dropped.
        locked.then(|| RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        })
    }

    /// Locks for writing, blocking while anyone else holds the lock.
    ///
    /// # Panics
    ///
    /// If this thread holds the write lock. Never returns if it holds a read lock.
    #[doc(alias = "uv_rwlock_wrlock")]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.assert_not_writer();
        // SAFETY: the lock is initialised and lives as long as `self`.
        unsafe { uv_rwlock_wrlock(self.raw.as_ptr()) };
        RwLockWriteGuard::new(self)
    }

    /// Locks for writing if no one holds the lock, without blocking; `None` otherwise.
    #[doc(alias = "uv_rwlock_trywrlock")]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        // SAFETY: as in `write`; trywrlock never blocks.
        let locked = unsafe { uv_rwlock_trywrlock(self.raw.as_ptr()) } == 0;
        // Lazily: a guard made for a lock not taken would release it when dropped.
        locked.then(|| RwLockWriteGuard::new(self))
    }

    /// A mutable reference to the value, without locking: `&mut self` proves no guard is alive.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Releases a read lock this thread took through a guard it forgot (`mem::forget`).
    ///
    /// # Safety
    ///
    /// The calling thread holds a read lock whose guard is not alive.
    pub unsafe fn force_unlock_read(&self) {
        // SAFETY: per the contract this thread holds a read lock.
        unsafe { uv_rwlock_rdunlock(self.raw.as_ptr()) }
    }

    /// Releases the write lock this thread took through a guard it forgot.
    ///
    /// # Safety
    ///
    /// The calling thread holds the write lock and its guard is not alive.
    pub unsafe fn force_unlock_write(&self) {
        self.writer.store(0, Ordering::Relaxed);
        // SAFETY: per the contract this thread holds the write lock.
        unsafe { uv_rwlock_wrunlock(self.raw.as_ptr()) }
    }

    /// Panics if this thread holds the write lock, where libuv would abort on `EDEADLK`.
    fn assert_not_writer(&self) {
        assert_ne!(
            self.writer.load(Ordering::Relaxed),
            this_thread(),
            "rsuv::RwLock locked again by the thread holding its write lock"
        );
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Shared access to the value of a [`RwLock`]; releases the read lock when dropped.
///
/// `!Send`, like all guards here: the lock is released by the thread that took it.
///
/// ```compile_fail,E0277
/// fn needs_send<T: Send>(_: T) {}
/// let lock = rsuv::RwLock::new(0).unwrap();
/// needs_send(lock.read());
/// ```
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared read guard only gives out `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the read lock is held, so no writer can have a `&mut T`.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard's thread holds a read lock (the guard is `!Send`).
        unsafe { uv_rwlock_rdunlock(self.lock.raw.as_ptr()) }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to the value of a [`RwLock`]; releases the write lock when dropped.
///
/// `!Send`: the lock is released by the thread that took it.
///
/// ```compile_fail,E0277
/// fn needs_send<T: Send>(_: T) {}
/// let lock = rsuv::RwLock::new(0).unwrap();
/// needs_send(lock.write());
/// ```
#[must_use = "the write lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared write guard only gives out `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Wraps a lock the current thread has just locked for writing, and records the writer.
    fn new(lock: &'a RwLock<T>) -> Self {
        lock.writer.store(this_thread(), Ordering::Relaxed);
        RwLockWriteGuard {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the write lock is held, so this thread has exclusive access.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference via the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.writer.store(0, Ordering::Relaxed);
        // SAFETY: this guard's thread holds the write lock (the guard is `!Send`).
        unsafe { uv_rwlock_wrunlock(self.lock.raw.as_ptr()) }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
