//! The pooled write requests of a stream: bursts beyond what the pool keeps, vectored writes of
//! any length (their spare vectors reused), buffers of every kind handed back or dropped once
//! written, callbacks in submission order, and the pool still working after a burst drained.

mod support;

use rsuv::{BufHome, Loop, RunMode, Tcp, WriteBuf};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

/// Takes back recycled buffers, counting them.
struct Home(Cell<usize>);

impl BufHome for Home {
    fn take_back(&self, buf: Vec<u8>) {
        assert!(!buf.is_empty());
        self.0.set(self.0.get() + 1);
    }
}

/// The buffers of write `i`: 1, 2, 17 or 40 of them (17 and 40 are beyond the 16 built on the
/// stack), of every kind, each naming the write and its place.
fn bufs_of(i: usize, home: &Weak<dyn BufHome>, want: &mut Vec<u8>) -> Vec<WriteBuf> {
    let n = [1, 2, 17, 40][i % 4];
    (0..n)
        .map(|j| {
            let bytes = format!("<{i}.{j}>").into_bytes();
            want.extend_from_slice(&bytes);
            match (i + j) % 5 {
                0 => WriteBuf::Vec(bytes),
                1 => WriteBuf::Boxed(bytes.into_boxed_slice()),
                2 => WriteBuf::Shared(Rc::from(bytes)),
                3 => WriteBuf::recycled(bytes, home.clone()),
                _ => WriteBuf::other(bytes),
            }
        })
        .collect()
}

/// Queues `writes` writes at once (more than the pool keeps), with callbacks that must run in
/// order, and reads everything on the peer.
fn burst(lp: &Loop, client: &Tcp, peer: &Tcp, writes: usize, round: usize) {
    let home = Rc::new(Home(Cell::new(0)));
    let weak: Weak<dyn BufHome> = Rc::downgrade(&home) as Weak<dyn BufHome>;
    let mut want = Vec::new();
    let done = Rc::new(Cell::new(0));
    let mut recycled = 0;
    for i in 0..writes {
        let bufs = bufs_of(i + round, &weak, &mut want);
        recycled += bufs
            .iter()
            .filter(|b| matches!(b, WriteBuf::Recycled(_)))
            .count();
        let d = done.clone();
        let cb = move |_: &Tcp, r: rsuv::Result<()>| {
            r.unwrap();
            assert_eq!(d.get(), i, "write callbacks run in submission order");
            d.set(i + 1);
        };
        if i % 3 == 0 {
            client.write_vectored(bufs, cb).unwrap();
        } else {
            // A single static write between the vectored ones.
            want.extend_from_slice(b"|");
            client.write_vectored(bufs, |_, r| r.unwrap()).unwrap();
            client.write(b"|", cb).unwrap();
        }
    }
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let total = want.len();
    peer.read_start(move |p, r| {
        g.borrow_mut().extend_from_slice(r.unwrap());
        if g.borrow().len() >= total {
            p.read_stop().unwrap();
        }
    })
    .unwrap();
    let finished = || done.get() == writes && got.borrow().len() >= total;
    while !finished() {
        let alive = lp.run(RunMode::Once).unwrap();
        assert!(alive || finished(), "loop ran dry");
    }
    assert_eq!(got.borrow().len(), total);
    assert!(*got.borrow() == want, "the peer got every byte in order");
    assert_eq!(home.0.get(), recycled, "every recycled buffer came home");
    assert_eq!(client.write_queue_size(), 0);
}

#[test]
fn bursts_beyond_the_kept_pool_deliver_everything_in_order_and_the_pool_works_after() {
    let lp = Loop::new().unwrap();
    let dog = support::watchdog(&lp, 60);
    let (client, peer) = support::tcp_pair(&lp);
    // 3,000 writes (4,000 requests) drain, the pool frees what it keeps no more; then again,
    // with a reserve first, then a small burst that fits in what is kept.
    burst(&lp, &client, &peer, 3000, 0);
    client.reserve_writes(5000).unwrap();
    burst(&lp, &client, &peer, 3000, 1);
    burst(&lp, &client, &peer, 10, 2);
    drop((client, peer, dog));
    support::finish(lp);
}

#[test]
fn closing_with_a_burst_queued_cancels_each_write_and_frees_its_buffers() {
    let lp = Loop::new().unwrap();
    let (client, peer) = support::tcp_pair(&lp);
    let home = Rc::new(Home(Cell::new(0)));
    let weak: Weak<dyn BufHome> = Rc::downgrade(&home) as Weak<dyn BufHome>;
    let block = vec![7u8; 64 * 1024];
    let (ok, cancelled) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    // 2,000 writes of 64 KiB (125 MiB) to a peer that never reads: most stay queued.
    for i in 0..2000 {
        let (ok, cancelled) = (ok.clone(), cancelled.clone());
        let buf = if i % 2 == 0 {
            WriteBuf::recycled(block.clone(), weak.clone())
        } else {
            WriteBuf::Shared(Rc::from(block.as_slice()))
        };
        client
            .write(buf, move |_, r| match r {
                Ok(()) => ok.set(ok.get() + 1),
                Err(e) => {
                    assert_eq!(e, rsuv::Error::ECANCELED);
                    cancelled.set(cancelled.get() + 1);
                }
            })
            .unwrap();
    }
    lp.run(RunMode::NoWait).unwrap();
    client.close();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(ok.get() + cancelled.get(), 2000, "every callback ran once");
    assert!(
        cancelled.get() > 0,
        "a peer that never reads leaves writes queued"
    );
    assert_eq!(home.0.get(), 1000, "every recycled buffer came home");
    drop((client, peer));
    support::finish(lp);
}

#[test]
fn a_recycled_buffer_goes_home_once_written_and_not_before() {
    let lp = Loop::new().unwrap();
    let dog = support::watchdog(&lp, 60);
    let (client, peer) = support::tcp_pair(&lp);
    let home = Rc::new(Home(Cell::new(0)));
    let weak: Weak<dyn BufHome> = Rc::downgrade(&home) as Weak<dyn BufHome>;
    let done = Rc::new(Cell::new(0));
    // Written in full inside the call: home at once, its callback still to come.
    let d = done.clone();
    let small = WriteBuf::recycled(vec![1u8; 1024], weak.clone());
    client
        .write(small, move |_, r| {
            r.unwrap();
            d.set(d.get() + 1);
        })
        .unwrap();
    assert_eq!(client.write_queue_size(), 0);
    assert_eq!(
        home.0.get(),
        1,
        "written at once, so home before its callback"
    );
    assert_eq!(done.get(), 0, "the callback never runs from inside write");
    // 64 MiB to a peer not reading yet: most of it stays queued, so the buffer stays with
    // the request until the callback.
    let big_len = 64 << 20;
    let d = done.clone();
    let big = WriteBuf::recycled(vec![2u8; big_len], weak.clone());
    client
        .write(big, move |_, r| {
            r.unwrap();
            d.set(d.get() + 1);
        })
        .unwrap();
    assert!(client.write_queue_size() > 0);
    assert_eq!(
        home.0.get(),
        1,
        "a buffer libuv still reads from stays in its request"
    );
    let got = Rc::new(Cell::new(0usize));
    let (g, total) = (got.clone(), 1024 + big_len);
    peer.read_start(move |p, r| {
        g.set(g.get() + r.unwrap().len());
        if g.get() >= total {
            p.read_stop().unwrap();
        }
    })
    .unwrap();
    let finished = || done.get() == 2 && got.get() >= total;
    while !finished() {
        let alive = lp.run(RunMode::Once).unwrap();
        assert!(alive || finished(), "loop ran dry");
    }
    assert_eq!(got.get(), total, "every byte arrived");
    assert_eq!(home.0.get(), 2, "the queued buffer came home once written");
    drop((client, peer, dog));
    support::finish(lp);
}
