//! The steady path allocates nothing: after warm-up, TCP ping-pong (a pooled `write` of a
//! static buffer with a capture-free callback, `try_write`, reads from the loop's buffer) and
//! UDP ping-pong (pooled `send`, `recv`) make no heap allocation at all. A counting global
//! allocator (counting the loop thread's allocations) proves it.

#[path = "support/alloc_count.rs"]
mod alloc_count;
mod support;

use alloc_count::{allocs, live_bytes, window};
use rsuv::{Loop, RunMode, Tcp, Udp};
use std::cell::Cell;
use std::rc::Rc;

const MSG: &[u8; 1024] = &[b'x'; 1024];
use alloc_count::MEASURED;

fn tcp_ping_pong(lp: &Loop) -> usize {
    let server = Tcp::new(lp).unwrap();
    server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    server
        .listen(8, |s, _| {
            let conn = s.accept().unwrap();
            conn.read_start(|c, data| match data {
                // Echo without a request or a copy: small messages always fit.
                Ok(bytes) => assert_eq!(c.try_write(bytes), Ok(bytes.len())),
                Err(_) => c.close(),
            })
            .unwrap();
            conn.detach();
            s.close();
        })
        .unwrap();
    let w = window();
    let client = Tcp::new(lp).unwrap();
    let w2 = w.clone();
    client
        .connect(server.sockname().unwrap(), move |c, r| {
            r.unwrap();
            c.set_nodelay(true).unwrap();
            c.write(MSG, |_, r| r.unwrap()).unwrap();
            let mut got = 0;
            let w = w2.clone();
            c.read_start(move |c, data| {
                got += data.unwrap().len();
                if got == MSG.len() {
                    got = 0;
                    if w.trip() {
                        c.write(MSG, |_, r| r.unwrap()).unwrap();
                    } else {
                        c.close();
                    }
                }
            })
            .unwrap();
        })
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    drop((server, client));
    w.counted.get().expect("all round trips ran")
}

fn udp_ping_pong(lp: &Loop) -> usize {
    let server = Udp::new(lp).unwrap();
    server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    server
        .recv_start(|s, d| {
            let d = d.unwrap();
            assert_eq!(s.try_send(d.data, Some(d.addr)), Ok(d.data.len()));
        })
        .unwrap();
    let w = window();
    let client = Udp::new(lp).unwrap();
    client.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let to = server.sockname().unwrap();
    let w2 = w.clone();
    client
        .recv_start(move |c, d| {
            assert_eq!(d.unwrap().data.len(), MSG.len());
            if w2.trip() {
                c.send(MSG, Some(to), |_, r| r.unwrap()).unwrap();
            } else {
                c.close();
            }
        })
        .unwrap();
    client.send(MSG, Some(to), |_, r| r.unwrap()).unwrap();
    let server = Rc::new(Cell::new(Some(server)));
    let (s2, w3) = (server.clone(), w.clone());
    let stop = rsuv::Check::new(lp).unwrap();
    stop.start(move |c| {
        if w3.counted.get().is_some() {
            drop(s2.take());
            c.close();
        }
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    drop((client, stop));
    w.counted.get().expect("all round trips ran")
}

#[test]
fn steady_state_reads_and_writes_do_not_allocate() {
    let lp = Loop::new().unwrap();
    let tcp = tcp_ping_pong(&lp);
    let udp = udp_ping_pong(&lp);
    assert_eq!(
        (tcp, udp),
        (0, 0),
        "allocations over {MEASURED} round trips (tcp, udp)"
    );
    support::finish(lp);
}

#[test]
fn reserved_writes_do_not_allocate_in_a_burst() {
    let lp = Loop::new().unwrap();
    let (client, conn) = support::tcp_pair(&lp);
    client.reserve_writes(5000).unwrap();
    let before = allocs();
    for _ in 0..5000 {
        // The peer is dropped unread below: what matters here is the queueing.
        client.write(MSG, |_, _| {}).unwrap();
    }
    assert_eq!(
        allocs() - before,
        0,
        "5,000 queued writes after reserve_writes(5000)"
    );
    client.shutdown(|c, _| c.close()).unwrap();
    drop(conn);
    lp.run(RunMode::Default).unwrap();
    drop(client);
    support::finish(lp);
}

#[test]
fn a_drained_burst_gives_its_requests_memory_back() {
    let lp = Loop::new().unwrap();
    let (client, conn) = support::tcp_pair(&lp);
    conn.read_start(|c, r| {
        if r.is_err() {
            c.close(); // the client closed at the end
        }
    })
    .unwrap();
    conn.detach();
    const WRITES: usize = 20_000;
    let before = live_bytes();
    client.reserve_writes(WRITES).unwrap();
    let reserved = live_bytes() - before;
    assert!(
        reserved >= (WRITES * 192) as isize,
        "reserved {reserved} bytes"
    );
    let done = Rc::new(Cell::new(0));
    for _ in 0..WRITES {
        let d = done.clone();
        client
            .write(b"x", move |_, r| {
                r.unwrap();
                d.set(d.get() + 1);
            })
            .unwrap();
    }
    while done.get() < WRITES {
        lp.run(RunMode::Once).unwrap();
    }
    // What stays: the 1,024 requests the pool keeps (264 bytes each), and the callbacks' `Rc`.
    let kept = live_bytes() - before;
    assert!(
        kept <= 1024 * 264 + 4096,
        "{kept} bytes kept of {reserved} reserved"
    );
    client.close();
    support::finish(lp);
}

#[test]
fn a_work_job_is_one_allocation() {
    let lp = Loop::new().unwrap();
    let done = Rc::new(Cell::new(0));
    let queue = |lp: &Loop, done: &Rc<Cell<usize>>| {
        let d = done.clone();
        rsuv::Work::queue(
            lp,
            || 7u64,
            move |r| {
                assert_eq!(r.unwrap(), 7);
                d.set(d.get() + 1);
            },
        )
        .unwrap()
    };
    drop(queue(&lp, &done)); // starts libuv's threadpool
    lp.run(RunMode::Default).unwrap();
    const JOBS: usize = 100;
    let before = allocs();
    for _ in 0..JOBS {
        drop(queue(&lp, &done));
    }
    lp.run(RunMode::Default).unwrap();
    assert_eq!(done.get(), JOBS + 1);
    assert_eq!(
        allocs() - before,
        JOBS,
        "allocations for {JOBS} jobs, queued and done"
    );
    support::finish(lp);
}
