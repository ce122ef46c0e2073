//! TlsSession, back to back in memory: new keys on a live session. Resumption, TLS 1.3 key
//! updates, TLS 1.2 renegotiation.

#[path = "support/pki.rs"]
mod pki;
#[path = "support/tls_pair.rs"]
mod tls_pair;

use pki::{client_builder, server_builder};
use rsuv::tls::{State, TlsError, TlsSession, Version};
use tls_pair::*;

#[test]
fn session_resumption_tls12_and_tls13() {
    let cases = [
        (Version::Tls12, true),
        (Version::Tls12, false),
        (Version::Tls13, true),
        (Version::Tls13, false),
    ];
    for (v, tickets) in cases {
        let sctx = server_builder().session_tickets(tickets).build().unwrap();
        let cctx = client_builder().max_version(v).build().unwrap();
        let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
        assert!(!c.info().unwrap().session_reused);
        // TLS 1.3 tickets arrive after the handshake: let the client read them.
        assert_eq!(send_all(&mut s, &mut c, b"hello", 5), b"hello");
        for i in 0..2 {
            let (c2, s2) = connect(&cctx, &sctx, "localhost");
            let what = format!(
                "{v:?} tickets={tickets} round {i} server reused {}",
                s2.info().unwrap().session_reused
            );
            assert!(c2.info().unwrap().session_reused, "{what}: client");
            assert!(s2.info().unwrap().session_reused, "{what}: server");
        }
        // Another name: no session for it, a full handshake.
        let (c3, _) = connect(&cctx, &sctx, "127.0.0.1");
        assert!(!c3.info().unwrap().session_reused);
        // Resumption off: always full.
        let fresh = client_builder()
            .max_version(v)
            .session_resumption(false)
            .build()
            .unwrap();
        connect(&fresh, &sctx, "localhost");
        let (c4, _) = connect(&fresh, &sctx, "localhost");
        assert!(!c4.info().unwrap().session_reused);
    }
}

/// `a` updates its keys in the middle of a write while `b` writes too.
fn key_update_round(a: &mut TlsSession, b: &mut TlsSession, requested: bool) {
    let data = pattern(200_000, 5);
    a.write(&data[..70_000]).unwrap();
    a.key_update(requested).unwrap();
    a.write(&data[70_000..]).unwrap();
    // The peer writes too, crossing the KeyUpdate (and its reply when requested).
    b.write(b"crossing").unwrap();
    pump(a, b);
    assert_eq!(b.plaintext(), &data[..]);
    b.consume_plaintext(data.len());
    assert_eq!(a.plaintext(), b"crossing");
    a.consume_plaintext(8);
    assert_eq!(send_all(a, b, b"after", 5), b"after");
    assert_eq!(send_all(b, a, b"after too", 9), b"after too");
}

#[test]
fn requested_key_update_is_answered_while_reading() {
    let (cctx, sctx) = versioned(Version::Tls13);
    let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
    for requested in [false, true] {
        c.key_update(requested).unwrap();
        let update = c.take_output();
        assert!(!update.is_empty());
        s.feed(&update).unwrap();
        // Nothing written by the server: a reply appears only when it was requested.
        assert_eq!(s.has_output(), requested);
        pump(&mut c, &mut s);
        assert_eq!(send_all(&mut s, &mut c, b"ok", 2), b"ok");
    }
}

#[test]
fn key_update_mid_stream() {
    let (cctx, sctx) = versioned(Version::Tls13);
    let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
    for requested in [false, true] {
        key_update_round(&mut c, &mut s, requested);
        key_update_round(&mut s, &mut c, requested);
    }
    assert_eq!(c.state(), State::Open);
    assert_eq!(s.state(), State::Open);
    let (cctx, sctx) = versioned(Version::Tls12);
    let (mut c, _s) = connect(&cctx, &sctx, "localhost");
    let err = c.key_update(true).unwrap_err();
    assert!(matches!(&err, TlsError::Protocol { reason, .. } if reason.contains("TLSv1.3")));
    assert_eq!(c.state(), State::Open, "a refused key_update does no harm");
}

#[test]
fn server_renegotiation_during_upload() {
    let (cctx, sctx) = versioned(Version::Tls12);
    let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
    let data = pattern(1 << 20, 11);
    let mut got = Vec::new();
    for (i, chunk) in data.chunks(64 * 1024).enumerate() {
        c.write(chunk).unwrap();
        if i == 4 {
            // Data is in flight both ways when the server asks.
            transfer(&mut c, &mut s, Feed::Whole);
            s.renegotiate().unwrap();
            assert!(s.has_output(), "HelloRequest");
            c.write(b"").unwrap();
        }
        // Move only part of the traffic per round, so records and handshake interleave.
        transfer(&mut c, &mut s, Feed::Bytewise);
        transfer(&mut s, &mut c, Feed::Whole);
        got.extend_from_slice(s.plaintext());
        let n = s.plaintext().len();
        s.consume_plaintext(n);
    }
    pump(&mut c, &mut s);
    got.extend_from_slice(s.plaintext());
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    assert_eq!(c.state(), State::Open, "{:?}", events(&mut c));
    assert_eq!(s.state(), State::Open, "{:?}", events(&mut s));
    assert_eq!(send_all(&mut s, &mut c, b"down", 4), b"down");
    let (cctx, sctx) = versioned(Version::Tls13);
    let (_c, mut s) = connect(&cctx, &sctx, "localhost");
    assert!(matches!(s.renegotiate(), Err(TlsError::Protocol { .. })));
}

#[test]
fn client_initiated_renegotiation_is_refused() {
    let (cctx, sctx) = versioned(Version::Tls12);
    let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
    c.renegotiate().unwrap();
    pump(&mut c, &mut s);
    let ce = errors(&mut c).pop().expect("client error");
    assert!(
        matches!(&ce, TlsError::Protocol { reason, .. } if reason == "no renegotiation"),
        "{ce:?}"
    );
    assert_eq!(
        s.state(),
        State::Failed,
        "the client's fatal alert reaches the server"
    );
}
