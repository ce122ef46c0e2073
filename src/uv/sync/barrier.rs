//! [`Barrier`]: a meeting point for a fixed number of threads, on libuv's `uv_barrier_t`.

use std::fmt;

use libuv_sys2::*;

use super::Boxed;
use crate::uv::error::{Error, Result};

/// A barrier: threads calling [`Barrier::wait`] block until `n` of them have arrived, then all
/// go on together. It can be reused: the next `n` callers form the next round.
///
/// Like [`std::sync::Barrier`], except that [`Barrier::new`] is fallible (a count of zero is
/// an error) and [`Barrier::wait`] answers a plain `bool`.
///
/// # Examples
///
/// ```
/// use rsuv::Barrier;
/// use std::{sync::Arc, thread};
///
/// let barrier = Arc::new(Barrier::new(3)?);
/// let threads: Vec<_> = (0..3)
///     .map(|_| {
///         let b = barrier.clone();
///         thread::spawn(move || b.wait())
///     })
///     .collect();
/// let leaders = threads.into_iter().map(|t| t.join().unwrap());
/// assert_eq!(leaders.filter(|&leader| leader).count(), 1);
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Barrier(Boxed<uv_barrier_t>);

// SAFETY: a uv_barrier_t may be waited on and destroyed from any thread.
unsafe impl Send for Barrier {}
// SAFETY: as above; concurrent waits are what a barrier is for.
unsafe impl Sync for Barrier {}

impl Barrier {
    /// Creates a barrier for `n` threads.
    ///
    /// # Errors
    ///
    /// `EINVAL` if `n` is zero (or more than the platform allows); otherwise the error from
    /// `uv_barrier_init`, if it fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsuv::{Barrier, Error};
    /// assert_eq!(Barrier::new(0).unwrap_err(), Error::EINVAL);
    /// assert!(Barrier::new(1)?.wait());
    /// # Ok::<(), rsuv::Error>(())
    /// ```
    #[doc(alias = "uv_barrier_init")]
    pub fn new(n: u32) -> Result<Barrier> {
        if n == 0 {
            return Err(Error::EINVAL);
        }
        // SAFETY: `p` points to writable memory for a uv_barrier_t, which uv_barrier_init
        // initialises (or leaves untouched on failure).
        Boxed::new(|p| unsafe { uv_barrier_init(p, n) }).map(Barrier)
    }

    /// Blocks until `n` threads (counting this one) have called `wait` in this round, then
    /// returns `true` in exactly one of them, the leader, and `false` in the others.
    #[doc(alias = "uv_barrier_wait")]
    pub fn wait(&self) -> bool {
        // SAFETY: the barrier is initialised and not destroyed while `self` lives.
        let rc = unsafe { uv_barrier_wait(self.0.as_ptr()) };
        // Negative (EINVAL) only for a barrier that was never initialised, which cannot be.
        debug_assert!(rc >= 0, "uv_barrier_wait failed: {rc}");
        rc > 0
    }
}

impl Drop for Barrier {
    fn drop(&mut self) {
        // SAFETY: `&mut self` means no thread is inside `wait` (a waiter borrows the barrier),
        // so every round has finished; destroyed once, the memory is freed afterwards.
        unsafe { uv_barrier_destroy(self.0.as_ptr()) }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}
