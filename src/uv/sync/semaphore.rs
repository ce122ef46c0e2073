//! [`Semaphore`]: a counting semaphore, on libuv's `uv_sem_t`.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use libuv_sys2::*;

use super::Boxed;
use crate::uv::error::{Error, Result};

/// The largest count: POSIX `SEM_VALUE_MAX` on glibc, and the limit libuv gives Windows
/// semaphores. Posting beyond the platform's limit makes libuv abort the process.
const MAX_COUNT: u32 = i32::MAX as u32;

/// A counting semaphore, on libuv's `uv_sem_t`: [`Semaphore::post`] adds one to the count,
/// [`Semaphore::wait`] blocks until the count is positive and takes one off.
///
/// The count can be posted and waited for from any threads (unlike a mutex, there is no
/// owner). It never exceeds `i32::MAX`: libuv aborts the process when the platform's
/// semaphore overflows, so [`Semaphore`] refuses such a post instead.
///
/// # Examples
///
/// ```
/// use rsuv::Semaphore;
/// use std::{sync::Arc, thread};
///
/// let done = Arc::new(Semaphore::new(0)?);
/// let d = done.clone();
/// thread::spawn(move || d.post().unwrap());
/// done.wait();
/// assert!(!done.try_wait());
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Semaphore {
    raw: Boxed<uv_sem_t>,
    /// An upper bound of the libuv count: raised before each post, lowered after each wait.
    bound: AtomicU32,
}

// SAFETY: a uv_sem_t may be posted, waited on and destroyed from any thread.
unsafe impl Send for Semaphore {}
// SAFETY: as above; concurrent posts and waits are what a semaphore is for.
unsafe impl Sync for Semaphore {}

impl Semaphore {
    /// Creates a semaphore with an initial `count`.
    ///
    /// # Errors
    ///
    /// `EINVAL` if `count` is more than `i32::MAX`; otherwise the error from `uv_sem_init`,
    /// if it fails.
    #[doc(alias = "uv_sem_init")]
    pub fn new(count: u32) -> Result<Semaphore> {
        if count > MAX_COUNT {
            return Err(Error::EINVAL);
        }
        // SAFETY: `p` points to writable memory for a uv_sem_t, which uv_sem_init initialises
        // (or leaves untouched on failure).
        let raw = Boxed::new(|p| unsafe { uv_sem_init(p, count) })?;
        Ok(Semaphore {
            raw,
            bound: AtomicU32::new(count),
        })
    }

    /// Adds one to the count, waking up a waiting thread if there is one.
    ///
    /// # Errors
    ///
    /// `EOVERFLOW` if the count could exceed `i32::MAX`; the count is then unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = rsuv::Semaphore::new(i32::MAX as u32)?;
    /// assert_eq!(sem.post(), Err(rsuv::Error::EOVERFLOW));
    /// sem.wait();
    /// sem.post()?;
    /// # Ok::<(), rsuv::Error>(())
    /// ```
    #[doc(alias = "uv_sem_post")]
    pub fn post(&self) -> Result<()> {
        // The bound is raised before the post and lowered after a wait has taken one off, so
        // it never falls below the real count, which therefore never passes MAX_COUNT.
        self.bound
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_COUNT).then_some(n + 1)
            })
            .map_err(|_| Error::EOVERFLOW)?;
        // SAFETY: the semaphore is initialised and lives as long as `self`; the count stays
        // within the platform's limit (see above), so libuv does not abort.
        unsafe { uv_sem_post(self.raw.as_ptr()) };
        Ok(())
    }

    /// Blocks until the count is positive, then takes one off.
    #[doc(alias = "uv_sem_wait")]
    pub fn wait(&self) {
        // SAFETY: the semaphore is initialised and lives as long as `self`.
        unsafe { uv_sem_wait(self.raw.as_ptr()) };
        self.taken();
    }

    /// Takes one off the count if it is positive, without blocking; `true` if it did.
    ///
    /// On glibc older than 2.21, where libuv builds the semaphore from a mutex, this may also
    /// answer `false` while another thread is using the semaphore.
    #[doc(alias = "uv_sem_trywait")]
    pub fn try_wait(&self) -> bool {
        // SAFETY: as in `wait`; trywait never blocks, and answers EAGAIN when it cannot take.
        let taken = unsafe { uv_sem_trywait(self.raw.as_ptr()) } == 0;
        if taken {
            self.taken();
        }
        taken
    }

    /// Lowers the bound after a successful wait.
    fn taken(&self) {
        // The unit taken came from the initial count or from a post that raised the bound
        // before posting and so before this wait returned: this cannot go below zero.
        self.bound.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Semaphore {
    fn drop(&mut self) {
        // SAFETY: `&mut self` means no thread is waiting (a waiter borrows the semaphore), so
        // it is destroyed idle, once; the memory is freed afterwards.
        unsafe { uv_sem_destroy(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore").finish_non_exhaustive()
    }
}
