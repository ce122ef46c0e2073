//! Poll on a socketpair: readable, writable, disconnect, ownership of the descriptor, misuse.

mod support;

use rsuv::{Error, Loop, Poll, PollEvents, RunMode};
use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;

#[test]
fn readable_after_the_peer_writes_then_disconnect() {
    let lp = Loop::new().unwrap();
    let dog = support::watchdog(&lp, 30);
    let (a, mut b) = UnixStream::pair().unwrap();
    let poll = Poll::new(&lp, a.into()).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let events_seen = Rc::new(RefCell::new(Vec::new()));
    let (g, e) = (got.clone(), events_seen.clone());
    poll.start(
        PollEvents::READABLE | PollEvents::DISCONNECT,
        move |p, ev| {
            let ev = ev.unwrap();
            e.borrow_mut().push(ev);
            // Read through a borrowed view of the polled descriptor.
            // SAFETY: the handle owns the descriptor and keeps it open; ManuallyDrop avoids
            // closing it here.
            let mut s = std::mem::ManuallyDrop::new(unsafe { UnixStream::from_raw_fd(p.fd()) });
            let mut buf = [0u8; 64];
            match s.read(&mut buf) {
                Ok(0) => p.close(),
                Ok(n) => g.borrow_mut().extend_from_slice(&buf[..n]),
                Err(err) => panic!("read: {err}"),
            }
        },
    )
    .unwrap();
    b.write_all(b"hello").unwrap();
    drop(b); // then the peer goes away
    lp.run(RunMode::Default).unwrap();
    assert_eq!(&*got.borrow(), b"hello");
    let seen = events_seen.borrow();
    assert!(seen[0].contains(PollEvents::READABLE));
    assert!(
        seen.iter().any(|e| e.contains(PollEvents::DISCONNECT)),
        "{seen:?}"
    );
    drop((poll, dog));
    support::finish(lp);
}

#[test]
fn writable_at_once_and_stop() {
    let lp = Loop::new().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    let poll = Poll::new(&lp, a.into()).unwrap();
    let n = Rc::new(RefCell::new(0));
    let c = n.clone();
    poll.start(PollEvents::WRITABLE, move |p, ev| {
        assert_eq!(ev, Ok(PollEvents::WRITABLE));
        *c.borrow_mut() += 1;
        p.stop().unwrap();
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*n.borrow(), 1);
    assert!(!poll.is_active());
    drop(poll);
    support::finish(lp);
}

#[test]
fn the_handle_closes_its_descriptor_after_closing() {
    let lp = Loop::new().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let poll = Poll::new(&lp, a.into()).unwrap();
    poll.start(PollEvents::READABLE, |_, _| {}).unwrap();
    drop(poll);
    lp.run(RunMode::Default).unwrap();
    // The peer sees end of file: the owned descriptor was closed after the handle.
    let mut buf = [0u8; 1];
    assert_eq!(b.read(&mut buf).unwrap(), 0);
    support::finish(lp);
}

#[test]
fn misuse_gives_errors() {
    let lp = Loop::new().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    let raw = a.as_raw_fd();
    let poll = Poll::new(&lp, a.into()).unwrap();
    // A second handle on the same descriptor and loop.
    // SAFETY: `poll` keeps `raw` open for as long as this attempt could use it.
    let second = unsafe { Poll::new_borrowed(&lp, raw) };
    assert_eq!(second.err(), Some(Error::EEXIST));
    assert_eq!(
        poll.start(PollEvents::NONE, |_, _| {}).err(),
        Some(Error::EINVAL)
    );
    // A regular file cannot be watched by epoll.
    let file = std::fs::File::open("/proc/self/exe").unwrap();
    assert_eq!(
        Poll::new(&lp, OwnedFd::from(file)).err(),
        Some(Error::EPERM)
    );
    // A descriptor number that is not open.
    // SAFETY: the call fails before anything could watch the descriptor.
    let bad = unsafe { Poll::new_borrowed(&lp, 1_000_000) };
    assert_eq!(bad.err(), Some(Error::EBADF));
    poll.close();
    assert_eq!(
        poll.start(PollEvents::READABLE, |_, _| {}).err(),
        Some(Error::CLOSED)
    );
    assert_eq!(poll.stop(), Err(Error::CLOSED));
    support::finish(lp);
}
