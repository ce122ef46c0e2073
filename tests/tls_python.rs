//! rsuv's TLS against Python's `ssl` module (`tests/tls_peer.py`), another stack on the same
//! OpenSSL: 4 MiB echoed both ways and compared by SHA-256 (Python client against our
//! callback and async servers; our callback and async clients against a Python server), and a
//! peer that drops TCP without `close_notify` after 1 MiB: our reader gets every byte, then
//! [`TlsError::Truncated`] (callback API) or `UnexpectedEof` (async), on either side.
//!
//! `python3` is required: without it the tests fail with a clear message.

#[path = "support/tls_peers.rs"]
mod peers;
#[path = "support/pki.rs"]
mod pki;
mod support;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use openssl::sha::sha256;
use peers::{EchoServer, Proc};
use pki::{PkiFiles, pki};
use rsuv::tls::{AsyncTlsStream, TlsContext, TlsError, TlsRead, TlsStream};
use rsuv::{Loop, RunMode};

const BIG: usize = 4 << 20;
const RAGGED: usize = 1 << 20;

fn files() -> &'static PkiFiles {
    static FILES: OnceLock<PkiFiles> = OnceLock::new();
    FILES.get_or_init(|| {
        peers::require("python3", "--version");
        pki().write_to(&pki::temp_dir("tls-python"))
    })
}

fn script() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tls_peer.py").to_owned()
}

fn path(p: std::path::PathBuf) -> String {
    p.to_str().unwrap().to_owned()
}

fn server_ctx() -> TlsContext {
    pki::server_builder().build().unwrap()
}

fn client_ctx() -> TlsContext {
    pki::client_builder().build().unwrap()
}

/// `tls_peer.py MODE ...` against our server at `addr`.
fn py_client(mode: &str, addr: SocketAddr, size: usize) -> Proc {
    let (port, ca) = (addr.port().to_string(), path(files().pem("ca")));
    Proc::spawn("python3", &[&script(), mode, &port, &ca, &size.to_string()])
}

/// `tls_peer.py MODE ...` as a server, and the address it listens on.
fn py_server(mode: &str, size: usize) -> (Proc, SocketAddr) {
    let (cert, key) = (path(files().pem("server")), path(files().key("server")));
    let p = Proc::spawn(
        "python3",
        &[&script(), mode, &cert, &key, &size.to_string()],
    );
    p.wait_for("port ");
    let text = p.text();
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("port "))
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {text}"));
    (p, ([127, 0, 0, 1], port).into())
}

/// The `WHAT SHA256 LEN` line of the peer's output.
fn reported(out: &str, what: &str) -> String {
    let prefix = format!("{what} ");
    out.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {what:?} line in:\n{out}"))
        .to_owned()
}

fn digest(data: &[u8]) -> String {
    let hex: String = sha256(data).iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex} {}", data.len())
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn python_client_echoes_4_mib_through_both_servers() {
    for server in [
        EchoServer::callback(server_ctx()),
        EchoServer::asynchronous(server_ctx()),
    ] {
        let (code, out) = py_client("client", server.addr, BIG).finish();
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(reported(&out, "got"), reported(&out, "sent"), "{out}");
        assert!(reported(&out, "sent").ends_with(&format!(" {BIG}")));
        assert!(out.contains("eof clean"), "{out}");
        assert_eq!(server.wait_ends(1)[0], ("eof".to_owned(), BIG));
        server.stop();
    }
}

#[test]
fn python_client_dropping_tcp_after_1_mib_is_truncated_on_both_servers() {
    for server in [
        EchoServer::callback(server_ctx()),
        EchoServer::asynchronous(server_ctx()),
    ] {
        let (code, out) = py_client("ragged-client", server.addr, RAGGED).finish();
        assert_eq!(code, Some(0), "{out}");
        // Every byte reached the reader, then the end without close_notify.
        assert_eq!(server.wait_ends(1)[0], ("truncated".to_owned(), RAGGED));
        server.stop();
    }
}

#[test]
fn callback_client_echoes_4_mib_through_a_python_server() {
    let (peer, addr) = py_server("server", BIG);
    let sent = Rc::new(data(BIG));
    let got = Rc::new(RefCell::new(Vec::new()));
    let end = Rc::new(RefCell::new(None));
    let lp = Loop::new().unwrap();
    let wd = support::watchdog(&lp, 60);
    let (d, g, e, ended) = (sent.clone(), got.clone(), end.clone(), end.clone());
    let c = TlsStream::connect(
        &lp.handle(),
        addr,
        &client_ctx(),
        "localhost",
        move |s, r| {
            r.unwrap();
            s.write(&d, |_, r| r.unwrap()).unwrap();
            s.read_start(move |s, r| match r {
                TlsRead::Data(b) => {
                    g.borrow_mut().extend_from_slice(b);
                    if g.borrow().len() == BIG {
                        s.shutdown(peers::shutdown_done(ended.clone())).unwrap();
                    }
                }
                other => {
                    *e.borrow_mut() = Some(format!("{other:?}"));
                    s.close();
                }
            });
        },
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    drop((c, wd));
    support::finish(lp);
    assert_eq!(
        end.borrow().as_deref(),
        Some("Eof"),
        "Python's close_notify"
    );
    assert!(*got.borrow() == *sent, "the echo differs");
    let (code, out) = peer.finish();
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(reported(&out, "got"), digest(&sent));
    assert!(out.contains("eof clean"), "{out}");
}

#[test]
fn async_client_echoes_4_mib_through_a_python_server() {
    let (peer, addr) = py_server("server", BIG);
    let sent = data(BIG);
    let got = support::run_async(Duration::from_secs(60), async {
        let tls = AsyncTlsStream::connect(addr, &client_ctx(), "localhost")
            .await
            .unwrap();
        // Writing and reading at once, in one task: futures' `split` (a BiLock) shares it.
        let (mut reader, mut writer) = tls.split();
        let write = async {
            writer.write_all(&sent).await.unwrap();
            writer
        };
        let read = async {
            let mut got = vec![0u8; BIG];
            reader.read_exact(&mut got).await.unwrap();
            got
        };
        let (mut writer, got) = futures::join!(write, read);
        writer.close().await.unwrap();
        let mut rest = Vec::new();
        assert_eq!(
            reader.read_to_end(&mut rest).await.unwrap(),
            0,
            "close_notify"
        );
        got
    });
    assert!(got == sent, "the echo differs");
    let (code, out) = peer.finish();
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(reported(&out, "got"), digest(&sent));
}

#[test]
fn a_python_server_dropping_tcp_after_1_mib_is_truncated_for_both_clients() {
    // Callback API: every byte, then TlsError::Truncated.
    let (peer, addr) = py_server("ragged-server", RAGGED);
    let got = Rc::new(RefCell::new(Vec::new()));
    let end = Rc::new(RefCell::new(None));
    let lp = Loop::new().unwrap();
    let wd = support::watchdog(&lp, 60);
    let (g, e) = (got.clone(), end.clone());
    let c = TlsStream::connect(
        &lp.handle(),
        addr,
        &client_ctx(),
        "localhost",
        move |s, r| {
            r.unwrap();
            s.read_start(move |s, r| match r {
                TlsRead::Data(b) => g.borrow_mut().extend_from_slice(b),
                TlsRead::Error(err) => {
                    *e.borrow_mut() = Some(err);
                    s.close();
                }
                other => panic!("{other:?}"),
            });
        },
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    drop((c, wd));
    support::finish(lp);
    assert!(matches!(end.borrow().as_ref(), Some(TlsError::Truncated)));
    let (_, out) = peer.finish();
    assert_eq!(digest(&got.borrow()), reported(&out, "sent"));

    // Async: every byte, then an UnexpectedEof error carrying TlsError::Truncated.
    let (peer, addr) = py_server("ragged-server", RAGGED);
    let (got, err) = support::run_async(Duration::from_secs(60), async {
        let mut tls = AsyncTlsStream::connect(addr, &client_ctx(), "localhost")
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match tls.read(&mut buf).await {
                Ok(0) => panic!("a clean end after {} bytes", got.len()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break (got, e),
            }
        }
    });
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<TlsError>());
    assert!(matches!(inner, Some(TlsError::Truncated)), "{err:?}");
    let (_, out) = peer.finish();
    assert_eq!(digest(&got), reported(&out, "sent"));
}
