//! Timers: [`sleep`], [`sleep_until`], [`timeout`], [`interval`], on the loop's `Timer`s.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::uv::Timer;

use super::executor::current;

/// What a `Sleep` and its timer callback share.
#[derive(Default)]
struct Shared {
    fired: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

/// The future of [`sleep`] / [`sleep_until`].
///
/// # Cancel safety
///
/// Dropping it stops its timer; nothing else is lost.
pub struct Sleep {
    deadline: Instant,
    timer: Option<Timer>,
    shared: Rc<Shared>,
}

/// Waits `dur` (rounded up to whole milliseconds of the loop's clock).
///
/// # Panics
///
/// When first polled outside [`block_on`](super::block_on).
pub fn sleep(dur: Duration) -> Sleep {
    sleep_until(Instant::now() + dur)
}

/// Waits until `deadline`.
///
/// # Panics
///
/// When first polled outside [`block_on`](super::block_on).
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        timer: None,
        shared: Rc::default(),
    }
}

impl Sleep {
    /// The instant it completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline (a completed `Sleep` becomes pending again if it is later).
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.timer = None;
        self.shared = Rc::default();
    }

    fn arm(&mut self) {
        let ex = current().expect("rsuv::rt timers need to run inside block_on");
        let timer = Timer::new(&ex.lp).expect("rsuv::rt: could not create a timer");
        // libuv counts from the loop's cached clock (whole milliseconds): refresh it, so the
        // timer is not early by the cache's age. It can still be early by under a millisecond
        // of truncation; `poll` re-arms then.
        ex.lp.update_time();
        let wait = self.deadline.saturating_duration_since(Instant::now());
        let shared = self.shared.clone();
        timer
            .start(wait, Duration::ZERO, move |_| {
                shared.fired.set(true);
                if let Some(w) = shared.waker.take() {
                    w.wake();
                }
            })
            .expect("a new timer starts");
        self.timer = Some(timer);
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.timer = None;
            return Poll::Ready(());
        }
        if self.timer.is_none() || self.shared.fired.replace(false) {
            self.arm(); // first poll, or the timer fired a little early
        }
        self.shared.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// The error of a [`timeout`] that ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// Runs `fut` for at most `dur`: its output, or `Err(Elapsed)` (and `fut` is dropped).
///
/// # Cancel safety
///
/// As cancel safe as `fut` itself.
pub async fn timeout<F: Future>(dur: Duration, fut: F) -> Result<F::Output, Elapsed> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep = std::pin::pin!(sleep(dur));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        sleep.as_mut().poll(cx).map(|()| Err(Elapsed))
    })
    .await
}

/// Ticks every `period`, the first tick at once. A late tick does not shift later ones (missed
/// ticks are delivered at once, as tokio's default `Burst` behaviour).
///
/// # Panics
///
/// If `period` is zero.
pub fn interval(period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval: the period must be positive");
    Interval {
        period,
        sleep: sleep_until(Instant::now()),
    }
}

/// See [`interval`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    sleep: Sleep,
}

impl Interval {
    /// Waits for the next tick; returns its scheduled instant.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped `tick()` loses no tick.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let at = self.sleep.deadline();
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.sleep.reset(at + self.period);
        Poll::Ready(at)
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}
