//! The loop itself: benchmark-million-timers.c and benchmark-loop-count.c.

use std::cell::Cell;
use std::time::{Duration, Instant};

use rsuv::{Idle, Loop, RunMode, Timer};

use crate::{add, get};

thread_local! {
    static TIMER_CB_CALLED: Cell<u64> = const { Cell::new(0) };
    static CLOSE_CB_CALLED: Cell<u64> = const { Cell::new(0) };
    static TICKS: Cell<u64> = const { Cell::new(0) };
}

// ---- million_timers (benchmark-million-timers.c) ----

const NUM_TIMERS: usize = 10 * 1000 * 1000;

/// Ten million one-shot timers, a thousand per millisecond of timeout (1 ms to 10 s): init
/// and start them all, run until all fired, close them all and run until all are closed.
pub fn million_timers() {
    // C mallocs its array of handles before the clock starts; rsuv allocates each handle in
    // `Timer::new`, so only the array of owners is made up front.
    let mut timers: Vec<Timer> = Vec::with_capacity(NUM_TIMERS);
    let lp = Loop::new().unwrap();
    let mut timeout = 0;

    let before_all = Instant::now();
    for i in 0..NUM_TIMERS {
        if i % 1000 == 0 {
            timeout += 1;
        }
        let timer = Timer::new(&lp).unwrap();
        timer
            .start(Duration::from_millis(timeout), Duration::ZERO, timer_cb)
            .unwrap();
        timers.push(timer);
    }
    let before_run = Instant::now();
    lp.run(RunMode::Default).unwrap();
    let after_run = Instant::now();
    for timer in timers.drain(..) {
        timer.close_with(close_cb).unwrap();
    }
    lp.run(RunMode::Default).unwrap();
    let after_all = Instant::now();

    assert_eq!(get(&TIMER_CB_CALLED), NUM_TIMERS as u64);
    assert_eq!(get(&CLOSE_CB_CALLED), NUM_TIMERS as u64);
    drop(timers);

    let secs = |d: Duration| d.as_secs_f64();
    eprintln!("{:.2} seconds total", secs(after_all - before_all));
    eprintln!("{:.2} seconds init", secs(before_run - before_all));
    eprintln!("{:.2} seconds dispatch", secs(after_run - before_run));
    eprintln!("{:.2} seconds cleanup", secs(after_all - after_run));
    lp.close().unwrap();
}

fn timer_cb(_: &Timer) {
    add(&TIMER_CB_CALLED, 1);
}

fn close_cb() {
    add(&CLOSE_CB_CALLED, 1);
}

// ---- loop_count (benchmark-loop-count.c) ----

const NUM_TICKS: u64 = 2 * 1000 * 1000;

/// Two million loop iterations, driven by an idle handle.
pub fn loop_count() {
    let lp = Loop::new().unwrap();
    let idle_handle = Idle::new(&lp).unwrap();
    idle_handle.start(idle_cb).unwrap();

    let start = Instant::now();
    lp.run(RunMode::Default).unwrap();
    let secs = start.elapsed().as_secs_f64();

    assert_eq!(get(&TICKS), NUM_TICKS);
    eprintln!(
        "loop_count: {} ticks in {:.2}s ({:.0}/s)",
        NUM_TICKS,
        secs,
        NUM_TICKS as f64 / secs
    );
    drop(idle_handle);
    lp.close().unwrap();
}

fn idle_cb(handle: &Idle) {
    add(&TICKS, 1);
    if get(&TICKS) == NUM_TICKS {
        let _ = handle.stop();
    }
}
