//! A global allocator that counts the allocations of each thread, for the tests that prove a
//! steady path allocates nothing (`uv_alloc`, `tls_alloc`). Included by `#[path]`: it
//! installs itself as the test binary's allocator.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;

struct Counting;

thread_local! {
    /// Allocations made by this thread (const-initialised, no destructor: safe to touch from
    /// inside the allocator). Counting per thread keeps the test harness's own threads out.
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
    /// Bytes this thread has allocated and not yet freed (frees of other threads' memory
    /// count here too: for tests whose memory stays on one thread).
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

/// Bytes allocated by this thread and not yet freed.
pub fn live_bytes() -> isize {
    LIVE.with(Cell::get)
}

fn live(delta: isize) {
    let _ = LIVE.try_with(|n| n.set(n.get() + delta));
}

pub fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

fn count() {
    let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards to the system allocator, counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        live(layout.size() as isize);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live(-(layout.size() as isize));
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        count();
        live(new as isize - layout.size() as isize);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Round trips run before counting starts, then counted.
pub const WARMUP: usize = 100;
pub const MEASURED: usize = 2000;

/// Counts allocations made between round trip `WARMUP` and the last one.
pub struct Window {
    trips: Cell<usize>,
    at_start: Cell<usize>,
    pub counted: Cell<Option<usize>>,
}

impl Window {
    pub fn trip(&self) -> bool {
        let n = self.trips.get() + 1;
        self.trips.set(n);
        if n == WARMUP {
            self.at_start.set(allocs());
        }
        if n == WARMUP + MEASURED {
            self.counted.set(Some(allocs() - self.at_start.get()));
            return false;
        }
        true
    }
}

pub fn window() -> Rc<Window> {
    Rc::new(Window {
        trips: Cell::new(0),
        at_start: Cell::new(0),
        counted: Cell::new(None),
    })
}
