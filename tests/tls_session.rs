//! TlsSession: a client and a server session wired back to back in memory, real OpenSSL on
//! both ends: the handshake, data both ways, buffers and back-pressure.

#[path = "support/pki.rs"]
mod pki;
#[path = "support/tls_pair.rs"]
mod tls_pair;

use pki::pki;
use rsuv::tls::{Event, State, TlsContext, TlsError, TlsSession, Version};
use tls_pair::*;

#[test]
fn handshake_both_versions_bytewise_and_merged() {
    for (v, name) in [(Version::Tls12, "TLSv1.2"), (Version::Tls13, "TLSv1.3")] {
        for mode in [Feed::Whole, Feed::Bytewise] {
            let (cctx, sctx) = versioned(v);
            let mut c = TlsSession::client(&cctx, "localhost").unwrap();
            let mut s = TlsSession::server(&sctx).unwrap();
            assert!(c.has_output(), "ClientHello ready at once");
            assert!(c.is_handshaking() && s.is_handshaking());
            pump_with(&mut c, &mut s, mode);
            assert_eq!(
                c.state(),
                State::Open,
                "{name} {mode:?}: {:?}",
                events(&mut c)
            );
            assert_eq!(
                s.state(),
                State::Open,
                "{name} {mode:?}: {:?}",
                events(&mut s)
            );
            assert!(matches!(c.next_event(), Some(Event::HandshakeDone)));
            assert!(matches!(s.next_event(), Some(Event::HandshakeDone)));
            for info in [c.info().unwrap(), s.info().unwrap()] {
                assert_eq!(info.version, name);
                assert!(!info.cipher.is_empty());
                assert!(!info.session_reused);
            }
            let peer = c.info().unwrap().peer_certificate.as_ref().unwrap();
            assert_eq!(peer.to_pem().unwrap(), pki().server.cert_pem);
            assert!(s.info().unwrap().peer_certificate.is_none());

            let ping = pattern(3000, 1);
            c.write(&ping).unwrap();
            pump_with(&mut c, &mut s, mode);
            assert_eq!(s.plaintext(), &ping[..]);
            assert!(matches!(s.next_event(), Some(Event::Data)));
            let mut buf = vec![0; 5000];
            assert_eq!(s.read(&mut buf), ping.len());
            s.write(b"pong").unwrap();
            pump_with(&mut c, &mut s, mode);
            assert_eq!(c.plaintext(), b"pong");
        }
    }
}

#[test]
fn megabytes_both_ways() {
    for v in [Version::Tls12, Version::Tls13] {
        let (cctx, sctx) = versioned(v);
        let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
        let up = pattern(3 << 20, 7);
        assert!(send_all(&mut c, &mut s, &up, 100_000) == up);
        let down = pattern((2 << 20) + 12345, 9);
        assert!(send_all(&mut s, &mut c, &down, 1 << 20) == down);
        // One huge write: chunked into records inside.
        let big = pattern(3 << 20, 3);
        assert!(send_all(&mut c, &mut s, &big, big.len()) == big);
    }
}

#[test]
fn data_events_coalesce() {
    let (cctx, sctx) = versioned(Version::Tls13);
    let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
    events(&mut s);
    for _ in 0..5 {
        c.write(b"x").unwrap();
        pump(&mut c, &mut s);
    }
    let evs = events(&mut s);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(s.plaintext(), b"xxxxx");
    c.write(b"y").unwrap();
    pump(&mut c, &mut s);
    assert!(matches!(s.next_event(), Some(Event::Data)));
}

#[test]
fn sessions_are_send_and_contexts_shareable() {
    fn send<T: Send>() {}
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    send::<TlsSession>();
    send::<TlsError>();
    send_sync_clone::<TlsContext>();
    // A session moved to another thread keeps working.
    let (cctx, sctx) = versioned(Version::Tls13);
    let (mut c, s) = connect(&cctx, &sctx, "localhost");
    let mut s = std::thread::spawn(move || s).join().unwrap();
    assert_eq!(send_all(&mut c, &mut s, b"moved", 5), b"moved");
}

#[test]
fn writes_before_handshake_are_delivered() {
    for v in [Version::Tls12, Version::Tls13] {
        for mode in [Feed::Whole, Feed::Bytewise] {
            let (cctx, sctx) = versioned(v);
            let mut c = TlsSession::client(&cctx, "localhost").unwrap();
            let mut s = TlsSession::server(&sctx).unwrap();
            let early = pattern(40_000, 2);
            assert_eq!(c.write(&early).unwrap(), early.len());
            assert!(c.write_buffered() >= early.len());
            assert_eq!(s.write(b"server early").unwrap(), 12);
            pump_with(&mut c, &mut s, mode);
            assert_eq!(s.plaintext(), &early[..]);
            assert_eq!(c.plaintext(), b"server early");
            assert_eq!(c.write_buffered(), 0);
            let evs = events(&mut s);
            assert!(
                matches!(evs[..], [Event::HandshakeDone, Event::Data]),
                "{evs:?}"
            );
        }
    }
}

#[test]
fn read_backpressure_bounds_plaintext_buffer() {
    const TOTAL: usize = 64 << 20;
    const HIGH: usize = 256 * 1024;
    const LOW: usize = 64 * 1024;
    let (cctx, sctx) = versioned(Version::Tls13);
    let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
    s.set_read_limits(HIGH, LOW);
    let block = pattern(1 << 20, 0);
    let (mut sent, mut received, mut paused_seen, mut resumed_seen) = (0, 0, 0, 0);
    let mut expect = 0u8;
    let mut max_buffered = 0;
    let mut round = 0;
    while received < TOTAL {
        round += 1;
        assert!(round < 100_000, "no progress");
        if sent < TOTAL && c.write_buffered() < (4 << 20) {
            let n = (TOTAL - sent).min(block.len());
            c.write(&block[..n]).unwrap();
            sent += n;
        }
        if s.wants_input() {
            let wire = c.take_output();
            s.feed(&wire).unwrap();
            c.recycle_output(wire);
        } else {
            paused_seen += 1;
        }
        max_buffered = max_buffered.max(s.plaintext().len());
        // The reader stalls for a while in the middle, then drains in small bites.
        let stalled = (TOTAL / 3..TOTAL / 3 + (8 << 20)).contains(&received);
        if stalled && round % 50 != 0 {
            continue;
        }
        let was_paused = !s.wants_input();
        let take = s
            .plaintext()
            .len()
            .min(if stalled { 100_000 } else { 300_000 });
        for (i, &b) in s.plaintext()[..take].iter().enumerate() {
            if b != block[(received + i) % block.len()] {
                panic!("byte {} differs", received + i);
            }
        }
        expect = expect.wrapping_add(1);
        received += take;
        s.consume_plaintext(take);
        if was_paused && s.wants_input() {
            resumed_seen += 1;
        }
    }
    assert_eq!(received, TOTAL);
    assert!(
        max_buffered <= HIGH + 16 * 1024 + 1024,
        "buffered {max_buffered}"
    );
    assert!(paused_seen > 0, "wants_input never went false");
    assert!(resumed_seen > 0, "wants_input never came back");
}

#[test]
fn output_buffers_are_recycled() {
    let (cctx, sctx) = versioned(Version::Tls13);
    let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
    c.write(&[1; 50_000]).unwrap();
    let first = c.take_output();
    let cap = first.capacity();
    let ptr = first.as_ptr();
    s.feed(&first).unwrap();
    c.recycle_output(first);
    c.write(&[2; 50_000]).unwrap();
    let _ = c.take_output(); // the buffer that was left behind
    c.write(&[3; 50_000]).unwrap();
    let third = c.take_output();
    assert_eq!(third.as_ptr(), ptr, "the recycled allocation came back");
    assert!(third.capacity() >= cap);
    assert!(!c.has_output());
    c.write(b"abc").unwrap();
    let n = c.output().len();
    c.consume_output(2);
    assert_eq!(c.output().len(), n - 2);
}

#[test]
fn wrong_role_contexts_are_refused() {
    let (cctx, sctx) = versioned(Version::Tls13);
    assert!(matches!(
        TlsSession::client(&sctx, "localhost"),
        Err(TlsError::Config { .. })
    ));
    assert!(matches!(
        TlsSession::server(&cctx),
        Err(TlsError::Config { .. })
    ));
    assert!(matches!(
        TlsSession::client(&cctx, ""),
        Err(TlsError::Config { .. })
    ));
}

fn one_way(a: &mut TlsSession, b: &mut TlsSession, msg: &[u8]) {
    a.write(msg).unwrap();
    let wire = a.take_output();
    b.feed(&wire).unwrap();
    a.recycle_output(wire);
    assert_eq!(b.plaintext().len(), msg.len());
    b.consume_plaintext(msg.len());
}

/// Bulk throughput of back-to-back sessions (one core does both ends: each byte is encrypted
/// and decrypted here). Run with
/// `cargo test --release --test tls_session -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    for v in [Version::Tls12, Version::Tls13] {
        let (cctx, sctx) = versioned(v);
        let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
        let block = vec![0x5a; 256 * 1024];
        let total = 2usize << 30;
        let start = std::time::Instant::now();
        let mut received = 0;
        while received < total {
            c.write(&block).unwrap();
            let wire = c.take_output();
            s.feed(&wire).unwrap();
            c.recycle_output(wire);
            received += s.plaintext().len();
            let n = s.plaintext().len();
            s.consume_plaintext(n);
        }
        let secs = start.elapsed().as_secs_f64();
        let cipher = c.info().unwrap().cipher.clone();
        println!(
            "{v:?} {cipher}: {:.0} MB/s (encrypt + decrypt on one core)",
            received as f64 / secs / 1e6
        );
        // 1 KiB ping-pong: both sessions' work per round trip.
        let msg = [7u8; 1024];
        let rounds = 200_000;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            one_way(&mut c, &mut s, &msg);
            one_way(&mut s, &mut c, &msg);
        }
        let per = start.elapsed().as_secs_f64() / rounds as f64 * 1e6;
        println!("{v:?}: 1 KiB ping-pong {per:.2} us per round trip (4 TLS record operations)");
    }
}
