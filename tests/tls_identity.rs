//! TlsSession, back to back in memory: who is talking to whom. ALPN, SNI, certificate
//! verification and its failures, client certificates.

#[path = "support/pki.rs"]
mod pki;
#[path = "support/tls_pair.rs"]
mod tls_pair;

use pki::{client_builder, pki, server_builder};
use rsuv::tls::{ClientAuth, State, TlsContext, TlsError, TlsSession, Version};
use tls_pair::*;

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
