//! Signal handles. Signals are process-wide, so this binary runs its cases one at a time from
//! a single test.

mod support;

use rsuv::{Error, Loop, RunMode, Signal};
use std::cell::RefCell;
use std::rc::Rc;

fn raise(sig: i32) {
    // SAFETY: every signal raised here is watched by a started handle.
    assert_eq!(unsafe { libc::raise(sig) }, 0);
}

#[test]
fn signals() {
    raise_sigusr1_reaches_every_handle();
    oneshot_stops_after_the_first_signal();
    stop_close_and_bad_numbers();
}

fn raise_sigusr1_reaches_every_handle() {
    let lp = Loop::new().unwrap();
    let dog = support::watchdog(&lp, 30);
    let log = Rc::new(RefCell::new(Vec::new()));
    let handles: Vec<Signal> = (0..3).map(|_| Signal::new(&lp).unwrap()).collect();
    for (i, h) in handles.iter().enumerate() {
        let l = log.clone();
        h.start(libc::SIGUSR1, move |s, signum| {
            l.borrow_mut().push((i, signum));
            s.close();
        })
        .unwrap();
        assert_eq!(h.signum(), libc::SIGUSR1);
    }
    raise(libc::SIGUSR1);
    lp.run(RunMode::Default).unwrap();
    let mut seen = log.borrow().clone();
    seen.sort();
    assert_eq!(
        seen,
        [(0, libc::SIGUSR1), (1, libc::SIGUSR1), (2, libc::SIGUSR1)]
    );
    drop((handles, dog));
    support::finish(lp);
}

fn oneshot_stops_after_the_first_signal() {
    let lp = Loop::new().unwrap();
    let dog = support::watchdog(&lp, 30);
    let count = Rc::new(RefCell::new(0));
    // A persistent handle keeps SIGUSR2 caught while the oneshot one is stopped.
    let keep = Signal::new(&lp).unwrap();
    keep.start(libc::SIGUSR2, |_, _| {}).unwrap();
    keep.unref();
    let once = Signal::new(&lp).unwrap();
    let c = count.clone();
    once.start_oneshot(libc::SIGUSR2, move |_, _| *c.borrow_mut() += 1)
        .unwrap();
    raise(libc::SIGUSR2);
    lp.run(RunMode::Default).unwrap();
    assert!(!once.is_active(), "a oneshot handle stops itself");
    raise(libc::SIGUSR2);
    lp.run(RunMode::NoWait).unwrap();
    assert_eq!(*count.borrow(), 1);
    drop((keep, once, dog));
    support::finish(lp);
}

fn stop_close_and_bad_numbers() {
    let lp = Loop::new().unwrap();
    let s = Signal::new(&lp).unwrap();
    assert_eq!(s.start(0, |_, _| {}), Err(Error::EINVAL));
    assert_eq!(s.start(libc::SIGKILL, |_, _| {}), Err(Error::EINVAL));
    s.start(libc::SIGUSR1, |_, _| {}).unwrap();
    assert!(s.is_active());
    s.stop().unwrap();
    assert!(!s.is_active());
    assert_eq!(s.signum(), 0);
    s.close();
    assert_eq!(s.start(libc::SIGUSR1, |_, _| {}), Err(Error::CLOSED));
    assert_eq!(
        s.start_oneshot(libc::SIGUSR1, |_, _| {}),
        Err(Error::CLOSED)
    );
    support::finish(lp);
}
