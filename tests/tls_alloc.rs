//! TLS's steady path makes no Rust heap allocation: after warm-up, a 1 KiB ping-pong between
//! two `TlsSession`s in memory, and one between a `TlsStream` client and a `TlsStream` echo
//! server over loopback (writes with capture-free callbacks, reads lent by the stream), allocate
//! nothing on the loop thread. OpenSSL's own allocations (its per-record bookkeeping, through
//! `CRYPTO_malloc`) are not Rust allocations and are not counted here.

#[path = "support/alloc_count.rs"]
mod alloc_count;
#[path = "support/pki.rs"]
mod pki;
mod support;
#[path = "support/tls_pair.rs"]
mod tls_pair;

use alloc_count::{MEASURED, window};
use rsuv::tls::{TlsRead, TlsStream, Version};
use rsuv::{Loop, RunMode, Tcp};
use tls_pair::{connect, versioned};

const MSG: &[u8; 1024] = &[b'x'; 1024];

fn sessions_ping_pong(v: Version) -> usize {
    let (cctx, sctx) = versioned(v);
    let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
    let w = window();
    let mut spare = Vec::new();
    loop {
        c.write(MSG).unwrap();
        let wire = c.take_output();
        s.feed(&wire).unwrap();
        c.recycle_output(wire);
        let echo = s.take_plaintext(std::mem::take(&mut spare));
        assert_eq!(echo.len(), MSG.len());
        s.write(&echo).unwrap();
        spare = echo;
        let wire = s.take_output();
        c.feed(&wire).unwrap();
        s.recycle_output(wire);
        assert_eq!(c.plaintext().len(), MSG.len());
        c.consume_plaintext(MSG.len());
        while c.next_event().is_some() || s.next_event().is_some() {}
        if !w.trip() {
            break;
        }
    }
    w.counted.get().expect("all round trips ran")
}

fn streams_ping_pong(v: Version) -> usize {
    let (cctx, sctx) = versioned(v);
    let lp = Loop::new().unwrap();
    let server = Tcp::new(&lp).unwrap();
    server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    server
        .listen(8, move |l, _| {
            let s = TlsStream::accept(l, &sctx, |s, r| {
                r.unwrap();
                s.read_start(|s, r| match r {
                    TlsRead::Data(d) => s.write(d, |_, r| r.unwrap()).unwrap(),
                    _ => s.close(),
                });
            })
            .unwrap();
            s.detach();
            l.close();
        })
        .unwrap();
    let w = window();
    let w2 = w.clone();
    let client = TlsStream::connect(
        &lp.handle(),
        server.sockname().unwrap(),
        &cctx,
        "localhost",
        move |c, r| {
            r.unwrap();
            c.tcp().set_nodelay(true).unwrap();
            c.write(MSG, |_, r| r.unwrap()).unwrap();
            let mut got = 0;
            let w = w2.clone();
            c.read_start(move |c, r| {
                let TlsRead::Data(d) = r else {
                    panic!("unexpected end: {r:?}")
                };
                got += d.len();
                if got == MSG.len() {
                    got = 0;
                    if w.trip() {
                        c.write(MSG, |_, r| r.unwrap()).unwrap();
                    } else {
                        c.close();
                    }
                }
            });
        },
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    drop((server, client));
    support::finish(lp);
    w.counted.get().expect("all round trips ran")
}

#[test]
fn session_round_trips_do_not_allocate() {
    for v in [Version::Tls12, Version::Tls13] {
        assert_eq!(
            sessions_ping_pong(v),
            0,
            "allocations over {MEASURED} {v:?} round trips"
        );
    }
}

#[test]
fn stream_round_trips_do_not_allocate() {
    for v in [Version::Tls12, Version::Tls13] {
        assert_eq!(
            streams_ping_pong(v),
            0,
            "allocations over {MEASURED} {v:?} round trips"
        );
    }
}
