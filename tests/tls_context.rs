//! TlsContext builders: configuration errors are `TlsError::Config` with a clear message, and
//! version settings behave.

#[path = "support/pki.rs"]
mod pki;

use pki::pki;
use rsuv::tls::{ClientAuth, State, TlsContext, TlsError, TlsSession, Version};

/// The `what` of a `Config` error (panics on anything else).
fn config_what(r: Result<TlsContext, TlsError>) -> String {
    match r {
        Err(TlsError::Config { what, .. }) => what,
        Err(other) => panic!("expected Config, got {other:?}"),
        Ok(ctx) => panic!("expected an error, built {ctx:?}"),
    }
}

#[test]
fn garbage_pem_is_a_config_error() {
    let p = pki();
    let what = config_what(
        TlsContext::server()
            .cert_chain_pem(b"not a certificate")
            .private_key_pem(&p.server.key_pem)
            .build(),
    );
    assert_eq!(what, "no certificate in certificate chain PEM");
    let what = config_what(
        TlsContext::server()
            .cert_chain_pem(&p.server.cert_pem)
            .private_key_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .build(),
    );
    assert!(what.starts_with("bad private key PEM"), "{what}");
    let what = config_what(TlsContext::client().ca_pem(b"garbage").build());
    assert_eq!(what, "no certificate in CA PEM");
    let bad_cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let what = config_what(TlsContext::client().ca_pem(bad_cert).build());
    assert!(what.starts_with("bad CA PEM: "), "{what}");
    let e = TlsContext::client().ca_pem(b"").build().unwrap_err();
    assert!(
        e.to_string().starts_with("TLS configuration error: "),
        "{e}"
    );
}

#[test]
fn key_not_matching_certificate() {
    let p = pki();
    let what = config_what(
        TlsContext::server()
            .cert_chain_pem(&p.server.cert_pem)
            .private_key_pem(&p.client.key_pem)
            .build(),
    );
    assert_eq!(what, "private key does not match the certificate");
    let what = config_what(
        TlsContext::client()
            .client_cert_pem(&p.client.cert_pem, &p.server.key_pem)
            .build(),
    );
    assert_eq!(what, "client private key does not match the certificate");
}

#[test]
fn missing_files_name_the_path() {
    let what = config_what(
        TlsContext::server()
            .cert_chain_pem_file("/nonexistent/server.pem")
            .private_key_pem_file("/nonexistent/server.key")
            .build(),
    );
    assert!(what.contains("/nonexistent/server.pem"), "{what}");
    assert!(what.contains("No such file"), "{what}");
    let what = config_what(
        TlsContext::client()
            .ca_pem_file("/nonexistent/ca.pem")
            .build(),
    );
    assert!(
        what.contains("cannot read CA file /nonexistent/ca.pem"),
        "{what}"
    );
}

#[test]
fn missing_identity_and_client_ca() {
    let what = config_what(TlsContext::server().build());
    assert!(
        what.contains("needs a certificate chain and a private key"),
        "{what}"
    );
    let p = pki();
    let what = config_what(
        TlsContext::server()
            .cert_chain_pem(&p.server.cert_pem)
            .private_key_pem(&p.server.key_pem)
            .client_auth(ClientAuth::Required)
            .build(),
    );
    assert!(what.contains("client_ca_pem"), "{what}");
}

#[test]
fn bad_alpn_ciphers_and_session_id_context() {
    let what = config_what(TlsContext::client().alpn(&[""]).build());
    assert!(what.contains("ALPN"), "{what}");
    let what = config_what(TlsContext::client().ciphers("NO-SUCH-CIPHER").build());
    assert!(what.contains("cipher list"), "{what}");
    let p = pki();
    let what = config_what(
        TlsContext::server()
            .cert_chain_pem(&p.server.cert_pem)
            .private_key_pem(&p.server.key_pem)
            .session_id_context(&[0; 33])
            .build(),
    );
    assert!(what.contains("session id context"), "{what}");
}

#[test]
fn files_work_like_bytes() {
    let dir = pki::temp_dir("tls-context");
    let files = pki().write_to(&dir);
    for name in [
        "ca",
        "rogue-ca",
        "server",
        "wronghost",
        "untrusted",
        "client",
        "expired",
    ] {
        assert!(
            files.pem(name).exists() && files.key(name).exists(),
            "{name}"
        );
    }
    let server = TlsContext::server()
        .cert_chain_pem_file(files.pem("server"))
        .private_key_pem_file(files.key("server"))
        .client_auth(ClientAuth::Required)
        .client_ca_pem_file(files.pem("ca"))
        .build()
        .unwrap();
    let client = TlsContext::client()
        .system_roots(false)
        .ca_pem_file(files.pem("ca"))
        .client_cert_pem_file(files.pem("client"), files.key("client"))
        .build()
        .unwrap();
    let (c, s) = handshake(&client, &server);
    assert_eq!(c.state(), State::Open);
    assert!(s.info().unwrap().peer_certificate.is_some());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn min_above_max_is_rejected() {
    let what = config_what(
        TlsContext::client()
            .min_version(Version::Tls13)
            .max_version(Version::Tls12)
            .build(),
    );
    assert!(
        what.contains("min_version Tls13 is above max_version Tls12"),
        "{what}"
    );
}

fn handshake(client: &TlsContext, server: &TlsContext) -> (TlsSession, TlsSession) {
    let mut c = TlsSession::client(client, "localhost").unwrap();
    let mut s = TlsSession::server(server).unwrap();
    for _ in 0..100 {
        let (to_s, to_c) = (c.take_output(), s.take_output());
        if to_s.is_empty() && to_c.is_empty() {
            break;
        }
        let _ = s.feed(&to_s);
        let _ = c.feed(&to_c);
    }
    (c, s)
}

fn last_error(s: &mut TlsSession) -> Option<TlsError> {
    std::iter::from_fn(|| s.next_event())
        .filter_map(|e| match e {
            rsuv::tls::Event::Error(e) => Some(e),
            _ => None,
        })
        .last()
}

#[test]
fn version_mismatch_is_a_clear_handshake_error() {
    let p = pki();
    let server = TlsContext::server()
        .cert_chain_pem(&p.server.cert_pem)
        .private_key_pem(&p.server.key_pem)
        .min_version(Version::Tls13)
        .build()
        .unwrap();
    let client = TlsContext::client()
        .system_roots(false)
        .ca_pem(&p.ca.cert_pem)
        .max_version(Version::Tls12)
        .build()
        .unwrap();
    let (mut c, mut s) = handshake(&client, &server);
    assert_eq!(s.state(), State::Failed);
    assert_eq!(c.state(), State::Failed);
    let se = last_error(&mut s).unwrap();
    assert!(
        matches!(&se, TlsError::Handshake { reason, .. } if reason == "unsupported protocol"),
        "{se:?}"
    );
    let ce = last_error(&mut c).unwrap();
    assert!(
        matches!(&ce, TlsError::Handshake { reason, .. } if reason.contains("alert protocol version")),
        "{ce:?}"
    );
    assert_eq!(
        ce.to_string(),
        format!("TLS handshake failed: {}", reason(&ce))
    );
}

fn reason(e: &TlsError) -> &str {
    match e {
        TlsError::Handshake { reason, .. } => reason,
        _ => "",
    }
}

#[test]
fn pinned_versions_and_suites_are_used() {
    let p = pki();
    let server = TlsContext::server()
        .cert_chain_pem(&p.server.cert_pem)
        .private_key_pem(&p.server.key_pem)
        .ciphers("ECDHE-ECDSA-CHACHA20-POLY1305")
        .ciphersuites("TLS_CHACHA20_POLY1305_SHA256")
        .build()
        .unwrap();
    for (v, version, cipher) in [
        (Version::Tls12, "TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305"),
        (Version::Tls13, "TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"),
    ] {
        let client = TlsContext::client()
            .system_roots(false)
            .ca_pem(&p.ca.cert_pem)
            .min_version(v)
            .max_version(v)
            .build()
            .unwrap();
        let (c, _s) = handshake(&client, &server);
        let info = c.info().expect("handshake done");
        assert_eq!(info.version, version);
        assert_eq!(info.cipher, cipher);
    }
    // No common TLS 1.2 cipher: "no shared cipher" on the server.
    let client = TlsContext::client()
        .system_roots(false)
        .ca_pem(&p.ca.cert_pem)
        .max_version(Version::Tls12)
        .ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
        .build()
        .unwrap();
    let (_c, mut s) = handshake(&client, &server);
    let se = last_error(&mut s).unwrap();
    assert!(
        matches!(&se, TlsError::Handshake { reason, .. } if reason == "no shared cipher"),
        "{se:?}"
    );
}

#[test]
fn io_error_mapping() {
    use std::io::ErrorKind;
    let kind = |e: TlsError| std::io::Error::from(e).kind();
    assert_eq!(kind(TlsError::Truncated), ErrorKind::UnexpectedEof);
    assert_eq!(kind(TlsError::Closed), ErrorKind::NotConnected);
    assert_eq!(kind(TlsError::Timeout), ErrorKind::TimedOut);
    let proto = TlsError::Protocol {
        reason: "bad record mac".into(),
        source: None,
    };
    assert_eq!(kind(proto), ErrorKind::InvalidData);
    let inner = std::io::Error::from(ErrorKind::ConnectionReset);
    assert_eq!(kind(TlsError::from(inner)), ErrorKind::ConnectionReset);
    let key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    let ctx_err = TlsContext::client()
        .client_cert_pem(&pki().client.cert_pem, key)
        .build()
        .unwrap_err();
    assert!(
        std::error::Error::source(&ctx_err).is_some(),
        "OpenSSL stack as source"
    );
}
