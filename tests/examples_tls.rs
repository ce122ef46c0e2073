//! The TLS examples run as programs: `tls_echo_server`/`async_tls_echo_server` (started on
//! port 0, their port learnt from the `listening on` line) and `tls_echo_client`/
//! `async_tls_echo_client` (stdin in, echo on stdout, the negotiated parameters on stderr),
//! every client against every server. Certificates are the runtime test PKI written to a temp
//! directory. The harness (`support/examples.rs`) says how the examples are run: `cargo build
//! --examples` first; `RSUV_EXAMPLE_RUNNER` runs servers and clients under valgrind.

#[path = "support/examples.rs"]
mod harness;
#[path = "support/pki.rs"]
mod pki;

use harness::*;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, ExitStatus, Output, Stdio};
use std::sync::{OnceLock, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const SERVERS: [&str; 2] = ["tls_echo_server", "async_tls_echo_server"];
const CLIENTS: [&str; 2] = ["tls_echo_client", "async_tls_echo_client"];

/// The PKI files, written once per test binary.
fn certs() -> &'static pki::PkiFiles {
    static FILES: OnceLock<pki::PkiFiles> = OnceLock::new();
    FILES.get_or_init(|| pki::pki().write_to(&pki::temp_dir("examples-tls")))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn start_server(name: &'static str) -> Example {
    let c = certs();
    let (cert, key) = (c.pem("server"), c.key("server"));
    Example::start(name, &["127.0.0.1:0", path(&cert), path(&key)])
}

/// Runs client `name` with `args`, `input` on its stdin, and waits (at most [`TIMEOUT`]) for
/// it to exit.
fn run_client(name: &str, args: &[&str], input: &[u8]) -> Output {
    let (mut child, stdin) = spawn_client(name, args);
    let input = input.to_vec();
    // Written from a thread: the client may not read all of it (a failed handshake).
    let writer = thread::spawn(move || {
        let mut stdin = stdin;
        let _ = stdin.write_all(&input);
    });
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = wait(&mut child, name);
    writer.join().unwrap();
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn spawn_client(name: &str, args: &[&str]) -> (Child, ChildStdin) {
    let mut child = example_command(name)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {name}: {e}"));
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

/// Reads `r` to its end on a thread.
fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// Waits at most [`TIMEOUT`] for `child` to exit; kills it and fails after that.
fn wait(child: &mut Child, name: &str) -> ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} did not exit within {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Client `name` against `addr` with `input`: every byte echoed, the negotiated parameters
/// on stderr, exit 0 (after the server's close_notify).
fn assert_echoes(name: &str, addr: SocketAddr, input: &[u8]) {
    let ca = certs().pem("ca");
    let out = run_client(name, &[&addr.to_string(), path(&ca)], input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
    assert_same(&out.stdout, input, name);
    assert!(
        stderr.starts_with("negotiated TLSv1.3 TLS_") && stderr.contains(" ALPN http/1.1"),
        "{name}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
}

/// Client `name` with `args` fails: exit 1, `reason` on stderr, nothing on stdout.
fn assert_fails(name: &str, args: &[&str], reason: &str) {
    let out = run_client(name, args, b"never echoed\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{name} {args:?}: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{name} {args:?}: stdout {:?}",
        out.stdout
    );
    assert!(
        stderr.contains(&format!("{name}: certificate verify failed: {reason}")),
        "{name} {args:?}: {stderr}"
    );
}

/// Lines of every length from 0 to 3,000 bytes (about 1.5 MB), bytes 0x00-0xfe (no 0xff) and
/// `\r` included.
fn many_lines() -> Vec<u8> {
    let mut data = Vec::new();
    for i in 0..1000usize {
        let mut line = pattern(i as u64, i * 3 % 3001);
        line.retain(|&b| b != b'\n');
        data.extend_from_slice(&line);
        data.push(b'\n');
    }
    data
}

#[test]
fn a_bad_command_line_prints_usage_and_exits_2() {
    for name in SERVERS {
        assert_usage(name, &[]);
        assert_usage(name, &["127.0.0.1:0", "server.pem"]);
        assert_usage(name, &["nowhere", "server.pem", "server.key"]);
    }
    for name in CLIENTS {
        assert_usage(name, &["127.0.0.1:1"]);
        assert_usage(name, &["127.0.0.1:1", "ca.pem", "--servername"]);
        assert_usage(name, &["127.0.0.1:1", "ca.pem", "--sni", "x"]);
    }
}

#[test]
fn a_server_without_its_certificate_says_why_and_exits_1() {
    let missing = certs().dir.join("missing.pem");
    let key = certs().key("server");
    for name in SERVERS {
        let out = example_command(name)
            .args(["127.0.0.1:0", path(&missing), path(&key)])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}");
        assert!(
            stderr.contains("cannot read certificate chain file") && stderr.contains("missing.pem"),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn sigint_or_sigterm_right_after_the_listening_line_exits_0() {
    let c = certs();
    let (cert, key) = (c.pem("server"), c.key("server"));
    for name in SERVERS {
        stops_at_once_on_sigint_and_sigterm(name, &["127.0.0.1:0", path(&cert), path(&key)]);
    }
}

#[test]
fn every_client_echoes_through_every_server() {
    let lines = many_lines();
    for server in SERVERS {
        let s = start_server(server);
        for client in CLIENTS {
            assert_echoes(client, s.addr, b"hello\nworld\n");
            assert_echoes(client, s.addr, b"no newline at the end");
            assert_echoes(client, s.addr, b""); // connect, close_notify both ways
            assert_echoes(client, s.addr, &lines);
        }
        s.stop();
    }
}

#[test]
fn clients_refuse_a_wrong_name_or_an_untrusted_ca_and_the_server_goes_on() {
    let c = certs();
    let (ca, rogue) = (c.pem("ca"), c.pem("rogue-ca"));
    for server in SERVERS {
        let mut s = start_server(server);
        let addr = s.addr.to_string();
        for client in CLIENTS {
            let wrong = [addr.as_str(), path(&ca), "--servername", "wrong.example"];
            assert_fails(client, &wrong, "hostname mismatch");
            let untrusted = [addr.as_str(), path(&rogue)];
            assert_fails(client, &untrusted, "unable to get local issuer certificate");
        }
        s.assert_running();
        assert_echoes(CLIENTS[0], s.addr, b"still serving\n");
        // The server saw the clients' alerts.
        let stderr = s.stop();
        assert!(
            stderr.contains("alert bad certificate"),
            "{server}: {stderr}"
        );
        assert!(stderr.contains("alert unknown ca"), "{server}: {stderr}");
    }
}

#[test]
fn servers_survive_plain_tcp_garbage_resets_and_silence() {
    for server in SERVERS {
        let mut s = start_server(server);
        // Not TLS at all: the handshake fails (an alert back, then the end of stream).
        let mut plain = connect(s.addr);
        plain
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut back = Vec::new();
        let _ = retry(|| plain.read_to_end(&mut back));
        assert!(back.len() < 64, "{server}: {back:?}");
        // Random bytes, a reset mid-handshake, a connection that says nothing.
        let mut noise = connect(s.addr);
        noise.write_all(&pattern(3, 100_000)).unwrap_or(());
        reset(connect(s.addr));
        let silent = connect(s.addr);
        s.assert_running();
        assert_echoes(CLIENTS[1], s.addr, b"after the garbage\n");
        drop((noise, silent));
        let stderr = s.stop();
        assert!(stderr.contains("handshake"), "{server}: {stderr}");
    }
}

#[test]
fn servers_stop_on_sigterm_with_a_tls_connection_open() {
    for server in SERVERS {
        let s = start_server(server);
        // A client whose stdin stays open: connected, echoing, not finished.
        let ca = certs().pem("ca");
        let (mut child, mut stdin) = spawn_client(CLIENTS[0], &[&s.addr.to_string(), path(&ca)]);
        let (tx, rx) = mpsc::channel();
        let mut stdout = child.stdout.take().unwrap();
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 64];
            while let Ok(n @ 1..) = retry(|| stdout.read(&mut buf)) {
                let _ = tx.send(buf[..n].to_vec());
            }
        });
        let err = drain(child.stderr.take().unwrap());
        stdin.write_all(b"first\n").unwrap();
        let mut echoed = Vec::new();
        while echoed.len() < 6 {
            match rx.recv_timeout(TIMEOUT) {
                Ok(chunk) => echoed.extend(chunk),
                Err(e) => {
                    let _ = child.kill();
                    panic!("{server}: no echo: {e}");
                }
            }
        }
        assert_eq!(echoed, b"first\n");
        s.stop();
        // The server went away without close_notify: the client says so and exits 1.
        let status = wait(&mut child, CLIENTS[0]);
        reader.join().unwrap();
        let stderr = String::from_utf8(err.join().unwrap()).unwrap();
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("without close_notify"), "{stderr}");
        drop(stdin);
    }
}
