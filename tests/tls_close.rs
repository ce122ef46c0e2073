//! TlsSession, back to back in memory: how sessions end. close_notify, shutdown during the
//! handshake, truncation, EOF and corrupted records.

#[path = "support/pki.rs"]
mod pki;
#[path = "support/tls_pair.rs"]
mod tls_pair;

use rsuv::tls::{Event, State, TlsError, TlsSession, Version};
use tls_pair::*;

#[test]
fn close_notify_both_ways() {
    for v in [Version::Tls12, Version::Tls13] {
        let (cctx, sctx) = versioned(v);
        let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
        events(&mut s);
        c.write(b"last words").unwrap();
        c.shutdown().unwrap();
        c.shutdown().unwrap();
        assert_eq!(c.state(), State::Closing);
        assert!(c.close_notify_sent());
        assert!(matches!(c.write(b"more"), Err(TlsError::Closed)));
        pump(&mut c, &mut s);
        assert!(s.close_notify_received());
        assert_eq!(s.state(), State::Closing);
        assert!(!s.wants_input());
        let evs = events(&mut s);
        assert!(
            matches!(evs[..], [Event::Data, Event::PeerClosed]),
            "{evs:?}"
        );
        assert_eq!(s.plaintext(), b"last words");
        // Half-closed: the server can still answer before closing its side.
        s.write(b"reply").unwrap();
        s.shutdown().unwrap();
        pump(&mut c, &mut s);
        assert_eq!(c.plaintext(), b"reply");
        assert_eq!(s.state(), State::Closed);
        assert_eq!(c.state(), State::Closed);
        assert!(matches!(s.write(b"x"), Err(TlsError::Closed)));
        // Bytes after close_notify and transport EOF change nothing.
        s.feed(b"junk after close").unwrap();
        s.feed_eof();
        assert!(events(&mut s).is_empty());
    }
}

#[test]
fn shutdown_during_handshake_waits_for_it() {
    let (cctx, sctx) = versioned(Version::Tls13);
    let mut c = TlsSession::client(&cctx, "localhost").unwrap();
    let mut s = TlsSession::server(&sctx).unwrap();
    c.write(b"queued").unwrap();
    c.shutdown().unwrap();
    assert_eq!(c.state(), State::Closing);
    pump(&mut c, &mut s);
    assert!(c.close_notify_sent());
    assert_eq!(s.plaintext(), b"queued");
    assert!(s.close_notify_received());
}

#[test]
fn truncation_keeps_every_byte_then_reports() {
    for v in [Version::Tls12, Version::Tls13] {
        let (cctx, sctx) = versioned(v);
        let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
        events(&mut s);
        s.set_read_limits(64 * 1024, 16 * 1024);
        let data = pattern(1 << 20, 13);
        c.write(&data).unwrap();
        // The last record arrives cut in half, then the transport ends.
        let wire = c.take_output();
        s.feed(&wire).unwrap();
        s.feed(b"\x17\x03\x03\x00\x20partial").unwrap();
        assert!(s.plaintext().len() < data.len(), "read limit held");
        s.feed_eof();
        assert_eq!(s.plaintext(), &data[..]);
        let evs = events(&mut s);
        assert!(
            matches!(evs[..], [Event::Data, Event::Truncated]),
            "{evs:?}"
        );
        assert_eq!(s.state(), State::Closed);
        assert!(!s.wants_input());
        assert!(matches!(s.feed(b"x"), Err(TlsError::Closed)));
    }
}

#[test]
fn eof_during_handshake_fails_it() {
    let (cctx, sctx) = versioned(Version::Tls13);
    let mut c = TlsSession::client(&cctx, "localhost").unwrap();
    let mut s = TlsSession::server(&sctx).unwrap();
    transfer(&mut c, &mut s, Feed::Whole);
    c.feed_eof();
    assert_eq!(c.state(), State::Failed);
    assert!(matches!(errors(&mut c)[..], [TlsError::Handshake { .. }]));
}

#[test]
fn corrupted_record_fails_with_alert() {
    for v in [Version::Tls12, Version::Tls13] {
        let (cctx, sctx) = versioned(v);
        let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
        events(&mut s);
        c.write(b"intact").unwrap();
        pump(&mut c, &mut s);
        c.write(&[7u8; 1000]).unwrap();
        let mut wire = c.take_output();
        wire[500] ^= 0x20;
        let err = s.feed(&wire).unwrap_err();
        assert!(
            matches!(&err, TlsError::Protocol { reason, .. } if reason.contains("bad record mac") || reason.contains("decryption failed")),
            "{v:?}: {err:?}"
        );
        assert_eq!(s.state(), State::Failed);
        assert!(s.has_output(), "an alert for the peer");
        assert_eq!(s.plaintext(), b"intact", "earlier data stays readable");
        assert!(!s.wants_input());
        let evs = events(&mut s);
        assert!(matches!(evs[..], [Event::Data, Event::Error(_)]), "{evs:?}");
        let alert = s.take_output();
        let peer_err = c.feed(&alert).unwrap_err();
        assert!(
            matches!(&peer_err, TlsError::Protocol { reason, .. } if reason.contains("alert")),
            "{v:?}: {peer_err:?}"
        );
        assert_eq!(c.state(), State::Failed);
        assert!(matches!(s.write(b"x"), Err(TlsError::Closed)));
        assert!(matches!(s.shutdown(), Err(TlsError::Closed)));
    }
}
