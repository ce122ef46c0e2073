//! A bounded randomized fuzz of TlsSession: garbage, mutated real transcripts and random splits
//! fed to fresh client and server sessions. It must never panic or spin, and every session
//! must end failed or waiting for more input, with errors reported consistently.
//!
//! Fixed seeds keep it reproducible; `RSUV_TLS_FUZZ_ITERS=<n>` runs `n` iterations per case
//! instead of the default (small enough for the suite to pass under valgrind quickly), and
//! `RSUV_TLS_FUZZ_SEED=<n>` changes the seed.

#[path = "support/pki.rs"]
mod pki;
#[path = "support/tls_transcript.rs"]
mod tls_transcript;

use rsuv::tls::{Event, State, TlsError, TlsSession, Version};
use tls_transcript::{contexts, transcript};

/// xorshift64*: tiny, deterministic, good enough to pick bytes and lengths.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let base = std::env::var("RSUV_TLS_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0x5eed);
        Rng((seed ^ base).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn iterations(default: usize) -> usize {
    std::env::var("RSUV_TLS_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Mutates a copy of `data`: bit flips, byte overwrites, truncation, duplication, insertion.
fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..1 + rng.below(4) {
        if d.is_empty() {
            let n = 1 + rng.below(64);
            d = rng.bytes(n);
            continue;
        }
        let at = rng.below(d.len());
        match rng.below(6) {
            0 | 1 => d[at] ^= 1 << rng.below(8),
            2 => d[at] = rng.next() as u8,
            3 => d.truncate(at),
            4 => {
                let end = (at + 1 + rng.below(64)).min(d.len());
                let piece = d[at..end].to_vec();
                d.splice(at..at, piece);
            }
            _ => {
                let n = 1 + rng.below(16);
                let junk = rng.bytes(n);
                d.splice(at..at, junk);
            }
        }
    }
    d
}

/// Feeds `input` in random pieces (sometimes 1 byte, sometimes all), checking invariants.
fn feed_randomly(rng: &mut Rng, s: &mut TlsSession, input: &[u8]) {
    let mut rest = input;
    let mut failed: Option<String> = None;
    let mut feeds = 0;
    while !rest.is_empty() {
        feeds += 1;
        assert!(feeds <= input.len() + 1, "feeding does not progress");
        let n = match rng.below(4) {
            0 => 1,
            1 => rest.len(),
            _ => 1 + rng.below(rest.len().min(600)),
        };
        let (now, later) = rest.split_at(n.min(rest.len()));
        rest = later;
        let r = s.feed(now);
        if let Some(first) = &failed {
            let e = r.expect_err("a failed session keeps failing");
            assert_eq!(&e.to_string(), first, "the same error every time");
            continue;
        }
        if let Err(e) = r {
            assert_eq!(s.state(), State::Failed, "Err means Failed: {e:?}");
            failed = Some(e.to_string());
        }
        poke(rng, s);
    }
    if rng.below(3) == 0 {
        s.feed_eof();
    }
    check_end(s);
}

/// Calls what an application would between feeds.
fn poke(rng: &mut Rng, s: &mut TlsSession) {
    let _ = s.output().len();
    let out = s.take_output();
    s.recycle_output(out);
    let n = s.plaintext().len();
    s.consume_plaintext(n);
    if rng.below(8) == 0 {
        let _ = s.write(b"reply");
    }
    if rng.below(16) == 0 {
        let _ = s.key_update(rng.below(2) == 0);
    }
    while let Some(ev) = s.next_event() {
        if let Event::Error(_) = ev {
            assert_eq!(s.state(), State::Failed);
        }
    }
}

/// A session left after fuzzing is failed, closed, or still waiting for input.
fn check_end(s: &mut TlsSession) {
    let errors: Vec<TlsError> = std::iter::from_fn(|| s.next_event())
        .filter_map(|e| match e {
            Event::Error(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(errors.len() <= 1, "at most one Error event: {errors:?}");
    match s.state() {
        State::Failed => {
            assert!(s.feed(b"\x16\x03\x03\x00\x01\x01").is_err());
            assert!(matches!(s.write(b"x"), Err(TlsError::Closed)));
            assert!(!s.wants_input());
        }
        State::Handshaking | State::Open | State::Closing | State::Closed => {}
        other => panic!("unexpected state {other:?}"),
    }
}

fn fresh_server(v: Version) -> TlsSession {
    TlsSession::server(&contexts(v).server).unwrap()
}

fn fresh_client(v: Version) -> TlsSession {
    TlsSession::client(&contexts(v).client, "localhost").unwrap()
}

const VERSIONS: [Version; 2] = [Version::Tls12, Version::Tls13];

#[test]
fn garbage_into_fresh_sessions() {
    let mut rng = Rng::new(1);
    for i in 0..iterations(400) {
        let len = rng.below(3000);
        let mut input = rng.bytes(len);
        // Half the time, a plausible record header so that parsing gets further.
        if i % 2 == 0 && input.len() > 5 {
            let body = (input.len() - 5) as u16;
            input[..5].copy_from_slice(&[0x16, 0x03, 0x01, (body >> 8) as u8, body as u8]);
            if input.len() > 6 {
                input[5] = [1, 2, 4, 8, 11, 20][rng.below(6)];
            }
        }
        let v = VERSIONS[i % 2];
        let mut s = if i % 3 == 0 {
            fresh_client(v)
        } else {
            fresh_server(v)
        };
        feed_randomly(&mut rng, &mut s, &input);
    }
}

#[test]
fn mutated_client_flights_into_servers() {
    for (k, v) in VERSIONS.into_iter().enumerate() {
        let t = transcript(v);
        let mut rng = Rng::new(10 + k as u64);
        for _ in 0..iterations(200) {
            let upto = 1 + rng.below(t.to_server.len());
            let mut input: Vec<u8> = t.to_server[..upto].concat();
            if rng.below(4) != 0 {
                input = mutate(&mut rng, &input);
            }
            let mut s = fresh_server(v);
            feed_randomly(&mut rng, &mut s, &input);
        }
    }
}

#[test]
fn mutated_server_flights_into_clients() {
    for (k, v) in VERSIONS.into_iter().enumerate() {
        let t = transcript(v);
        let mut rng = Rng::new(20 + k as u64);
        for _ in 0..iterations(200) {
            let upto = 1 + rng.below(t.to_client.len());
            let input = mutate(&mut rng, &t.to_client[..upto].concat());
            // A fresh client has its own randoms and key share: the replay fails, but every
            // message is parsed on the way.
            let mut c = fresh_client(v);
            feed_randomly(&mut rng, &mut c, &input);
        }
    }
}

#[test]
fn corrupted_traffic_after_handshake() {
    let mut rng = Rng::new(30);
    for i in 0..iterations(100) {
        let v = VERSIONS[i % 2];
        let ctx = contexts(v);
        let mut c = TlsSession::client(&ctx.client, "localhost").unwrap();
        let mut s = TlsSession::server(&ctx.server).unwrap();
        for _ in 0..10 {
            let (up, down) = (c.take_output(), s.take_output());
            if up.is_empty() && down.is_empty() {
                break;
            }
            s.feed(&up).unwrap();
            c.feed(&down).unwrap();
        }
        assert_eq!(c.state(), State::Open);
        let n = 1 + rng.below(40_000);
        let data = rng.bytes(n);
        c.write(&data).unwrap();
        if rng.below(2) == 0 {
            c.shutdown().unwrap();
        }
        let wire = mutate(&mut rng, &c.take_output());
        feed_randomly(&mut rng, &mut s, &wire);
        // Whatever the server said (an alert, perhaps) must not hang or panic the client.
        let back = s.take_output();
        feed_randomly(&mut rng, &mut c, &back);
    }
}
