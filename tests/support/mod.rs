//! Shared test helpers: run a loop to completion and prove it closes cleanly.
#![allow(dead_code)]

use rsuv::{Loop, RunMode, Timer};
use std::future::Future;
use std::time::Duration;

/// Runs `lp` until it has nothing left to do, then closes it, asserting `uv_loop_close`
/// succeeds (no handle or request left behind).
pub fn finish(lp: Loop) {
    assert!(
        !lp.run(RunMode::Default).expect("run"),
        "loop still alive after a default run"
    );
    lp.close().expect("loop closes cleanly");
}

/// A watchdog: an unreferenced timer that panics (failing the test) if the loop is still
/// running after `secs` seconds, so that a lost wake-up fails instead of hanging.
pub fn watchdog(lp: &Loop, secs: u64) -> Timer {
    let t = Timer::new(lp).unwrap();
    t.start(Duration::from_secs(secs), Duration::ZERO, move |_| {
        panic!("watchdog: test still running after {secs} s")
    })
    .unwrap();
    t.unref();
    t
}

/// Runs `body` on a new `rsuv::rt::Runtime`, failing the test if it takes longer than `limit`,
/// then proves the loop closes cleanly.
pub fn run_async<T>(limit: Duration, body: impl Future<Output = T>) -> T {
    let rt = rsuv::rt::Runtime::new().unwrap();
    let out = rt.block_on(async {
        rsuv::rt::timeout(limit, body)
            .await
            .expect("test timed out")
    });
    finish(rt.into_loop());
    out
}
