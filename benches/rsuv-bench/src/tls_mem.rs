//! TLS with no sockets: a client and a server `TlsSession` in one thread, ciphertext handed
//! between them in memory, for callgrind (instruction counts are repeatable, wall clock on this
//! machine is not).
//!
//! ```text
//! rsuv-bench tls_mem bulk|pingpong_1k tls12|tls13 [UNITS]
//! ```
//!
//! Bulk: the client sends UNITS MiB (default 64) in 64 KiB writes, the server echoes every byte
//! (decrypts and re-encrypts), the client reads the echo back; at most 1 MiB is in flight.
//! Ping-pong: UNITS round trips (default 10,000) of a 1 KiB message. Ciphertext travels in
//! pieces of at most 64 KiB, as the loop's read buffer hands it over, and output is taken and
//! recycled as `TlsStream` does. Handshakes happen before the measured part; run once with
//! UNITS=0 for the baseline to subtract. Prints `tls_mem ... units=... bytes=... elapsed=...`.

use std::time::Instant;

use rsuv::tls::{TlsContext, TlsSession};

use crate::tls::{CIPHERS, CIPHERSUITES, self_signed, version};

const CHUNK: usize = 64 * 1024;
const WINDOW: usize = 1024 * 1024;
const READ: usize = 64 * 1024;

fn sessions(proto: &str) -> (TlsSession, TlsSession) {
    let (cert, key) = self_signed();
    let v = version(proto);
    let sctx = TlsContext::server()
        .cert_chain_pem(&cert)
        .private_key_pem(&key)
        .min_version(v)
        .max_version(v)
        .ciphers(CIPHERS)
        .ciphersuites(CIPHERSUITES)
        .build()
        .unwrap();
    let cctx = TlsContext::client()
        .verify(false)
        .min_version(v)
        .max_version(v)
        .ciphers(CIPHERS)
        .ciphersuites(CIPHERSUITES)
        .build()
        .unwrap();
    let mut c = TlsSession::client(&cctx, "localhost").unwrap();
    let mut s = TlsSession::server(&sctx).unwrap();
    while c.is_handshaking() || s.is_handshaking() || c.has_output() || s.has_output() {
        carry(&mut c, &mut s, |_| {});
        carry(&mut s, &mut c, |_| {});
    }
    (c, s)
}

/// Moves `from`'s output to `to` in reads of at most 64 KiB, calling `read` on `to` after
/// each (as `TlsStream` delivers plaintext after every socket read).
fn carry(from: &mut TlsSession, to: &mut TlsSession, mut read: impl FnMut(&mut TlsSession)) {
    if !from.has_output() {
        return;
    }
    let out = from.take_output();
    for piece in out.chunks(READ) {
        to.feed(piece).unwrap();
        read(to);
    }
    from.recycle_output(out);
}

pub fn run(workload: &str, proto: &str, units: Option<&str>) {
    let bulk = match workload {
        "bulk" => true,
        "pingpong_1k" => false,
        _ => crate::usage(),
    };
    let units: u64 = units.map_or(if bulk { 64 } else { 10_000 }, |u| {
        u.parse().expect("units")
    });
    let (mut c, mut s) = sessions(proto);
    let msg = vec![b'x'; if bulk { CHUNK } else { 1024 }];
    let total = if bulk {
        units * 1024 * 1024
    } else {
        units * 1024
    };
    let (mut sent, mut got) = (0u64, 0u64);
    let mut spare = Vec::new();
    let t0 = Instant::now();
    while got < total {
        while sent < total && sent - got < WINDOW as u64 && (bulk || sent == got) {
            c.write(&msg).unwrap();
            sent += msg.len() as u64;
        }
        carry(&mut c, &mut s, |s| {
            if !s.plaintext().is_empty() {
                let data = s.take_plaintext(std::mem::take(&mut spare));
                s.write(&data).unwrap();
                spare = data;
            }
        });
        carry(&mut s, &mut c, |c| {
            let n = c.plaintext().len();
            c.consume_plaintext(n);
            got += n as u64;
        });
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "tls_mem workload={workload} proto={proto} units={units} bytes={got} elapsed={secs:.6}"
    );
}
