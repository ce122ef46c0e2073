//! Shared test helpers: run a loop to completion and prove it closes cleanly.
#![allow(dead_code)]

use rsuv::{Loop, RunMode, Tcp, Timer};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
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

/// A connected TCP pair on `lp` over loopback: (client, the server's accepted side). The
/// listener is closed once it has accepted.
pub fn tcp_pair(lp: &Loop) -> (Tcp, Tcp) {
    let server = Tcp::new(lp).unwrap();
    server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let slot = Rc::new(RefCell::new(None));
    let s2 = slot.clone();
    server
        .listen(8, move |s, r| {
            r.unwrap();
            *s2.borrow_mut() = Some(s.accept().unwrap());
        })
        .unwrap();
    let client = Tcp::new(lp).unwrap();
    let connected = Rc::new(RefCell::new(false));
    let c2 = connected.clone();
    client
        .connect(server.sockname().unwrap(), move |_, r| {
            r.unwrap();
            *c2.borrow_mut() = true;
        })
        .unwrap();
    while slot.borrow().is_none() || !*connected.borrow() {
        lp.run(RunMode::Once).unwrap();
    }
    let accepted = slot.borrow_mut().take().unwrap();
    (client, accepted)
}
