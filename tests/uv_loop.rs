//! Loop: run modes, clock, backend, stop, re-entrancy, teardown with open handles, panics.

mod support;

use rsuv::{Error, Idle, Loop, RunMode, Timer};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

#[test]
fn links_the_vendored_libuv() {
    // libuv-sys2 =1.53.1 bundles libuv 1.53.0; a system libuv would be another version.
    assert_eq!(rsuv::version(), (1, 53, 0));
    assert_eq!(rsuv::version_string(), "1.53.0");
}

#[test]
fn empty_loop_runs_and_closes() {
    let lp = Loop::new().unwrap();
    assert!(!lp.alive());
    assert!(!lp.run(RunMode::NoWait).unwrap());
    assert!(!lp.run(RunMode::Once).unwrap());
    support::finish(lp);
}

#[test]
fn clock_and_backend() {
    let lp = Loop::new().unwrap();
    let before = lp.now();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(lp.now(), before, "now() is cached until update_time");
    lp.update_time();
    assert!(lp.now() >= before + 20);
    assert!(lp.backend_fd().unwrap() >= 0);
    assert_eq!(
        lp.backend_timeout(),
        Some(Duration::ZERO),
        "nothing active: no wait"
    );
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::from_secs(5), Duration::ZERO, |_| {})
        .unwrap();
    // libuv answers 0 until a first iteration has registered its internal watchers.
    assert!(lp.run(RunMode::NoWait).unwrap());
    let wait = lp.backend_timeout().unwrap();
    assert!(
        wait > Duration::from_secs(4) && wait <= Duration::from_secs(5),
        "{wait:?}"
    );
    drop(t);
    support::finish(lp);
}

#[test]
fn run_once_and_nowait_report_alive() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::from_millis(30), Duration::ZERO, |_| {})
        .unwrap();
    assert!(lp.alive());
    assert!(
        lp.run(RunMode::NoWait).unwrap(),
        "timer not due yet: still alive"
    );
    assert!(
        !lp.run(RunMode::Once).unwrap(),
        "the timer fired: nothing left"
    );
    drop(t);
    support::finish(lp);
}

#[test]
fn stop_from_a_callback_returns_from_run() {
    let lp = Loop::new().unwrap();
    let count = Rc::new(Cell::new(0));
    let idle = Idle::new(&lp).unwrap();
    let c = count.clone();
    idle.start(move |h| {
        c.set(c.get() + 1);
        h.loop_handle().stop();
    })
    .unwrap();
    assert!(
        lp.run(RunMode::Default).unwrap(),
        "stopped while the idle handle is active"
    );
    assert_eq!(count.get(), 1);
    idle.close();
    support::finish(lp);
}

#[test]
fn run_inside_a_callback_is_refused() {
    let lp = Rc::new(Loop::new().unwrap());
    let seen = Rc::new(RefCell::new(None));
    let t = Timer::new(&lp).unwrap();
    let (lp2, seen2) = (lp.clone(), seen.clone());
    t.start(Duration::ZERO, Duration::ZERO, move |_| {
        *seen2.borrow_mut() = Some(lp2.run(RunMode::NoWait));
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*seen.borrow(), Some(Err(Error::REENTRANT)));
    drop(t);
    lp.run(RunMode::Default).unwrap(); // the close callback drops the closure and its clone
    let lp = Rc::try_unwrap(lp)
        .ok()
        .expect("the timer closure was dropped on close");
    support::finish(lp);
}

#[test]
fn dropping_the_loop_closes_open_handles() {
    let lp = Loop::new().unwrap();
    let closed = Rc::new(Cell::new(0));
    // An active repeating timer whose closure owns its own handle: a cycle that only the
    // loop teardown can break (the leak check proves it is broken).
    let slot = Rc::new(RefCell::new(None::<Timer>));
    let timer = Timer::new(&lp).unwrap();
    let s2 = slot.clone();
    timer
        .start(
            Duration::from_secs(60),
            Duration::from_secs(60),
            move |_| drop(s2.take()),
        )
        .unwrap();
    let c = closed.clone();
    timer.close_with(move || c.set(c.get() + 1)).unwrap();
    let timer = Timer::new(&lp).unwrap();
    let s2 = slot.clone();
    timer
        .start(Duration::from_secs(60), Duration::ZERO, move |_| {
            drop(s2.take())
        })
        .unwrap();
    *slot.borrow_mut() = Some(timer);
    drop(slot);
    let idle = Idle::new(&lp).unwrap();
    idle.start(|_| {}).unwrap();
    // A handle kept past the loop: still a value, but every call says CLOSED.
    let survivor = Timer::new(&lp).unwrap();
    let handle = lp.handle();
    drop(lp);
    assert_eq!(closed.get(), 1, "the close callback ran during teardown");
    assert!(handle.is_closed());
    assert!(survivor.is_closing() && idle.is_closing());
    assert!(!idle.is_active() && !idle.has_ref());
    assert_eq!(
        survivor.start(Duration::ZERO, Duration::ZERO, |_| {}),
        Err(Error::CLOSED)
    );
    assert_eq!(idle.stop(), Err(Error::CLOSED));
    assert_eq!(Timer::new(&handle).err(), Some(Error::CLOSED));
    assert!(!handle.alive());
    handle.stop();
    handle.update_time();
    assert_eq!(handle.backend_fd(), Err(Error::CLOSED));
}

#[test]
fn close_reports_ebusy_and_still_cleans_up() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::from_secs(60), Duration::ZERO, |_| {})
        .unwrap();
    assert_eq!(lp.close(), Err(Error::EBUSY));
    assert!(
        t.is_closing(),
        "close() closed what was left before returning"
    );
}

#[test]
fn a_panic_in_a_callback_comes_out_of_run() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::ZERO, Duration::ZERO, |_| panic!("boom in timer"))
        .unwrap();
    let other_ran = Rc::new(Cell::new(false));
    let result = panic::catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default)));
    let payload = result.expect_err("the panic is resumed from run()");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in timer"));
    // The loop is still usable afterwards.
    let t2 = Timer::new(&lp).unwrap();
    let o = other_ran.clone();
    t2.start(Duration::ZERO, Duration::ZERO, move |_| o.set(true))
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert!(other_ran.get());
    drop((t, t2));
    support::finish(lp);
}

#[test]
fn a_panic_in_a_close_callback_during_teardown_is_resumed_from_drop() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.close_with(|| panic!("boom in close")).unwrap();
    let payload = panic::catch_unwind(AssertUnwindSafe(move || drop(lp))).expect_err("resumed");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in close"));
    assert!(t.is_closing());
}

#[test]
fn close_runs_the_close_callbacks_still_pending() {
    let lp = Loop::new().unwrap();
    let closed = Rc::new(Cell::new(false));
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::from_secs(60), Duration::ZERO, |_| {})
        .unwrap();
    let c = closed.clone();
    t.close_with(move || c.set(true)).unwrap();
    lp.close()
        .expect("every handle was closing: the loop closes");
    assert!(closed.get());
}

// ---------------------------------------------------------------- a loop someone else owns

#[test]
fn a_foreign_loop_runs_handles_and_its_teardown_leaves_the_owners_alone() {
    use rsuv::Udp;
    let owner = Loop::new().unwrap();
    let owners_ticks = Rc::new(Cell::new(0u32));
    let owners_timer = Timer::new(&owner).unwrap();
    let t = owners_ticks.clone();
    owners_timer
        .start(
            Duration::from_millis(1),
            Duration::from_millis(1),
            move |_| t.set(t.get() + 1),
        )
        .unwrap();
    // SAFETY: the owner's loop outlives `guest`, is used on this thread, and is not running
    // while `guest` runs or is dropped.
    let guest = unsafe { Loop::from_raw(owner.as_raw().unwrap()) }.unwrap();
    assert!(guest.is_foreign() && !owner.is_foreign());
    // A datagram to itself (reads land in the guest's read buffer) and a timer, on the guest.
    let udp = Udp::new(&guest).unwrap();
    udp.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let to = udp.sockname().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    udp.recv_start(move |u, d| {
        g.borrow_mut().extend_from_slice(d.unwrap().data);
        u.recv_stop().unwrap();
    })
    .unwrap();
    udp.send(b"via guest".to_vec(), Some(to), |_, r| r.unwrap())
        .unwrap();
    // Stops the guest's run once the datagram is in and the owner's timer ticked thrice.
    let guest_timer = Timer::new(&guest).unwrap();
    let (g, ticks) = (got.clone(), owners_ticks.clone());
    guest_timer
        .start(
            Duration::from_millis(2),
            Duration::from_millis(2),
            move |t| {
                if !g.borrow().is_empty() && ticks.get() >= 3 {
                    t.loop_handle().stop()
                }
            },
        )
        .unwrap();
    guest.run(RunMode::Default).unwrap();
    assert_eq!(&*got.borrow(), b"via guest");
    assert!(
        owners_ticks.get() >= 3,
        "the owner's timer runs while the guest runs"
    );
    // Handles of the guest, left open: closed by its drop; the owner's timer is untouched.
    drop(guest);
    assert!(owners_timer.is_active());
    let before = owners_ticks.get();
    owners_timer.stop().unwrap();
    assert!(owners_ticks.get() >= before);
    // Nothing of the guest's is left: the owner closes without EBUSY.
    drop((owners_timer, guest_timer, udp));
    owner.close().unwrap();
}

#[test]
fn a_foreign_loop_refuses_a_null_pointer() {
    // SAFETY: a null pointer is checked before any use.
    let r = unsafe { Loop::from_raw(std::ptr::null_mut()) };
    assert_eq!(r.err(), Some(Error::EINVAL));
}
