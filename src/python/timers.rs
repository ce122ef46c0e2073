//! The loop's timers: a binary heap of `TimerHandle`s keyed by `(when, sequence)`, compacted
//! when cancelled timers make up most of it (as asyncio does).

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::prelude::*;

use super::handle::{Handle, TimerHandle};

/// Compaction starts above this many cancelled timers (asyncio's `_MIN_SCHEDULED_TIMER_HANDLES`)
/// and when they are more than half the heap (`_MIN_CANCELLED_TIMER_HANDLES_FRACTION`).
const MIN_CANCELLED: usize = 100;

struct Entry {
    when: f64,
    seq: u64,
    handle: Py<TimerHandle>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so that the std max-heap pops the earliest timer (first scheduled first).
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other
            .when
            .total_cmp(&self.when)
            .then(other.seq.cmp(&self.seq))
    }
}

/// The timer heap of one loop.
pub(crate) struct Timers {
    heap: BinaryHeap<Entry>,
    seq: u64,
    /// Timers in the heap whose handle was cancelled (raised by `TimerHandle.cancel`).
    cancelled: Arc<AtomicUsize>,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            seq: 0,
            cancelled: Arc::default(),
        }
    }

    /// The counter handed to each `TimerHandle` made for this heap.
    pub(crate) fn counter(&self) -> Arc<AtomicUsize> {
        self.cancelled.clone()
    }

    pub(crate) fn push(&mut self, handle: Py<TimerHandle>, py: Python<'_>) {
        let h = handle.bind(py).get();
        h.set_scheduled(true);
        self.seq += 1;
        self.heap.push(Entry {
            when: h.when_f64(),
            seq: self.seq,
            handle,
        });
    }

    /// When the top of the heap is due (it may be cancelled).
    pub(crate) fn peek_when(&self) -> Option<f64> {
        self.heap.peek().map(|e| e.when)
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// When the earliest live timer is due; cancelled ones at the top are dropped on the way
    /// (into `dead`, which the caller drops outside its borrow).
    pub(crate) fn next_when(
        &mut self,
        py: Python<'_>,
        dead: &mut Vec<Py<TimerHandle>>,
    ) -> Option<f64> {
        while let Some(top) = self.heap.peek() {
            if !top.handle.bind(py).as_super().get().is_cancelled() {
                return Some(top.when);
            }
            let e = self.heap.pop().expect("peeked");
            self.unschedule(&e.handle, py);
            dead.push(e.handle);
        }
        None
    }

    /// Moves every timer due at `now` (by `when <= now`: never early) to `ready`; cancelled
    /// ones go to `dead`.
    pub(crate) fn expire(
        &mut self,
        py: Python<'_>,
        now: f64,
        ready: &mut std::collections::VecDeque<Py<Handle>>,
        dead: &mut Vec<Py<TimerHandle>>,
    ) {
        while let Some(top) = self.heap.peek() {
            if top.when > now {
                break;
            }
            let e = self.heap.pop().expect("peeked");
            let cancelled = self.unschedule(&e.handle, py);
            if cancelled {
                dead.push(e.handle);
            } else {
                ready.push_back(e.handle.into_bound(py).into_super().unbind());
            }
        }
    }

    /// Marks a timer taken off the heap; whether it was cancelled.
    fn unschedule(&self, handle: &Py<TimerHandle>, py: Python<'_>) -> bool {
        let b = handle.bind(py);
        b.get().set_scheduled(false);
        let cancelled = b.as_super().get().is_cancelled();
        if cancelled {
            self.cancelled.fetch_sub(1, Ordering::Relaxed);
        }
        cancelled
    }

    /// Drops cancelled timers (into `dead`) once they are over `MIN_CANCELLED` and more than
    /// half of the heap, so that timers cancelled and rescheduled cost no memory growth.
    pub(crate) fn compact(&mut self, py: Python<'_>, dead: &mut Vec<Py<TimerHandle>>) {
        let cancelled = self.cancelled.load(Ordering::Relaxed);
        if cancelled <= MIN_CANCELLED || cancelled * 2 <= self.heap.len() {
            return;
        }
        let mut keep = Vec::with_capacity(self.heap.len() - cancelled.min(self.heap.len()));
        for e in std::mem::take(&mut self.heap).into_vec() {
            if self.unschedule_if_cancelled(&e.handle, py) {
                dead.push(e.handle);
            } else {
                keep.push(e);
            }
        }
        self.heap = BinaryHeap::from(keep);
    }

    fn unschedule_if_cancelled(&self, handle: &Py<TimerHandle>, py: Python<'_>) -> bool {
        let b = handle.bind(py);
        if b.as_super().get().is_cancelled() {
            self.unschedule(handle, py)
        } else {
            false
        }
    }

    /// Empties the heap (into `dead`), for `close()`.
    pub(crate) fn clear(&mut self, py: Python<'_>, dead: &mut Vec<Py<TimerHandle>>) {
        for e in std::mem::take(&mut self.heap).into_vec() {
            self.unschedule(&e.handle, py);
            dead.push(e.handle);
        }
    }

    pub(crate) fn traverse(
        &self,
        visit: &pyo3::gc::PyVisit<'_>,
    ) -> Result<(), pyo3::PyTraverseError> {
        for e in self.heap.iter() {
            visit.call(&e.handle)?;
        }
        Ok(())
    }
}
