//! Contexts over the test PKI (made at run time) and one real TLS exchange per version, shared
//! by the randomized fuzz test (`tests/tls_fuzz.rs`) and the cargo-fuzz targets
//! (`tests/fuzz/fuzz_targets/tls_common.rs`). The includer declares the `pki` module beside
//! this one.
#![allow(dead_code)]

use std::sync::OnceLock;

use rsuv::tls::{TlsContext, TlsSession, Version};

/// The server and client contexts, TLS 1.2 and 1.3.
pub struct Contexts {
    pub server: TlsContext,
    pub client: TlsContext,
}

pub fn contexts(v: Version) -> &'static Contexts {
    static CTX: OnceLock<[Contexts; 2]> = OnceLock::new();
    let all = CTX.get_or_init(|| {
        let make = |v| Contexts {
            server: super::pki::server_builder()
                .alpn(&["h2", "http/1.1"])
                .build()
                .unwrap(),
            client: super::pki::client_builder()
                .max_version(v)
                .alpn(&["h2"])
                .session_resumption(false)
                .build()
                .unwrap(),
        };
        [make(Version::Tls12), make(Version::Tls13)]
    });
    &all[usize::from(v == Version::Tls13)]
}

/// A real exchange: the bytes each side sent, flight by flight (handshake, data both ways,
/// a key update where 1.3 has one, close_notify).
pub struct Transcript {
    pub to_server: Vec<Vec<u8>>,
    pub to_client: Vec<Vec<u8>>,
}

pub fn transcript(v: Version) -> &'static Transcript {
    static T: OnceLock<[Transcript; 2]> = OnceLock::new();
    &T.get_or_init(|| [record(Version::Tls12), record(Version::Tls13)])
        [usize::from(v == Version::Tls13)]
}

fn record(v: Version) -> Transcript {
    let ctx = contexts(v);
    let mut c = TlsSession::client(&ctx.client, "localhost").unwrap();
    let mut s = TlsSession::server(&ctx.server).unwrap();
    let mut t = Transcript {
        to_server: Vec::new(),
        to_client: Vec::new(),
    };
    c.write(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    for round in 0..20 {
        if round == 3 {
            s.write(&[0x42; 3000]).unwrap();
            if v == Version::Tls13 {
                let _ = s.key_update(true);
            }
        }
        if round == 5 {
            c.shutdown().unwrap();
        }
        let (up, down) = (c.take_output(), s.take_output());
        if up.is_empty() && down.is_empty() && round > 5 {
            break;
        }
        s.feed(&up).unwrap();
        c.feed(&down).unwrap();
        t.to_server.push(up);
        t.to_client.push(down);
    }
    t.to_server.retain(|f| !f.is_empty());
    t.to_client.retain(|f| !f.is_empty());
    t
}
