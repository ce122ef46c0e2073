//! Timer: order, repeat, again, due_in, and re-entrancy (close, restart, drop from callbacks).

mod support;

use rsuv::{Error, Loop, RunMode, Timer};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

type Log = Rc<RefCell<Vec<&'static str>>>;

fn logger(log: &Log, name: &'static str) -> impl FnMut(&Timer) + 'static {
    let log = log.clone();
    move |_| log.borrow_mut().push(name)
}

#[test]
fn timers_fire_in_timeout_order_then_start_order() {
    let lp = Loop::new().unwrap();
    let log: Log = Rc::default();
    let timers: Vec<Timer> = (0..4).map(|_| Timer::new(&lp).unwrap()).collect();
    timers[0]
        .start(ms(30), ms(0), logger(&log, "30ms"))
        .unwrap();
    timers[1]
        .start(ms(10), ms(0), logger(&log, "10ms-a"))
        .unwrap();
    timers[2]
        .start(ms(10), ms(0), logger(&log, "10ms-b"))
        .unwrap();
    timers[3].start(ms(0), ms(0), logger(&log, "0ms")).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*log.borrow(), ["0ms", "10ms-a", "10ms-b", "30ms"]);
    assert!(timers.iter().all(|t| !t.is_active() && !t.is_closing()));
    drop(timers);
    support::finish(lp);
}

#[test]
fn repeat_until_stopped_and_loop_time_advances() {
    let lp = Loop::new().unwrap();
    let start = lp.now();
    let fired = Rc::new(RefCell::new(Vec::new()));
    let t = Timer::new(&lp).unwrap();
    let f = fired.clone();
    t.start(ms(5), ms(5), move |t| {
        f.borrow_mut().push(t.loop_handle().now());
        if f.borrow().len() == 5 {
            t.stop().unwrap();
        }
    })
    .unwrap();
    assert_eq!(t.repeat(), ms(5));
    lp.run(RunMode::Default).unwrap();
    let fired = fired.borrow();
    assert_eq!(fired.len(), 5);
    assert!(fired.windows(2).all(|w| w[1] >= w[0] + 5), "{fired:?}");
    assert!(fired[4] >= start + 25);
    assert!(!t.is_active());
    drop(t);
    support::finish(lp);
}

#[test]
fn again_set_repeat_and_due_in() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    assert_eq!(t.again(), Err(Error::EINVAL), "again() before any start");
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    t.start(ms(1000), ms(0), move |t| {
        c.set(c.get() + 1);
        if c.get() == 3 {
            t.set_repeat(ms(0)).unwrap();
        }
    })
    .unwrap();
    assert!(t.is_active());
    let due = t.due_in();
    assert!(due > ms(900) && due <= ms(1000), "{due:?}");
    // Re-arm with a short repeat: again() uses the repeat as the timeout.
    t.set_repeat(ms(2)).unwrap();
    t.again().unwrap();
    assert!(t.due_in() <= ms(2));
    lp.run(RunMode::Default).unwrap();
    // libuv re-arms a repeating timer before calling back, so set_repeat(0) in the third call
    // applies after the already-scheduled fourth one.
    assert_eq!(count.get(), 4);
    assert_eq!(t.due_in(), Duration::ZERO);
    drop(t);
    support::finish(lp);
}

#[test]
fn sub_millisecond_timeouts_round_up() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::from_micros(1500), Duration::from_micros(1), |t| {
        t.close()
    })
    .unwrap();
    assert_eq!(t.repeat(), ms(1));
    assert_eq!(t.due_in(), ms(2));
    support::finish(lp);
}

#[test]
fn close_inside_own_callback() {
    let lp = Loop::new().unwrap();
    let calls = Rc::new(Cell::new(0));
    let t = Timer::new(&lp).unwrap();
    let c = calls.clone();
    t.start(ms(1), ms(1), move |t| {
        c.set(c.get() + 1);
        t.close();
        t.close(); // idempotent
        assert!(t.is_closing());
        assert_eq!(t.stop(), Err(Error::CLOSED));
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        calls.get(),
        1,
        "a closed repeating timer does not fire again"
    );
    support::finish(lp);
}

#[test]
fn restart_inside_own_callback_with_a_new_closure() {
    let lp = Loop::new().unwrap();
    let log: Log = Rc::default();
    let t = Timer::new(&lp).unwrap();
    let l = log.clone();
    // The first closure replaces itself while running; it must not be freed mid-call.
    let owned_by_first = String::from("first closure state");
    t.start(ms(1), ms(0), move |t| {
        l.borrow_mut().push("first");
        let l2 = l.clone();
        t.start(ms(1), ms(0), move |_| l2.borrow_mut().push("second"))
            .unwrap();
        assert_eq!(
            owned_by_first, "first closure state",
            "still alive after restart"
        );
        l.borrow_mut().push("first-end");
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*log.borrow(), ["first", "first-end", "second"]);
    drop(t);
    support::finish(lp);
}

#[test]
fn restart_same_closure_with_again_inside_callback() {
    let lp = Loop::new().unwrap();
    let count = Rc::new(Cell::new(0));
    let t = Timer::new(&lp).unwrap();
    let c = count.clone();
    t.start(ms(1), ms(1), move |t| {
        c.set(c.get() + 1);
        t.stop().unwrap();
        if c.get() < 4 {
            t.again().unwrap();
        }
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(count.get(), 4);
    drop(t);
    support::finish(lp);
}

#[test]
fn drop_own_handle_inside_callback() {
    let lp = Loop::new().unwrap();
    let slot = Rc::new(RefCell::new(None::<Timer>));
    let calls = Rc::new(Cell::new(0));
    let t = Timer::new(&lp).unwrap();
    let (s, c) = (slot.clone(), calls.clone());
    t.start(ms(1), ms(1), move |me| {
        c.set(c.get() + 1);
        drop(s.borrow_mut().take()); // the owning value goes away mid-callback
        assert!(me.is_closing());
    })
    .unwrap();
    *slot.borrow_mut() = Some(t);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(calls.get(), 1);
    assert!(slot.borrow().is_none());
    support::finish(lp);
}

#[test]
fn drop_another_handle_inside_a_callback() {
    let lp = Loop::new().unwrap();
    let log: Log = Rc::default();
    let victim = Timer::new(&lp).unwrap();
    // Due at the same time as the killer, but started later: it would fire right after it.
    let killer = Timer::new(&lp).unwrap();
    let slot = Rc::new(RefCell::new(None::<Timer>));
    let (s, l) = (slot.clone(), log.clone());
    killer
        .start(ms(5), ms(0), move |_| {
            l.borrow_mut().push("killer");
            drop(s.borrow_mut().take());
        })
        .unwrap();
    victim.start(ms(5), ms(0), logger(&log, "victim")).unwrap();
    *slot.borrow_mut() = Some(victim);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        *log.borrow(),
        ["killer"],
        "a handle closed earlier in the same iteration never fires"
    );
    drop(killer);
    support::finish(lp);
}

#[test]
fn close_a_handle_that_was_never_started() {
    let lp = Loop::new().unwrap();
    let closed = Rc::new(Cell::new(0));
    let t = Timer::new(&lp).unwrap();
    assert!(!t.is_active() && !t.is_closing());
    let c = closed.clone();
    t.close_with(move || c.set(c.get() + 1)).unwrap();
    let c = closed.clone();
    assert_eq!(
        t.close_with(move || c.set(c.get() + 100)),
        Err(Error::CLOSED),
        "double close"
    );
    t.close();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(closed.get(), 1, "the close callback runs exactly once");
    drop(t);
    support::finish(lp);
}

#[test]
fn methods_on_a_closed_timer_say_closed() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.close();
    assert_eq!(t.start(ms(1), ms(0), |_| {}), Err(Error::CLOSED));
    assert_eq!(t.again(), Err(Error::CLOSED));
    assert_eq!(t.set_repeat(ms(1)), Err(Error::CLOSED));
    lp.run(RunMode::Default).unwrap();
    assert_eq!(t.stop(), Err(Error::CLOSED));
    assert_eq!(t.repeat(), Duration::ZERO);
    assert!(!t.is_active() && !t.has_ref());
    t.ref_();
    t.unref();
    support::finish(lp);
}

#[test]
fn unref_lets_the_loop_finish() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    t.start(Duration::from_secs(60), ms(0), move |_| f.set(true))
        .unwrap();
    assert!(t.has_ref());
    t.unref();
    assert!(!t.has_ref() && t.is_active());
    assert!(
        !lp.run(RunMode::Default).unwrap(),
        "an unreferenced timer does not keep the loop alive"
    );
    assert!(!fired.get());
    t.ref_();
    assert!(lp.alive());
    drop(t);
    support::finish(lp);
}

#[test]
fn a_panicking_timer_does_not_fire_again() {
    let lp = Loop::new().unwrap();
    let calls = Rc::new(Cell::new(0));
    let t = Timer::new(&lp).unwrap();
    let c = calls.clone();
    t.start(ms(1), ms(1), move |_| {
        c.set(c.get() + 1);
        panic!("timer panic");
    })
    .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    assert!(r.is_err());
    assert_eq!(calls.get(), 1);
    t.close();
    support::finish(lp);
}

#[test]
fn a_detached_timer_lives_until_it_closes_itself() {
    let lp = Loop::new().unwrap();
    let calls = Rc::new(Cell::new(0));
    let t = Timer::new(&lp).unwrap();
    let c = calls.clone();
    t.start(ms(1), ms(1), move |t| {
        c.set(c.get() + 1);
        if c.get() == 3 {
            t.close();
        }
    })
    .unwrap();
    t.detach(); // not closed by this drop of the owner
    lp.run(RunMode::Default).unwrap();
    assert_eq!(calls.get(), 3);
    support::finish(lp);
}

#[test]
fn a_detached_timer_is_closed_by_the_loop_teardown() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::from_secs(60), ms(0), |_| {}).unwrap();
    t.detach();
    drop(lp); // closes and frees it: the leak check would see it otherwise
}
