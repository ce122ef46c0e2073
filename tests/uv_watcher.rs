//! Idle, Prepare and Check: phase order within an iteration, stop, callback replacement.

mod support;

use rsuv::{Check, Error, Idle, Loop, Prepare, RunMode, Timer};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

#[test]
fn phases_run_timer_idle_prepare_poll_check() {
    let lp = Loop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::<&str>::new()));
    let push = |name: &'static str| {
        let log = log.clone();
        move || log.borrow_mut().push(name)
    };
    let (check, prepare, idle) = (
        Check::new(&lp).unwrap(),
        Prepare::new(&lp).unwrap(),
        Idle::new(&lp).unwrap(),
    );
    let p = push("check");
    check.start(move |_| p()).unwrap();
    let p = push("prepare");
    prepare.start(move |_| p()).unwrap();
    let p = push("idle");
    idle.start(move |_| p()).unwrap();
    let timer = Timer::new(&lp).unwrap();
    let p = push("timer");
    timer
        .start(Duration::ZERO, Duration::ZERO, move |_| p())
        .unwrap();
    // Two iterations, then stop from a check callback.
    let stopper = Check::new(&lp).unwrap();
    let mut n = 0;
    stopper
        .start(move |c| {
            n += 1;
            if n == 2 {
                c.loop_handle().stop();
            }
        })
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        *log.borrow(),
        [
            "timer", "idle", "prepare", "check", "idle", "prepare", "check"
        ]
    );
    drop((check, prepare, idle, timer, stopper));
    support::finish(lp);
}

#[test]
fn stop_and_replace_callbacks() {
    let lp = Loop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::<&str>::new()));
    let idle = Idle::new(&lp).unwrap();
    let l = log.clone();
    idle.start(move |h| {
        l.borrow_mut().push("one");
        let l2 = l.clone();
        // Replace the running callback with another one.
        h.start(move |h| {
            l2.borrow_mut().push("two");
            h.stop().unwrap();
        })
        .unwrap();
    })
    .unwrap();
    assert!(idle.is_active());
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*log.borrow(), ["one", "two"]);
    assert!(!idle.is_active());
    idle.close();
    assert_eq!(idle.start(|_| {}), Err(Error::CLOSED));
    support::finish(lp);
}

#[test]
fn each_kind_closes_in_its_own_callback() {
    let lp = Loop::new().unwrap();
    let p = Prepare::new(&lp).unwrap();
    p.start(|h| h.close()).unwrap();
    let c = Check::new(&lp).unwrap();
    c.start(|h| h.close()).unwrap();
    let i = Idle::new(&lp).unwrap();
    i.start(|h| h.close()).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert!(p.is_closing() && c.is_closing() && i.is_closing());
    support::finish(lp);
}
