//! Filling libuv's threadpool with jobs that block until released, so that the next requests
//! are surely still queued (and cancellable). Included with `#[path]` by the test files that
//! need it.
#![allow(dead_code)]

use rsuv::{Loop, Work};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Longest a blocker waits to be released: a failed test then unblocks the pool instead of
/// hanging the process (libuv joins its threads at exit).
const MAX_BLOCK: Duration = Duration::from_secs(60);

/// Serializes the tests of one binary that fill the process-wide pool.
static POOL: Mutex<()> = Mutex::new(());

/// The threadpool size, read from `UV_THREADPOOL_SIZE` as libuv does (default 4, 0 counts as
/// 1, at most 1024).
pub fn size() -> usize {
    std::env::var("UV_THREADPOOL_SIZE")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(4, |n| n.clamp(1, 1024))
}

#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    pub fn wait(&self) {
        let open = self.open.lock().unwrap();
        drop(self.cv.wait_timeout_while(open, MAX_BLOCK, |open| !*open));
    }

    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

/// Every pool thread running one of our blockers. Dropping it releases them.
pub struct FullPool {
    pub gate: Arc<Gate>,
    /// The blockers' cancel handles.
    pub jobs: Vec<Work>,
    /// How many blockers finished (their `done` ran with `Ok`).
    pub finished: Rc<Cell<usize>>,
    _lock: MutexGuard<'static, ()>,
}

/// Queues one blocker per pool thread and waits until all of them are running.
pub fn fill(lp: &Loop) -> FullPool {
    let lock = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let (started_tx, started) = mpsc::channel();
    let mut pool = FullPool {
        gate: Arc::default(),
        jobs: Vec::new(),
        finished: Rc::default(),
        _lock: lock,
    };
    for i in 0..size() {
        let (gate, started_tx, finished) =
            (pool.gate.clone(), started_tx.clone(), pool.finished.clone());
        let work = move || {
            started_tx.send(()).unwrap();
            gate.wait();
            i
        };
        let done = move |r: Result<usize, rsuv::WorkError>| {
            assert_eq!(r, Ok(i));
            finished.set(finished.get() + 1);
        };
        pool.jobs.push(Work::queue(lp, work, done).unwrap());
    }
    for _ in 0..size() {
        started
            .recv_timeout(MAX_BLOCK)
            .expect("a blocker did not start");
    }
    pool
}

impl FullPool {
    /// Lets the blockers return.
    pub fn release(&self) {
        self.gate.open();
    }
}

impl Drop for FullPool {
    fn drop(&mut self) {
        self.gate.open();
    }
}
