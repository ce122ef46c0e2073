//! [`Condvar`]: waiting for a condition under a [`Mutex`](super::Mutex), on libuv's `uv_cond_t`.

use std::fmt;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::{Duration, Instant};

use libuv_sys2::*;

use super::Boxed;
use super::mutex::MutexGuard;
use crate::uv::error::{Error, Result};

/// The longest single wait handed to libuv: libuv adds the timeout to the monotonic clock in
/// nanoseconds, which must not overflow. About 146 years.
const MAX_WAIT_NANOS: u64 = u64::MAX / 4;

/// A condition variable, on libuv's `uv_cond_t`: threads wait on it, holding a
/// [`MutexGuard`], until another thread notifies them.
///
/// As with [`std::sync::Condvar`], a wait may wake up spuriously, so wait in a loop that
/// checks the condition, or use [`Condvar::wait_while`].
///
/// A condition variable works with one mutex only: POSIX leaves waiting on one condition
/// variable with two mutexes undefined, so [`Condvar`] remembers the first mutex it waits with
/// and panics if it is then used with another, as std does.
///
/// # Examples
///
/// ```
/// use rsuv::{Condvar, Mutex};
/// use std::{sync::Arc, thread};
///
/// let pair = Arc::new((Mutex::new(false)?, Condvar::new()?));
/// let pair2 = pair.clone();
/// thread::spawn(move || {
///     let (ready, cv) = &*pair2;
///     *ready.lock() = true;
///     cv.notify_one();
/// });
/// let (ready, cv) = &*pair;
/// let guard = cv.wait_while(ready.lock(), |ready| !*ready);
/// assert!(*guard);
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Condvar {
    raw: Boxed<uv_cond_t>,
    /// The mutex this condition variable waits with: null until the first wait.
    mutex: AtomicPtr<uv_mutex_t>,
}

// SAFETY: a uv_cond_t may be signalled, waited on and destroyed from any thread; the mutex
// address is only compared, never dereferenced through this field.
unsafe impl Send for Condvar {}
// SAFETY: as above; concurrent use is what a condition variable is for.
unsafe impl Sync for Condvar {}

/// Whether a timed wait ended because its time ran out; returned by [`Condvar::wait_timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// `true` if the wait ended because the timeout elapsed.
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// Nanoseconds for `uv_cond_timedwait`, clamped to [`MAX_WAIT_NANOS`].
fn wait_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).map_or(MAX_WAIT_NANOS, |n| n.min(MAX_WAIT_NANOS))
}

impl Condvar {
    /// Creates a condition variable.
    ///
    /// # Errors
    ///
    /// The error from `uv_cond_init` (such as `ENOMEM` or `EAGAIN`), if it fails.
    #[doc(alias = "uv_cond_init")]
    pub fn new() -> Result<Condvar> {
        // SAFETY: `p` points to writable memory for a uv_cond_t, which uv_cond_init
        // initialises (or leaves untouched on failure).
        let raw = Boxed::new(|p| unsafe { uv_cond_init(p) })?;
        Ok(Condvar {
            raw,
            mutex: AtomicPtr::new(ptr::null_mut()),
        })
    }

    /// Binds this condition variable to the mutex of `guard` on first use, and checks it is
    /// that mutex afterwards; returns the mutex's libuv object.
    fn bind<T: ?Sized>(&self, guard: &MutexGuard<'_, T>) -> *mut uv_mutex_t {
        let mutex = guard.raw();
        let bound = self.mutex.compare_exchange(
            ptr::null_mut(),
            mutex,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        match bound {
            Ok(_) => mutex,
            Err(other) if other == mutex => mutex,
            Err(_) => panic!("rsuv::Condvar used with more than one Mutex"),
        }
    }

    /// Unlocks the guard's mutex, blocks until notified (or woken spuriously), then locks the
    /// mutex again and returns the guard.
    ///
    /// # Panics
    ///
    /// If this condition variable was used with a different mutex before.
    #[doc(alias = "uv_cond_wait")]
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex = self.bind(&guard);
        // SAFETY: the guard proves this thread holds `mutex`, which is the only mutex ever
        // used with this condition variable; libuv unlocks it while waiting and locks it again
        // before returning, so the guard is still valid afterwards.
        unsafe { uv_cond_wait(self.raw.as_ptr(), mutex) };
        guard
    }

    /// Waits while `condition` returns `true` for the protected value, and returns the guard
    /// once it returns `false`. The condition is checked first, with the lock held.
    ///
    /// # Panics
    ///
    /// If this condition variable was used with a different mutex before.
    pub fn wait_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Like [`Condvar::wait`], but gives up after `timeout`, reporting whether it timed out.
    ///
    /// A timeout longer than about 146 years is shortened to that. The wait may also end
    /// spuriously before the timeout, without having been notified.
    ///
    /// # Panics
    ///
    /// If this condition variable was used with a different mutex before.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsuv::{Condvar, Mutex};
    /// use std::time::Duration;
    ///
    /// let (m, cv) = (Mutex::new(())?, Condvar::new()?);
    /// let (_guard, res) = cv.wait_timeout(m.lock(), Duration::from_millis(10));
    /// assert!(res.timed_out());
    /// # Ok::<(), rsuv::Error>(())
    /// ```
    #[doc(alias = "uv_cond_timedwait")]
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let mutex = self.bind(&guard);
        // SAFETY: as in `wait`; the timeout is clamped so libuv's deadline cannot overflow.
        let rc = unsafe { uv_cond_timedwait(self.raw.as_ptr(), mutex, wait_nanos(timeout)) };
        (guard, WaitTimeoutResult(rc == Error::ETIMEDOUT.code()))
    }

    /// Waits while `condition` returns `true`, for at most `timeout` in all. Returns the guard
    /// and whether the time ran out with the condition still `true`.
    ///
    /// # Panics
    ///
    /// If this condition variable was used with a different mutex before.
    pub fn wait_timeout_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return (self.wait_while(guard, condition), WaitTimeoutResult(false));
        };
        while condition(&mut *guard) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (guard, WaitTimeoutResult(true));
            }
            guard = self.wait_timeout(guard, left).0;
        }
        (guard, WaitTimeoutResult(false))
    }

    /// Wakes up one thread waiting on this condition variable, if any.
    #[doc(alias = "uv_cond_signal")]
    pub fn notify_one(&self) {
        // SAFETY: the condition variable is initialised and not destroyed while `self` lives.
        unsafe { uv_cond_signal(self.raw.as_ptr()) }
    }

    /// Wakes up every thread waiting on this condition variable.
    #[doc(alias = "uv_cond_broadcast")]
    pub fn notify_all(&self) {
        // SAFETY: as in `notify_one`.
        unsafe { uv_cond_broadcast(self.raw.as_ptr()) }
    }
}

impl Drop for Condvar {
    fn drop(&mut self) {
        // SAFETY: `&mut self` means no thread is waiting (a waiter borrows the condition
        // variable), so it is destroyed idle, once; the memory is freed afterwards.
        unsafe { uv_cond_destroy(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
