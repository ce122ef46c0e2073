//! FdWatch on socketpairs: level- and edge-triggered registrations, switching between them,
//! descriptors closed while watched.

mod support;

use rsuv::{FdWatch, Loop, PollEvents, RunMode, Timer};
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

/// Held by each test: the tests of one file share a process, and the reuse test needs the
/// descriptor numbers no other thread takes meanwhile.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `lp` for about `ms` milliseconds (the watcher alone does not keep it alive).
fn run_for(lp: &Loop, ms: u64) {
    let t = Timer::new(lp).unwrap();
    t.start(Duration::from_millis(ms), Duration::ZERO, |t| t.close())
        .unwrap();
    t.detach();
    lp.run(RunMode::Default).unwrap();
}

fn counting_watch(lp: &Loop) -> (FdWatch, Rc<Cell<u32>>) {
    let n = Rc::new(Cell::new(0));
    let c = n.clone();
    let w = FdWatch::new(&lp.handle(), move |_, ev| {
        assert!(ev.contains(PollEvents::READABLE));
        c.set(c.get() + 1);
    })
    .unwrap();
    (w, n)
}

#[test]
fn level_triggered_reports_unread_data_every_iteration() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lp = Loop::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let (w, n) = counting_watch(&lp);
    w.set(a.as_raw_fd(), PollEvents::READABLE).unwrap();
    assert!(!w.is_edge(a.as_raw_fd()));
    b.write_all(b"x").unwrap();
    run_for(&lp, 10); // every iteration reports the unread byte (a busy loop, briefly)
    assert!(n.get() >= 5, "level-triggered: {} reports", n.get());
    drop(w);
    lp.run(RunMode::Default).unwrap();
}

#[test]
fn edge_triggered_reports_each_arrival_once() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lp = Loop::new().unwrap();
    let _dog = support::watchdog(&lp, 30);
    let (a, mut b) = UnixStream::pair().unwrap();
    let (w, n) = counting_watch(&lp);
    w.set_edge(a.as_raw_fd(), PollEvents::READABLE).unwrap();
    assert!(w.is_edge(a.as_raw_fd()));
    assert_eq!(w.get(a.as_raw_fd()), PollEvents::READABLE);
    b.write_all(b"x").unwrap();
    run_for(&lp, 20); // nothing reads: still one report
    assert_eq!(n.get(), 1);
    b.write_all(b"y").unwrap();
    run_for(&lp, 20);
    assert_eq!(n.get(), 2, "new data is a new edge");
    // Back to level-triggered: the unread bytes are reported again and again.
    w.set(a.as_raw_fd(), PollEvents::READABLE).unwrap();
    assert!(!w.is_edge(a.as_raw_fd()));
    run_for(&lp, 10);
    assert!(n.get() >= 5, "level-triggered again: {} reports", n.get());
    w.close();
    lp.run(RunMode::Default).unwrap();
}

#[test]
fn a_descriptor_closed_while_watched_drops_out_and_its_number_can_be_watched_again() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lp = Loop::new().unwrap();
    let _dog = support::watchdog(&lp, 30);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let w = FdWatch::new(&lp.handle(), move |fd, _| s.borrow_mut().push(fd)).unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    w.set_edge(fd, PollEvents::READABLE).unwrap();
    drop((a, b)); // closed under the watch: the kernel drops it from the set
    run_for(&lp, 10);
    // A new socket under the same number: registering it again is not refused, and it is
    // the new one whose data is reported.
    let (c, mut d) = UnixStream::pair().unwrap();
    // Descriptors are allocated lowest first: the pair's numbers come back.
    let (reader, writer) = if c.as_raw_fd() == fd {
        (&c, &mut d)
    } else {
        assert_eq!(d.as_raw_fd(), fd, "the closed number was not reused");
        (&d, &mut { c.try_clone().unwrap() })
    };
    w.set_edge(reader.as_raw_fd(), PollEvents::READABLE)
        .unwrap();
    writer.write_all(b"z").unwrap();
    run_for(&lp, 20);
    assert_eq!(*seen.borrow(), vec![fd]);
    w.close();
    lp.run(RunMode::Default).unwrap();
}
