//! [`Signal`]: Unix signals delivered as loop callbacks.

use std::os::raw::c_int;

use libuv_sys2::*;

use super::error::{Result, check};
use super::handle::{Callback, Owned, State, dispatch, handle_methods};
use super::loop_::LoopHandle;

type SignalCb = dyn FnMut(&Signal, i32);

pub(crate) struct SignalState {
    cb: Callback<SignalCb>,
}

impl State for SignalState {
    type Raw = uv_signal_t;

    fn clear(&self) {
        self.cb.clear();
    }
}

/// A signal handle: its callback runs on the loop thread when the process receives the
/// signal. Several handles may watch one signal; each is called. While any handle watches a
/// signal, libuv's handler replaces the default action (a watched `SIGINT` no longer ends the
/// process); the previous disposition comes back when the last handle stops.
///
/// # Examples
///
/// ```
/// use rsuv::{Loop, RunMode, Signal};
/// let lp = Loop::new()?;
/// let sig = Signal::new(&lp)?;
/// sig.start_oneshot(libc::SIGUSR2, |s, signum| {
///     assert_eq!(signum, libc::SIGUSR2);
///     s.close();
/// })?;
/// // SAFETY: raising a signal that a handle watches is sound.
/// unsafe { libc::raise(libc::SIGUSR2) };
/// lp.run(RunMode::Default)?;
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Signal(Owned<SignalState>);

handle_methods!(Signal);

unsafe extern "C" fn on_signal(raw: *mut uv_signal_t, signum: c_int) {
    // SAFETY: libuv calls this only for open handles made by `Signal::new`.
    unsafe {
        dispatch(raw.cast(), Signal, |h| {
            h.0.state().cb.call(h.0.core(), |f| f(h, signum))
        })
    }
}

impl Signal {
    /// Creates a signal handle on `lp`.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`](crate::Error::CLOSED) if the loop is closed.
    #[doc(alias = "uv_signal_init")]
    pub fn new(lp: &LoopHandle) -> Result<Signal> {
        let state = SignalState {
            cb: Callback::empty(),
        };
        // SAFETY: `raw` is fresh memory of uv_handle_size(UV_SIGNAL) bytes.
        let init = |l, raw: *mut uv_handle_t| unsafe { uv_signal_init(l, raw.cast()) };
        Owned::init(lp, uv_handle_type_UV_SIGNAL, state, init).map(Signal)
    }

    /// Watches `signum`: `cb` runs with the signal number each time it arrives.
    ///
    /// # Errors
    ///
    /// `EINVAL` for an invalid signal number; [`Error::CLOSED`](crate::Error::CLOSED) if the
    /// handle is closing or closed.
    #[doc(alias = "uv_signal_start")]
    pub fn start(&self, signum: i32, cb: impl FnMut(&Signal, i32) + 'static) -> Result<()> {
        let raw = self.0.raw()?;
        // SAFETY: `raw` is an open signal handle.
        check(unsafe { uv_signal_start(raw, Some(on_signal), signum) })?;
        // Installed only once libuv accepted the start: a refused start keeps the old one.
        self.0.state().cb.set(Box::new(cb));
        Ok(())
    }

    /// Like [`Signal::start`], but the handle stops after the first signal.
    ///
    /// # Errors
    ///
    /// As for [`Signal::start`].
    #[doc(alias = "uv_signal_start_oneshot")]
    pub fn start_oneshot(&self, signum: i32, cb: impl FnMut(&Signal, i32) + 'static) -> Result<()> {
        let raw = self.0.raw()?;
        // SAFETY: `raw` is an open signal handle.
        check(unsafe { uv_signal_start_oneshot(raw, Some(on_signal), signum) })?;
        // Installed only once libuv accepted the start: a refused start keeps the old one.
        self.0.state().cb.set(Box::new(cb));
        Ok(())
    }

    /// Stops watching.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`](crate::Error::CLOSED) if the handle is closing or closed.
    #[doc(alias = "uv_signal_stop")]
    pub fn stop(&self) -> Result<()> {
        // SAFETY: the handle is open.
        check(unsafe { uv_signal_stop(self.0.raw()?) }).map(drop)
    }

    /// The signal watched, or 0 when none.
    pub fn signum(&self) -> i32 {
        // SAFETY: the handle is open; `signum` is a plain field of uv_signal_t.
        self.0
            .raw::<uv_signal_t>()
            .map_or(0, |raw| unsafe { (*raw).signum })
    }
}
