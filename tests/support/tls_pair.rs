//! Two TlsSessions wired back to back in memory: moving bytes between them, and what the
//! TlsSession test files check with. Include with `#[path = "support/tls_pair.rs"] mod tls_pair;`
//! beside `#[path = "support/pki.rs"] mod pki;`.
#![allow(dead_code)]

use rsuv::tls::{Event, State, TlsContext, TlsError, TlsSession, Version};

use super::pki::{client_builder, server_builder};

/// How ciphertext travels between the two sessions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Feed {
    /// Everything pending in one `feed` (all records of a flight merged).
    Whole,
    /// One byte per `feed`.
    Bytewise,
}

/// Moves one session's output into the other (errors are left to the events).
pub fn transfer(from: &mut TlsSession, to: &mut TlsSession, mode: Feed) -> bool {
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
pub fn pump_with(c: &mut TlsSession, s: &mut TlsSession, mode: Feed) {
    for _ in 0..10_000 {
        let moved = transfer(c, s, mode) | transfer(s, c, mode);
        if !moved {
            return;
        }
    }
    panic!("pump: still moving bytes after 10000 rounds");
}

pub fn pump(c: &mut TlsSession, s: &mut TlsSession) {
    pump_with(c, s, Feed::Whole)
}

pub fn versioned(v: Version) -> (TlsContext, TlsContext) {
    let c = client_builder()
        .min_version(v)
        .max_version(v)
        .build()
        .unwrap();
    (c, server_builder().build().unwrap())
}

pub fn events(s: &mut TlsSession) -> Vec<Event> {
    std::iter::from_fn(|| s.next_event()).collect()
}

pub fn errors(s: &mut TlsSession) -> Vec<TlsError> {
    events(s)
        .into_iter()
        .filter_map(|e| match e {
            Event::Error(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// A completed handshake between new sessions of `cctx` and `sctx`.
pub fn connect(cctx: &TlsContext, sctx: &TlsContext, name: &str) -> (TlsSession, TlsSession) {
    let mut c = TlsSession::client(cctx, name).unwrap();
    let mut s = TlsSession::server(sctx).unwrap();
    pump(&mut c, &mut s);
    assert_eq!(c.state(), State::Open, "client: {:?}", events(&mut c));
    assert_eq!(s.state(), State::Open, "server: {:?}", events(&mut s));
    (c, s)
}

pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 13) as u8)
        .collect()
}

/// Moves everything `b` has decrypted (and what consuming lets it decrypt) into `got`.
pub fn drain_into(a: &mut TlsSession, b: &mut TlsSession, got: &mut Vec<u8>) {
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
pub fn send_all(a: &mut TlsSession, b: &mut TlsSession, data: &[u8], piece: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(data.len());
    for chunk in data.chunks(piece) {
        assert_eq!(a.write(chunk).unwrap(), chunk.len());
        drain_into(a, b, &mut got);
    }
    drain_into(a, b, &mut got);
    got
}
