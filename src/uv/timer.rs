//! [`Timer`]: run a callback after a timeout, optionally repeating.

use std::time::Duration;

use libuv_sys2::*;

use super::error::{Result, check};
use super::handle::{Callback, Owned, State, dispatch, handle_methods};
use super::loop_::LoopHandle;

type TimerCb = dyn FnMut(&Timer);

pub(crate) struct TimerState {
    cb: Callback<TimerCb>,
}

impl State for TimerState {
    type Raw = uv_timer_t;

    fn clear(&self) {
        self.cb.clear();
    }
}

/// A timer handle.
///
/// Times are whole milliseconds on the loop's clock ([`LoopHandle::now`]); a duration with a
/// fraction of a millisecond is rounded up, so a timer never fires early.
///
/// # Examples
///
/// ```
/// use rsuv::{Loop, RunMode, Timer};
/// use std::{cell::Cell, rc::Rc, time::Duration};
///
/// let lp = Loop::new()?;
/// let ticks = Rc::new(Cell::new(0));
/// let timer = Timer::new(&lp)?;
/// let t2 = ticks.clone();
/// timer.start(Duration::from_millis(1), Duration::from_millis(1), move |t| {
///     t2.set(t2.get() + 1);
///     if t2.get() == 3 {
///         t.stop().unwrap();
///     }
/// })?;
/// lp.run(RunMode::Default)?;
/// assert_eq!(ticks.get(), 3);
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Timer(Owned<TimerState>);

handle_methods!(Timer);

/// Milliseconds for libuv, rounded up.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

unsafe extern "C" fn on_timer(raw: *mut uv_timer_t) {
    // SAFETY: libuv calls this only for open timers made by `Timer::new`.
    unsafe {
        dispatch(raw.cast(), Timer, |t| {
            t.0.state().cb.call(t.0.core(), |f| f(t))
        })
    }
}

impl Timer {
    /// Creates a timer on `lp`.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`](crate::Error::CLOSED) if the loop is closed.
    #[doc(alias = "uv_timer_init")]
    pub fn new(lp: &LoopHandle) -> Result<Timer> {
        let state = TimerState {
            cb: Callback::empty(),
        };
        // SAFETY: `raw` is fresh memory of uv_handle_size(UV_TIMER) bytes.
        let init = |l, raw: *mut uv_handle_t| unsafe { uv_timer_init(l, raw.cast()) };
        Owned::init(lp, uv_handle_type_UV_TIMER, state, init).map(Timer)
    }

    /// Starts the timer: `cb` runs after `timeout`, then every `repeat` if it is not zero.
    /// Starting an active timer restarts it with the new callback.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`](crate::Error::CLOSED) if the timer is closing or closed.
    #[doc(alias = "uv_timer_start")]
    pub fn start(
        &self,
        timeout: Duration,
        repeat: Duration,
        cb: impl FnMut(&Timer) + 'static,
    ) -> Result<()> {
        let raw = self.0.raw()?;
        // SAFETY: `raw` is an open timer.
        check(unsafe { uv_timer_start(raw, Some(on_timer), millis(timeout), millis(repeat)) })?;
        // Installed only once libuv accepted the start: a refused start keeps the old one.
        self.0.state().cb.set(Box::new(cb));
        Ok(())
    }

    /// Stops the timer. Its callback stays installed, for [`Timer::again`].
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`](crate::Error::CLOSED) if the timer is closing or closed.
    #[doc(alias = "uv_timer_stop")]
    pub fn stop(&self) -> Result<()> {
        // SAFETY: the timer is open.
        check(unsafe { uv_timer_stop(self.0.raw()?) }).map(drop)
    }

    /// Restarts a repeating timer with its repeat interval as the timeout.
    ///
    /// # Errors
    ///
    /// `EINVAL` if the timer was never started; [`Error::CLOSED`](crate::Error::CLOSED) if it is
    /// closing or closed.
    #[doc(alias = "uv_timer_again")]
    pub fn again(&self) -> Result<()> {
        // SAFETY: the timer is open.
        check(unsafe { uv_timer_again(self.0.raw()?) }).map(drop)
    }

    /// Sets the repeat interval (zero: no repeat). It applies when the timer is next re-armed:
    /// libuv re-arms a repeating timer *before* calling its callback, so a change made inside
    /// the callback takes effect after the already-scheduled next call. Use [`Timer::stop`] to
    /// end a repetition at once.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`](crate::Error::CLOSED) if the timer is closing or closed.
    #[doc(alias = "uv_timer_set_repeat")]
    pub fn set_repeat(&self, repeat: Duration) -> Result<()> {
        // SAFETY: the timer is open.
        unsafe { uv_timer_set_repeat(self.0.raw()?, millis(repeat)) };
        Ok(())
    }

    /// The repeat interval (zero when closed).
    #[doc(alias = "uv_timer_get_repeat")]
    pub fn repeat(&self) -> Duration {
        // SAFETY: the timer is open.
        let ms = self
            .0
            .raw()
            .map_or(0, |raw| unsafe { uv_timer_get_repeat(raw) });
        Duration::from_millis(ms)
    }

    /// Time until the timer fires: zero if it is due or not active.
    #[doc(alias = "uv_timer_get_due_in")]
    pub fn due_in(&self) -> Duration {
        // SAFETY: the timer is open.
        let ms = self
            .0
            .raw()
            .map_or(0, |raw| unsafe { uv_timer_get_due_in(raw) });
        Duration::from_millis(ms)
    }
}
