//! What the two TLS targets share: contexts over the test PKI made at run time (no key is
//! committed), one real transcript per version, and the checks a session must pass whatever
//! it is fed.
#![allow(dead_code)]

#[path = "../../support/pki.rs"]
mod pki;
#[path = "../../support/tls_transcript.rs"]
mod tls_transcript;

use rsuv::tls::{Event, State, TlsSession, Version};
pub use tls_transcript::{Contexts, Transcript, contexts, transcript};

/// Reads the fuzz input as a script: its bytes, in turn, pick piece sizes and mutations.
pub struct Script<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Script<'a> {
    pub fn new(data: &'a [u8]) -> Script<'a> {
        Script { data, at: 0 }
    }

    /// The next byte, 0 once the input is used up.
    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    pub fn is_done(&self) -> bool {
        self.at >= self.data.len()
    }

    /// What is left, taken whole.
    pub fn rest(&mut self) -> &'a [u8] {
        let r = self.data.get(self.at..).unwrap_or(&[]);
        self.at = self.data.len();
        r
    }
}

/// The input's first byte chooses the version and what the rest is: bytes fed as they are
/// (in pieces the script cuts), or mutations of the recorded flights of the peer.
pub fn run(data: &[u8], server: bool) {
    let mut sc = Script::new(data);
    let head = sc.byte();
    let v = if head & 1 == 0 {
        Version::Tls12
    } else {
        Version::Tls13
    };
    let ctx = contexts(v);
    let mut s = if server {
        TlsSession::server(&ctx.server).unwrap()
    } else {
        TlsSession::client(&ctx.client, "localhost").unwrap()
    };
    let mut check = Checker::default();
    if head & 2 == 0 {
        let cut = sc.byte();
        let input = sc.rest();
        feed_in_pieces(&mut s, &mut check, input, cut);
    } else {
        let t = transcript(v);
        let flights = if server { &t.to_server } else { &t.to_client };
        for flight in flights {
            let mut f = flight.clone();
            // Each op: where (two bytes, wrapped to the flight), and how.
            let ops = sc.byte() % 4;
            for _ in 0..ops {
                let at = usize::from(u16::from_le_bytes([sc.byte(), sc.byte()]));
                mutate(&mut f, at, sc.byte(), sc.byte());
            }
            let cut = sc.byte();
            feed_in_pieces(&mut s, &mut check, &f, cut);
        }
    }
    if head & 4 != 0 {
        s.feed_eof();
        drain(&mut s, &mut check);
    }
    check.end(&s);
}

fn mutate(f: &mut Vec<u8>, at: usize, how: u8, val: u8) {
    if f.is_empty() {
        f.push(val);
        return;
    }
    let at = at % f.len();
    match how % 4 {
        0 => f[at] ^= val | 1,
        1 => f[at] = val,
        2 => f.truncate(at),
        _ => f.insert(at, val),
    }
}

/// Feeds `input` in pieces: `cut` 0 means whole; else piece sizes cycle from `cut`.
fn feed_in_pieces(s: &mut TlsSession, check: &mut Checker, input: &[u8], cut: u8) {
    let mut rest = input;
    let mut n = usize::from(cut);
    while !rest.is_empty() {
        let take = if cut == 0 {
            rest.len()
        } else {
            n.clamp(1, rest.len())
        };
        let (now, later) = rest.split_at(take);
        rest = later;
        check.fed(s.feed(now).map_err(|e| e.to_string()), s);
        drain(s, check);
        n = (n * 7 + 3) % 600 + 1;
    }
}

/// What an application does between feeds: take output, consume plaintext, read events, and
/// write a reply when the handshake is done.
fn drain(s: &mut TlsSession, check: &mut Checker) {
    let out = s.take_output();
    s.recycle_output(out);
    check.plaintext += s.plaintext().len();
    let n = s.plaintext().len();
    s.consume_plaintext(n);
    while let Some(ev) = s.next_event() {
        match ev {
            Event::Error(_) => assert_eq!(s.state(), State::Failed, "an Error event means Failed"),
            Event::HandshakeDone => {
                assert!(s.info().is_some(), "info after the handshake");
                check.handshakes += 1;
            }
            Event::Data => {}
            Event::PeerClosed => assert!(s.close_notify_received()),
            Event::Truncated => {}
            _ => {}
        }
    }
    if s.state() == State::Open {
        let _ = s.write(b"reply");
    }
}

/// The invariants across feeds.
#[derive(Default)]
struct Checker {
    first_error: Option<String>,
    handshakes: u32,
    plaintext: usize,
}

impl Checker {
    fn fed(&mut self, r: Result<(), String>, s: &TlsSession) {
        match (&self.first_error, r) {
            (Some(first), r) => {
                let e = r.expect_err("a failed session keeps failing");
                assert_eq!(&e, first, "the same error every time");
            }
            (None, Err(e)) => {
                assert_eq!(s.state(), State::Failed, "Err means Failed: {e}");
                self.first_error = Some(e);
            }
            (None, Ok(())) => assert_ne!(s.state(), State::Failed, "Failed without an Err"),
        }
    }

    fn end(&self, s: &TlsSession) {
        assert!(self.handshakes <= 1, "one HandshakeDone per session");
        if self.plaintext > 0 {
            assert!(self.handshakes == 1, "no plaintext before the handshake");
        }
        if s.is_handshaking() {
            assert!(s.info().is_none());
        }
    }
}
