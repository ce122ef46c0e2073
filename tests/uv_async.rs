//! Async: wake-ups from other threads, coalescing, no lost wake-up, senders outliving handles.

mod support;

use rsuv::{Async, Error, Loop, RunMode, Timer};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

const THREADS: usize = 8;
const PER_THREAD: usize = 2_000;

#[test]
fn eight_threads_coalesce_without_losing_a_wake_up() {
    let lp = Loop::new().unwrap();
    let dog = support::watchdog(&lp, 60);
    let sent = Arc::new(AtomicUsize::new(0));
    let calls = Rc::new(Cell::new(0usize));
    let (s, c) = (sent.clone(), calls.clone());
    let wake = Async::new(&lp, move |a| {
        c.set(c.get() + 1);
        // Every increment happens before its send, so once the last send is seen the count
        // is complete; if a wake-up were lost the loop would wait and the watchdog fire.
        if s.load(Ordering::SeqCst) == THREADS * PER_THREAD {
            a.close();
        }
    })
    .unwrap();
    // The threads start sending only once the loop is running.
    let start = Arc::new(Barrier::new(THREADS + 1));
    let go = Timer::new(&lp).unwrap();
    let s = start.clone();
    go.start(Duration::ZERO, Duration::ZERO, move |_| {
        s.wait();
    })
    .unwrap();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (sender, sent, start) = (wake.sender(), sent.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for i in 0..PER_THREAD {
                    sent.fetch_add(1, Ordering::SeqCst);
                    sender.send().unwrap();
                    if i % 100 == 0 {
                        // Interleave with the loop so that sends also land mid-callback.
                        thread::sleep(Duration::from_micros(50));
                    }
                }
            })
        })
        .collect();
    lp.run(RunMode::Default).unwrap();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let calls = calls.get();
    assert!(
        (1..=THREADS * PER_THREAD).contains(&calls),
        "{calls} callbacks"
    );
    eprintln!(
        "{} sends coalesced into {calls} callbacks",
        THREADS * PER_THREAD
    );
    drop((wake, go, dog));
    support::finish(lp);
}

#[test]
fn send_from_the_loop_thread() {
    let lp = Loop::new().unwrap();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let wake = Async::new(&lp, move |a| {
        c.set(c.get() + 1);
        a.close();
    })
    .unwrap();
    wake.send().unwrap();
    wake.send().unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        calls.get(),
        1,
        "two sends before the loop ran: one callback"
    );
    assert_eq!(wake.send(), Err(Error::CLOSED));
    support::finish(lp);
}

#[test]
fn a_sender_outliving_its_handle_and_loop_says_closed() {
    let lp = Loop::new().unwrap();
    let wake = Async::new(&lp, |_| {}).unwrap();
    let sender = wake.sender();
    assert!(
        wake.is_active(),
        "an async handle keeps the loop alive until closed"
    );
    drop(wake);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(sender.send(), Err(Error::CLOSED));
    support::finish(lp);
    let t = thread::spawn(move || sender.send());
    assert_eq!(t.join().unwrap(), Err(Error::CLOSED));
}

#[test]
fn threads_sending_while_the_handle_closes() {
    // Senders race with close and loop teardown: each send either wakes or says CLOSED, and
    // never touches freed memory (the leak/memory check runs this under valgrind).
    for _ in 0..20 {
        let lp = Loop::new().unwrap();
        let wake = Async::new(&lp, |a| a.close()).unwrap();
        let senders: Vec<_> = (0..4)
            .map(|_| {
                let s = wake.sender();
                thread::spawn(move || {
                    for _ in 0..200 {
                        match s.send() {
                            Ok(()) => {}
                            Err(e) => return assert_eq!(e, Error::CLOSED),
                        }
                    }
                })
            })
            .collect();
        lp.run(RunMode::Default).unwrap();
        drop(wake);
        drop(lp);
        senders.into_iter().for_each(|t| t.join().unwrap());
    }
}
