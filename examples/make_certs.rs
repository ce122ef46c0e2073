//! Writes a throwaway test PKI (made now, with the `openssl` crate: no key is ever committed)
//! into a directory, for trying the TLS examples: `ca.pem`, `server.pem`/`server.key`
//! (DNS:localhost, DNS:sni.test, IP:127.0.0.1), `client.pem`/`client.key`, and the bad ones
//! (`wronghost`, `untrusted` with its `rogue-ca`, `expired`). It is the same PKI the tests use
//! (`tests/support/pki.rs`), with the file names of `make_certs.sh`.
//!
//! Usage: `cargo run --example make_certs DIR` (`make demo` uses `target/demo-certs`).

use std::path::PathBuf;
use std::process::ExitCode;

#[path = "../tests/support/pki.rs"]
mod pki;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = &args[..] else {
        eprintln!("usage: make_certs DIR");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("make_certs: {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let files = pki::pki().write_to(&dir);
    println!("test certificates in {}", files.dir.display());
    ExitCode::SUCCESS
}
