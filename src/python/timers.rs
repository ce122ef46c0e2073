//! The loop's timers: a binary heap of `TimerHandle`s keyed by `(when, sequence)`, compacted
//! when cancelled timers make up most of it (as asyncio does).
//!
//! A timer in the heap is untracked by the cycle collector and tracked again when it leaves,
//! so that tens of thousands of pending timers are not traversed by every young collection
//! (callgrind: ~370 instructions per timer in the `call_later` benchmark went to that). The
//! loop's own traversal visits what such a timer references on its behalf, so a cycle
//! through the loop and its pending timers (an unclosed loop dropped) is still found.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::ffi;
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

/// Tracks or untracks a timer with the cycle collector (a no-op if it already is so).
fn set_tracked(handle: &Py<TimerHandle>, on: bool) {
    let p = handle.as_ptr();
    // SAFETY: `p` is a live object of a GC type (`Handle` has `__traverse__`) and the GIL is
    // held (the heap is reached only with it); tracking is changed only when it differs, as
    // CPython requires.
    unsafe {
        if (ffi::PyObject_GC_IsTracked(p) != 0) != on {
            if on {
                ffi::PyObject_GC_Track(p.cast());
            } else {
                ffi::PyObject_GC_UnTrack(p.cast());
            }
        }
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
        set_tracked(&handle, false);
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
        set_tracked(handle, true);
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
            // SAFETY: a live object; only its tracking bit is read.
            if unsafe { ffi::PyObject_GC_IsTracked(e.handle.as_ptr()) } == 0 {
                // Not traversed by the collector itself: exactly once here instead.
                // SAFETY: a `TimerHandle` starts with its `Handle`, as `as_super` relies on;
                // the token is only used to view it (no reference count is touched).
                let h = unsafe {
                    pyo3::Borrowed::from_ptr(Python::assume_attached(), e.handle.as_ptr())
                        .cast_unchecked::<Handle>()
                };
                h.get().visit_refs(visit)?;
            }
        }
        Ok(())
    }
}
