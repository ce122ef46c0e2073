//! [`Once`]: one-time initialisation, on libuv's `uv_once_t`.
//!
//! `uv_once` takes a callback without an argument, so the closure travels through a
//! thread-local slot: `call_once` stores a pointer to it, then calls `uv_once`, which runs the
//! callback synchronously on the calling thread (or not at all), and the callback takes the
//! pointer back out of that same thread's slot. A panic in the closure is caught inside the
//! callback, so it never unwinds through libuv, and resumed after `uv_once` returns.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use libuv_sys2::*;

use super::{Boxed, this_thread};

/// One-time initialisation, on libuv's `uv_once_t`: the first [`Once::call_once`] runs its
/// closure, every other call (from any thread) waits until that has finished and then returns
/// without running its own.
///
/// If the closure panics, the panic propagates out of that `call_once`, and the `Once` is
/// poisoned: libuv considers it done, so nothing will ever run again, and every later (or
/// waiting) `call_once` panics instead of returning as if initialisation had happened.
///
/// Unlike [`std::sync::Once`], `Once::new` is not `const`: POSIX does not allow the underlying
/// `pthread_once_t` on the stack, so it lives on the heap. Put a `Once` in an `Arc` or a
/// struct to share it.
///
/// # Examples
///
/// ```
/// use rsuv::Once;
/// use std::sync::{Arc, atomic::{AtomicUsize, Ordering}};
///
/// let once = Arc::new(Once::new());
/// let runs = Arc::new(AtomicUsize::new(0));
/// let threads: Vec<_> = (0..4)
///     .map(|_| {
///         let (once, runs) = (once.clone(), runs.clone());
///         std::thread::spawn(move || once.call_once(|| {
///             runs.fetch_add(1, Ordering::Relaxed);
///         }))
///     })
///     .collect();
/// for t in threads {
///     t.join().unwrap();
/// }
/// assert_eq!(runs.load(Ordering::Relaxed), 1);
/// assert!(once.is_completed());
/// ```
pub struct Once {
    raw: Boxed<uv_once_t>,
    /// Set when the closure returned normally.
    done: AtomicBool,
    /// Set when the closure panicked.
    poisoned: AtomicBool,
    /// The thread running the closure (see `this_thread`), or 0.
    runner: AtomicUsize,
}

// SAFETY: a uv_once_t may be used from any thread; the closure is never stored in the Once.
unsafe impl Send for Once {}
// SAFETY: concurrent `uv_once` calls on one guard are what it is for.
unsafe impl Sync for Once {}

/// What `call_once` hands to the libuv callback through the thread-local slot.
struct Pending<'a> {
    once: &'a Once,
    run: &'a mut dyn FnMut(),
    panic: Option<Box<dyn Any + Send>>,
}

thread_local! {
    /// The `Pending` of this thread's `call_once`, from just before `uv_once` until its
    /// callback takes it (or `uv_once` returns without calling it).
    static PENDING: Cell<*mut ()> = const { Cell::new(ptr::null_mut()) };
}

impl Pending<'_> {
    /// Runs the closure, catching a panic; records the outcome in the `Once`.
    fn run(&mut self) {
        let once = self.once;
        once.runner.store(this_thread(), Ordering::Relaxed);
        let result = panic::catch_unwind(AssertUnwindSafe(&mut *self.run));
        once.runner.store(0, Ordering::Relaxed);
        match result {
            Ok(()) => once.done.store(true, Ordering::Release),
            Err(payload) => {
                once.poisoned.store(true, Ordering::Release);
                self.panic = Some(payload);
            }
        }
    }
}

/// The `uv_once` callback: runs the closure of the `call_once` in progress on this thread.
unsafe extern "C" fn run_pending() {
    let pending = PENDING.with(|slot| slot.replace(ptr::null_mut()));
    // SAFETY: `call_once` on this thread stored a pointer to its `Pending` just before calling
    // uv_once, which runs this callback on the calling thread before returning; the `Pending`
    // lives on that call's stack until then, and nothing else refers to it meanwhile.
    if let Some(pending) = unsafe { pending.cast::<Pending<'_>>().as_mut() } {
        pending.run();
    }
}

impl Once {
    /// Creates a `Once` that has not run yet.
    pub fn new() -> Once {
        Once {
            raw: Boxed::from_value(UV_ONCE_INIT as uv_once_t),
            done: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
            runner: AtomicUsize::new(0),
        }
    }

    /// Runs `f` if no `call_once` on this `Once` has run yet; otherwise waits until the one
    /// running has finished, and returns without running `f`. Returning means the closure
    /// that ran has completed, and its effects are visible to this thread.
    ///
    /// # Panics
    ///
    /// With `f`'s panic, if it ran and panicked; if the `Once` is poisoned (an earlier closure
    /// panicked); if called from inside its own closure (where libuv would deadlock).
    #[doc(alias = "uv_once")]
    pub fn call_once(&self, f: impl FnOnce()) {
        if !self.is_completed() {
            self.call_once_slow(f);
        }
    }

    fn call_once_slow(&self, f: impl FnOnce()) {
        assert_ne!(
            self.runner.load(Ordering::Relaxed),
            this_thread(),
            "rsuv::Once::call_once called from its own closure"
        );
        let mut f = Some(f);
        let mut run = || {
            if let Some(f) = f.take() {
                f();
            }
        };
        let mut pending = Pending {
            once: self,
            run: &mut run,
            panic: None,
        };
        PENDING.with(|slot| slot.set(ptr::from_mut(&mut pending).cast()));
        // SAFETY: the guard was initialised with UV_ONCE_INIT, lives on the heap and never
        // moves; the callback only uses `pending`, which outlives this call, and catches every
        // panic, so nothing unwinds through libuv.
        unsafe { uv_once(self.raw.as_ptr(), Some(run_pending)) };
        PENDING.with(|slot| slot.set(ptr::null_mut()));
        if let Some(payload) = pending.panic.take() {
            panic::resume_unwind(payload);
        }
        assert!(
            !self.poisoned.load(Ordering::Acquire),
            "rsuv::Once instance has previously been poisoned"
        );
    }

    /// `true` once a closure has run to completion (not if it panicked).
    pub fn is_completed(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

impl Default for Once {
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("completed", &self.is_completed())
            .field("poisoned", &self.poisoned.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
