//! One iteration of `rsuv.Loop` (`Inner::run_once`) and what it is made of: polling libuv,
//! the wait in the kernel with the GIL released, timers coming due, signals, the Rust tasks,
//! and running the ready callbacks. A child of `loop_core` (it reaches `Inner`'s fields).

use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::time::Duration;

use pyo3::prelude::*;

use super::super::freelist;
use super::super::handle::{Handle, TimerHandle};
use super::{BUSY_POLL_EVERY, BUSY_POLL_NS, Inner, LoopCore, closed_error, now, uv_error};
use crate::uv::{self, RunMode};

impl Inner {
    /// Runs libuv once without blocking: its callbacks (descriptors, DNS, wake-ups) run now.
    pub(super) fn poll_uv(&self, py: Python<'_>) -> PyResult<()> {
        self.busy_since_poll.store(0, Ordering::Relaxed);
        self.last_poll.store(uv::hrtime(), Ordering::Relaxed);
        {
            let lp = self.lp.borrow(py);
            let lp = lp.as_ref().ok_or_else(closed_error)?;
            lp.run(RunMode::NoWait).map(drop).map_err(uv_error)?;
        }
        match self.fatal.borrow_mut(py).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// How long the loop may sleep: until the next timer (ours or libuv's), or forever.
    pub(super) fn timeout(
        &self,
        py: Python<'_>,
        dead: &mut Vec<Py<TimerHandle>>,
    ) -> Option<Duration> {
        let next = self.timers.borrow_mut(py).next_when(py, dead);
        let ours = next.map(|when| Duration::from_secs_f64((when - now()).clamp(0.0, 1e9)));
        let theirs = self
            .lp
            .borrow(py)
            .as_ref()
            .and_then(|lp| lp.backend_timeout());
        match (ours, theirs) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(super) fn backend_fd(&self, py: Python<'_>) -> PyResult<RawFd> {
        let lp = self.lp.borrow(py);
        lp.as_ref()
            .ok_or_else(closed_error)?
            .backend_fd()
            .map_err(uv_error)
    }

    pub(super) fn expire_timers(&self, py: Python<'_>, dead: &mut Vec<Py<TimerHandle>>) {
        let mut timers = self.timers.borrow_mut(py);
        if timers.len() == 0 {
            return; // no clock read
        }
        timers.compact(py, dead);
        let mut ready = self.ready.borrow_mut(py);
        timers.expire(py, now(), &mut ready, dead);
    }

    /// One iteration: wait (unless work is ready), let libuv dispatch, move due timers to the
    /// ready queue, run what was ready at that point.
    pub(super) fn run_once(&self, slf: &Bound<'_, LoopCore>) -> PyResult<()> {
        let py = slf.py();
        let mut dead = Vec::new();
        self.iterations.fetch_add(1, Ordering::Relaxed);
        if self.busy(py) {
            let n = self.busy_since_poll.fetch_add(1, Ordering::Relaxed) + 1;
            let t = uv::hrtime();
            let since = t.saturating_sub(self.last_poll.load(Ordering::Relaxed));
            // Polled also when a timer is due, so that I/O ready by then runs before the
            // timer, as in asyncio's iteration.
            if n >= BUSY_POLL_EVERY || since >= BUSY_POLL_NS || self.timer_due(py, t) {
                self.poll_uv(py)?;
            }
        } else {
            // Also registers with epoll what callbacks started since the last poll.
            self.poll_uv(py)?;
            self.expire_timers(py, &mut dead);
            if !self.busy(py) {
                self.wait(py, &mut dead)?;
            }
        }
        self.dispatch_signals(slf)?;
        self.run_rust_tasks(py);
        self.expire_timers(py, &mut dead);
        drop(dead);
        self.run_ready(slf)
    }

    /// Whether the earliest timer in the heap (cancelled or not) is due at `t_ns`.
    pub(super) fn timer_due(&self, py: Python<'_>, t_ns: u64) -> bool {
        self.timers
            .borrow(py)
            .peek_when()
            .is_some_and(|when| when <= t_ns as f64 * 1e-9)
    }

    /// Whether work is waiting: callbacks, a stop, signal numbers read (by the last poll) but
    /// not yet dispatched, Rust tasks.
    pub(super) fn busy(&self, py: Python<'_>) -> bool {
        !self.ready.borrow(py).is_empty()
            || self.stopping.load(Ordering::Relaxed)
            || !self.signals.borrow(py).is_empty()
            || self
                .rt
                .borrow(py)
                .as_ref()
                .is_some_and(|set| !set.is_idle())
    }

    /// Polls the Rust tasks that are ready (they may call Python).
    pub(super) fn run_rust_tasks(&self, py: Python<'_>) {
        let set = self.rt.borrow(py);
        if let Some(set) = set.as_ref() {
            set.run_ready();
        }
    }

    /// Sleeps in the kernel, the GIL released, until a descriptor of libuv's is ready or the
    /// next timer is due; then lets libuv dispatch what woke it.
    pub(super) fn wait(&self, py: Python<'_>, dead: &mut Vec<Py<TimerHandle>>) -> PyResult<()> {
        let timeout = self.timeout(py, dead);
        drop(std::mem::take(dead));
        let fd = self.backend_fd(py)?;
        self.waits.fetch_add(1, Ordering::Relaxed);
        py.detach(|| uv::wait_readable(fd, timeout))
            .map_err(uv_error)?;
        self.poll_uv(py)
    }

    /// Runs Python's signal handlers (`KeyboardInterrupt` comes out here), then the loop's
    /// own (`add_signal_handler`) for the signal numbers the wake-up descriptor brought.
    pub(super) fn dispatch_signals(&self, slf: &Bound<'_, LoopCore>) -> PyResult<()> {
        let py = slf.py();
        py.check_signals()?;
        let sigs = std::mem::take(&mut *self.signals.borrow_mut(py));
        for sig in sigs {
            slf.call_method1("_handle_signal", (sig,))?;
        }
        Ok(())
    }

    pub(super) fn run_ready(&self, slf: &Bound<'_, LoopCore>) -> PyResult<()> {
        let py = slf.py();
        let n = self.ready.borrow(py).len();
        let debug = self.debug();
        for _ in 0..n {
            let h = self.ready.borrow_mut(py).pop_front();
            let Some(h) = h else { break };
            let h = h.into_bound(py);
            if h.get().is_cancelled() {
                continue;
            }
            if debug {
                self.run_timed(slf, &h)?;
            } else {
                Handle::run_routed(&h)?;
            }
            self.recycle(h);
        }
        Ok(())
    }

    /// Keeps a handle that ran for reuse if nothing else references it (`freelist.rs`).
    pub(super) fn recycle(&self, h: Bound<'_, Handle>) {
        let py = h.py();
        if !freelist::unshared(h.as_any()) || !h.get().is_plain(py) {
            return;
        }
        let timer = if freelist::is_exact::<Handle>(h.as_any()) {
            false
        } else if freelist::is_exact::<TimerHandle>(h.as_any()) {
            true
        } else {
            return;
        };
        drop(h.get().vacate(py)); // may run Python: the handle is in no list yet
        if !freelist::unshared(h.as_any()) {
            return; // reached by someone meanwhile: theirs now, empty
        }
        if !timer {
            self.free.push(py, h.unbind());
        } else if let Ok(t) = h.cast_into::<TimerHandle>() {
            self.free_timers.push(py, t.unbind());
        }
    }

    /// Debug mode: warns of a callback slower than `slow_callback_duration`.
    pub(super) fn run_timed(
        &self,
        slf: &Bound<'_, LoopCore>,
        h: &Bound<'_, Handle>,
    ) -> PyResult<()> {
        let t0 = now();
        let r = Handle::run_routed(h);
        let dt = now() - t0;
        if dt >= f64::from_bits(self.slow_callback.load(Ordering::Relaxed)) {
            let py = slf.py();
            let logger = py.import("asyncio.log")?.getattr("logger")?;
            logger.call_method1("warning", ("Executing %s took %.3f seconds", h, dt))?;
        }
        r
    }

    pub(super) fn push_ready(&self, py: Python<'_>, h: Py<Handle>) {
        self.ready.borrow_mut(py).push_back(h);
    }
}
