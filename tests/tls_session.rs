//! TlsSession: a client and a server session wired back to back in memory, real OpenSSL on
//! both ends.

#[path = "support/pki.rs"]
mod pki;

use pki::pki;
use rsuv::tls::{ClientAuth, Event, State, TlsContext, TlsError, TlsSession, Version};

/// How ciphertext travels between the two sessions.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Feed {
    /// Everything pending in one `feed` (all records of a flight merged).
    Whole,
    /// One byte per `feed`.
    Bytewise,
}

/// Moves one session's output into the other (errors are left to the events).
fn transfer(from: &mut TlsSession, to: &mut TlsSession, mode: Feed) -> bool {
    if !from.has_output() {
        return false;
    }
    let bytes = from.take_output();
    match mode {
        Feed::Whole => {
            let _ = to.feed(&bytes);
        }
        Feed::Bytewise => {
            for b in bytes.chunks(1) {
                if to.feed(b).is_err() {
                    break;
                }
            }
        }
    }
    from.recycle_output(bytes);
    true
}

/// Shuttles bytes both ways until neither side has anything to send (bounded).
fn pump_with(c: &mut TlsSession, s: &mut TlsSession, mode: Feed) {
    for _ in 0..10_000 {
        let moved = transfer(c, s, mode) | transfer(s, c, mode);
        if !moved {
            return;
        }
    }
    panic!("pump: still moving bytes after 10000 rounds");
}

fn pump(c: &mut TlsSession, s: &mut TlsSession) {
    pump_with(c, s, Feed::Whole)
}

use pki::{client_builder, server_builder};

fn versioned(v: Version) -> (TlsContext, TlsContext) {
    let c = client_builder()
        .min_version(v)
        .max_version(v)
        .build()
        .unwrap();
    (c, server_builder().build().unwrap())
}

fn events(s: &mut TlsSession) -> Vec<Event> {
    std::iter::from_fn(|| s.next_event()).collect()
}

fn errors(s: &mut TlsSession) -> Vec<TlsError> {
    events(s)
        .into_iter()
        .filter_map(|e| match e {
            Event::Error(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// A completed handshake between new sessions of `cctx` and `sctx`.
fn connect(cctx: &TlsContext, sctx: &TlsContext, name: &str) -> (TlsSession, TlsSession) {
    let mut c = TlsSession::client(cctx, name).unwrap();
    let mut s = TlsSession::server(sctx).unwrap();
    pump(&mut c, &mut s);
    assert_eq!(c.state(), State::Open, "client: {:?}", events(&mut c));
    assert_eq!(s.state(), State::Open, "server: {:?}", events(&mut s));
    (c, s)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 13) as u8)
        .collect()
}

/// Moves everything `b` has decrypted (and what consuming lets it decrypt) into `got`.
fn drain_into(a: &mut TlsSession, b: &mut TlsSession, got: &mut Vec<u8>) {
    loop {
        pump(a, b);
        let n = b.plaintext().len();
        if n == 0 {
            return;
        }
        got.extend_from_slice(b.plaintext());
        b.consume_plaintext(n);
    }
}

/// Writes `data` from `a` in pieces while pumping, collecting what `b` decrypts.
fn send_all(a: &mut TlsSession, b: &mut TlsSession, data: &[u8], piece: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(data.len());
    for chunk in data.chunks(piece) {
        assert_eq!(a.write(chunk).unwrap(), chunk.len());
        drain_into(a, b, &mut got);
    }
    drain_into(a, b, &mut got);
    got
}

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
fn alpn_server_preference_and_no_overlap() {
    let sctx = server_builder().alpn(&["h2", "http/1.1"]).build().unwrap();
    let cctx = client_builder().alpn(&["http/1.1", "h2"]).build().unwrap();
    let (c, s) = connect(&cctx, &sctx, "localhost");
    assert_eq!(c.info().unwrap().alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(s.info().unwrap().alpn.as_deref(), Some(&b"h2"[..]));

    let cctx = client_builder().alpn(&["spdy/3"]).build().unwrap();
    let (c, s) = connect(&cctx, &sctx, "localhost");
    assert_eq!(c.info().unwrap().alpn, None);
    assert_eq!(s.info().unwrap().alpn, None);

    let (c, _s) = connect(&client_builder().build().unwrap(), &sctx, "localhost");
    assert_eq!(c.info().unwrap().alpn, None);
}

#[test]
fn sni_callback_switches_context() {
    let p = pki();
    let sni_ctx = server_builder().alpn(&["sni-proto"]).build().unwrap();
    // The default context has the wrong certificate: only the switch makes "sni.test" verify.
    let sctx = TlsContext::server()
        .cert_chain_pem(&p.wronghost.cert_pem)
        .private_key_pem(&p.wronghost.key_pem)
        .sni(move |name| (name == "sni.test").then(|| sni_ctx.clone()))
        .build()
        .unwrap();
    let cctx = client_builder().alpn(&["sni-proto"]).build().unwrap();
    let (c, s) = connect(&cctx, &sctx, "sni.test");
    assert_eq!(s.info().unwrap().server_name.as_deref(), Some("sni.test"));
    assert_eq!(c.info().unwrap().server_name.as_deref(), Some("sni.test"));
    assert_eq!(s.info().unwrap().alpn.as_deref(), Some(&b"sni-proto"[..]));

    // Another name keeps the default (wrong) certificate.
    let mut c = TlsSession::client(&cctx, "localhost").unwrap();
    let mut s = TlsSession::server(&sctx).unwrap();
    pump(&mut c, &mut s);
    let err = errors(&mut c).pop().expect("client error");
    assert!(matches!(&err, TlsError::Verification { reason, .. } if reason == "hostname mismatch"));
}

#[test]
fn a_panicking_sni_callback_is_resumed_from_feed_not_across_openssl() {
    let sctx = server_builder()
        .sni(|_| panic!("sni selector failed"))
        .build()
        .unwrap();
    let mut c = TlsSession::client(&client_builder().build().unwrap(), "localhost").unwrap();
    let mut s = TlsSession::server(&sctx).unwrap();
    let hello = c.take_output();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.feed(&hello)));
    let payload = caught.expect_err("the callback's panic comes out of feed");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"sni selector failed"));
    // Nothing is left pending on this thread: the next session is unaffected.
    let (c2, _s2) = connect(
        &client_builder().build().unwrap(),
        &server_builder().build().unwrap(),
        "localhost",
    );
    assert!(c2.info().is_some());
    drop(c);
}

#[test]
fn ip_literal_sends_no_sni_and_checks_ip_san() {
    let sctx = server_builder().build().unwrap();
    let cctx = client_builder().build().unwrap();
    let (c, s) = connect(&cctx, &sctx, "127.0.0.1");
    assert_eq!(s.info().unwrap().server_name, None, "no SNI for an IP");
    assert_eq!(c.info().unwrap().server_name, None);

    for name in ["10.1.2.3", "[::1]"] {
        let mut c = TlsSession::client(&cctx, name).unwrap();
        let mut s = TlsSession::server(&sctx).unwrap();
        pump(&mut c, &mut s);
        let err = errors(&mut c).pop().expect("client error");
        assert!(
            matches!(&err, TlsError::Verification { reason, depth: 0, .. } if reason == "IP address mismatch"),
            "{name}: {err:?}"
        );
    }
}

/// Connects a verifying client to a server presenting `id`, expecting both to fail.
fn verification_failure(id: &pki::Identity, name: &str, v: Version) -> (TlsError, TlsError) {
    let sctx = TlsContext::server()
        .cert_chain_pem(&id.cert_pem)
        .private_key_pem(&id.key_pem)
        .build()
        .unwrap();
    let cctx = client_builder().max_version(v).build().unwrap();
    let mut c = TlsSession::client(&cctx, name).unwrap();
    let mut s = TlsSession::server(&sctx).unwrap();
    pump(&mut c, &mut s);
    assert_eq!(c.state(), State::Failed);
    assert_eq!(s.state(), State::Failed, "the server hears the alert");
    let ce = errors(&mut c).pop().unwrap();
    let se = errors(&mut s).pop().unwrap();
    // Later calls give the same error.
    let again = c.feed(b"more").unwrap_err();
    assert_eq!(again.to_string(), ce.to_string());
    assert!(matches!(c.write(b"x"), Err(TlsError::Closed)));
    (ce, se)
}

#[test]
fn verification_failures_name_the_reason() {
    let p = pki();
    let cases = [
        (&p.wronghost, "hostname mismatch", 62),
        (&p.untrusted, "unable to get local issuer certificate", 20),
        (&p.expired, "certificate has expired", 10),
    ];
    for v in [Version::Tls12, Version::Tls13] {
        for (id, want, want_code) in cases {
            let (ce, se) = verification_failure(id, "localhost", v);
            match &ce {
                TlsError::Verification {
                    reason,
                    code,
                    depth,
                } => {
                    assert_eq!(reason, want);
                    assert_eq!(*code, want_code);
                    assert_eq!(*depth, 0);
                }
                other => panic!("{v:?} {want}: expected Verification, got {other:?}"),
            }
            assert!(ce.is_verification());
            assert_eq!(ce.to_string(), format!("certificate verify failed: {want}"));
            assert!(
                matches!(&se, TlsError::Handshake { reason, .. } if reason.contains("alert")),
                "{v:?} {want}: server {se:?}"
            );
        }
    }
}

#[test]
fn verify_off_accepts_anything() {
    let p = pki();
    let sctx = TlsContext::server()
        .cert_chain_pem(&p.untrusted.cert_pem)
        .private_key_pem(&p.untrusted.key_pem)
        .build()
        .unwrap();
    let cctx = TlsContext::client()
        .system_roots(false)
        .verify(false)
        .build()
        .unwrap();
    connect(&cctx, &sctx, "anything.example");
}

fn mtls_server(mode: ClientAuth) -> TlsContext {
    server_builder()
        .client_auth(mode)
        .client_ca_pem(&pki().ca.cert_pem)
        .build()
        .unwrap()
}

#[test]
fn mtls_required_without_certificate_fails_clearly() {
    let sctx = mtls_server(ClientAuth::Required);
    for (v, client_reason) in [
        (Version::Tls12, "alert handshake failure"),
        (Version::Tls13, "tlsv13 alert certificate required"),
    ] {
        let cctx = client_builder().max_version(v).build().unwrap();
        let mut c = TlsSession::client(&cctx, "localhost").unwrap();
        let mut s = TlsSession::server(&sctx).unwrap();
        c.write(b"early").unwrap();
        pump(&mut c, &mut s);
        let se = errors(&mut s).pop().expect("server error");
        assert!(
            matches!(&se, TlsError::Handshake { reason, .. } if reason == "peer did not return a certificate"),
            "{v:?}: {se:?}"
        );
        let ce = errors(&mut c).pop().expect("client error");
        assert!(
            matches!(&ce, TlsError::Handshake { reason, .. } if reason.contains(client_reason)),
            "{v:?}: {ce:?}"
        );
        assert!(s.plaintext().is_empty());
    }
}

#[test]
fn mtls_with_certificate_shows_it_to_the_server() {
    let p = pki();
    for mode in [ClientAuth::Required, ClientAuth::Optional] {
        let sctx = mtls_server(mode);
        for v in [Version::Tls12, Version::Tls13] {
            let cctx = client_builder()
                .max_version(v)
                .client_cert_pem(&p.client.cert_pem, &p.client.key_pem)
                .build()
                .unwrap();
            let (mut c, mut s) = connect(&cctx, &sctx, "localhost");
            let peer = s
                .info()
                .unwrap()
                .peer_certificate
                .clone()
                .expect("client cert");
            assert_eq!(peer.to_pem().unwrap(), p.client.cert_pem);
            assert_eq!(send_all(&mut c, &mut s, b"hi", 2), b"hi");
        }
    }
    // Optional: a client without a certificate is let in.
    let (_c, s) = connect(
        &client_builder().build().unwrap(),
        &mtls_server(ClientAuth::Optional),
        "localhost",
    );
    assert!(s.info().unwrap().peer_certificate.is_none());
}

#[test]
fn mtls_untrusted_client_certificate_is_refused_with_reason() {
    let p = pki();
    let sctx = mtls_server(ClientAuth::Required);
    for v in [Version::Tls12, Version::Tls13] {
        let cctx = client_builder()
            .max_version(v)
            .client_cert_pem(&p.untrusted.cert_pem, &p.untrusted.key_pem)
            .build()
            .unwrap();
        let mut c = TlsSession::client(&cctx, "localhost").unwrap();
        let mut s = TlsSession::server(&sctx).unwrap();
        pump(&mut c, &mut s);
        let se = errors(&mut s).pop().expect("server error");
        assert!(
            matches!(&se, TlsError::Verification { reason, .. } if reason == "unable to get local issuer certificate"),
            "{v:?}: {se:?}"
        );
        let ce = errors(&mut c).pop().expect("client error");
        assert!(
            matches!(&ce, TlsError::Handshake { reason, .. } if reason.contains("alert unknown ca")),
            "{v:?}: {ce:?}"
        );
    }
}

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
