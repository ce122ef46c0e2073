//! [`Idle`], [`Prepare`] and [`Check`]: callbacks run once per loop iteration, at three points.
//!
//! Each iteration runs timers, then idle callbacks (and, while an idle handle is active, polls
//! for I/O without blocking), then prepare callbacks, polls for I/O, then check callbacks.

use libuv_sys2::*;

use super::error::{Result, check};
use super::handle::{Callback, Owned, State, dispatch, handle_methods};
use super::loop_::LoopHandle;

macro_rules! watcher {
    ($(#[$doc:meta])* $ty:ident, $state:ident, $raw:ty, $kind:expr,
     $init:ident, $start:ident, $stop:ident, $tramp:ident, $a_init:literal, $a_start:literal, $a_stop:literal) => {
        pub(crate) struct $state {
            cb: Callback<dyn FnMut(&$ty)>,
        }

        impl State for $state {
            type Raw = $raw;

            fn clear(&self) {
                self.cb.clear();
            }
        }

        $(#[$doc])*
        pub struct $ty(Owned<$state>);

        handle_methods!($ty);

        unsafe extern "C" fn $tramp(raw: *mut $raw) {
            // SAFETY: libuv calls this only for open handles made by `new`.
            unsafe { dispatch(raw.cast(), $ty, |h| h.0.state().cb.call(h.0.core(), |f| f(h))) }
        }

        impl $ty {
            /// Creates the handle on `lp`.
            ///
            /// # Errors
            ///
            /// [`Error::CLOSED`](crate::Error::CLOSED) if the loop is closed.
            #[doc(alias = $a_init)]
            pub fn new(lp: &LoopHandle) -> Result<$ty> {
                let state = $state { cb: Callback::empty() };
                // SAFETY: `raw` is fresh memory of uv_handle_size(kind) bytes.
                let init = |l, raw: *mut uv_handle_t| unsafe { $init(l, raw.cast()) };
                Owned::init(lp, $kind, state, init).map($ty)
            }

            /// Starts the handle: `cb` runs once per loop iteration until stopped. Starting an
            /// active handle replaces its callback.
            ///
            /// # Errors
            ///
            /// [`Error::CLOSED`](crate::Error::CLOSED) if the handle is closing or closed.
            #[doc(alias = $a_start)]
            pub fn start(&self, cb: impl FnMut(&$ty) + 'static) -> Result<()> {
                let raw = self.0.raw()?;
                // SAFETY: `raw` is an open handle of this type.
                check(unsafe { $start(raw, Some($tramp)) })?;
                // Installed only once libuv accepted the start: a refused start keeps the old one.
                self.0.state().cb.set(Box::new(cb));
                Ok(())
            }

            /// Stops the handle.
            ///
            /// # Errors
            ///
            /// [`Error::CLOSED`](crate::Error::CLOSED) if the handle is closing or closed.
            #[doc(alias = $a_stop)]
            pub fn stop(&self) -> Result<()> {
                // SAFETY: the handle is open.
                check(unsafe { $stop(self.0.raw()?) }).map(drop)
            }
        }
    };
}

watcher!(
    /// Runs a callback once per loop iteration, before prepare; while active, the loop polls for
    /// I/O without blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsuv::{Idle, Loop, RunMode};
    /// let lp = Loop::new()?;
    /// let idle = Idle::new(&lp)?;
    /// idle.start(|h| h.close())?;
    /// lp.run(RunMode::Default)?;
    /// # Ok::<(), rsuv::Error>(())
    /// ```
    Idle, IdleState, uv_idle_t, uv_handle_type_UV_IDLE,
    uv_idle_init, uv_idle_start, uv_idle_stop, on_idle,
    "uv_idle_init", "uv_idle_start", "uv_idle_stop"
);

watcher!(
    /// Runs a callback once per loop iteration, right before the loop polls for I/O.
    Prepare, PrepareState, uv_prepare_t, uv_handle_type_UV_PREPARE,
    uv_prepare_init, uv_prepare_start, uv_prepare_stop, on_prepare,
    "uv_prepare_init", "uv_prepare_start", "uv_prepare_stop"
);

watcher!(
    /// Runs a callback once per loop iteration, right after the loop has polled for I/O.
    Check, CheckState, uv_check_t, uv_handle_type_UV_CHECK,
    uv_check_init, uv_check_start, uv_check_stop, on_check,
    "uv_check_init", "uv_check_start", "uv_check_stop"
);
