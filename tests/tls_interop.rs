//! rsuv's TLS against OpenSSL's own command-line peers, mirroring the checks of
//! `shared/tls-interop/tls_interop_check.py`:
//!
//! - our server (callback [`TlsStream`] and [`AsyncTlsStream`]) against `openssl s_client`:
//!   TLS 1.2 and 1.3 echo, ALPN chosen by the server's preference, SNI seen by the `sni`
//!   callback, session resumption for both versions, mTLS required (with and without a client
//!   certificate), KeyUpdate asked for by the client, client-initiated renegotiation refused;
//! - our client against `openssl s_server`: both versions, ALPN, a client certificate for
//!   `-Verify 1`, KeyUpdates from the server (`k`/`K` on its stdin) with data flowing after,
//!   a server-initiated renegotiation (`r`) in the middle of a 1 MiB upload, and the server
//!   certificates that must be refused (wrong host, untrusted CA, expired) with the exact
//!   reason on our side and an alert on theirs.
//!
//! The `openssl` binary is required: without it the tests fail with a clear message. Every
//! peer is bounded in time and killed when the test ends; our servers listen on port 0, and
//! `s_server` on port 0 too (the port it got is read from its `ACCEPT` line).

#[path = "support/tls_peers.rs"]
mod peers;
#[path = "support/pki.rs"]
mod pki;
mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use peers::{EchoServer, Proc};
use pki::{PkiFiles, pki};
use rsuv::rt::TcpStream;
use rsuv::tls::{AsyncTlsStream, ClientAuth, TlsError, TlsRead, TlsStream};
use rsuv::{Loop, RunMode, Timer};

fn files() -> &'static PkiFiles {
    static FILES: OnceLock<PkiFiles> = OnceLock::new();
    FILES.get_or_init(|| {
        peers::require("openssl", "version");
        pki().write_to(&pki::temp_dir("tls-interop"))
    })
}

fn f(p: std::path::PathBuf) -> String {
    p.to_str().unwrap().to_owned()
}

/// `openssl s_client` to `server`, verifying it against our CA, with `extra` flags.
fn s_client(server: &EchoServer, extra: &[&str]) -> Proc {
    let ca = f(files().pem("ca"));
    let addr = server.addr.to_string();
    let mut args = vec!["s_client", "-connect", &addr, "-CAfile", &ca];
    args.push("-verify_return_error");
    args.extend_from_slice(extra);
    Proc::spawn("openssl", &args)
}

/// Sends `line` through `client` and waits for its echo; then closes stdin, so that s_client
/// sends close_notify and exits. Returns s_client's output.
fn echo_once(mut client: Proc, line: &str) -> String {
    client.send(format!("{line}\n").as_bytes());
    client.wait_for(line);
    let (_, out) = client.finish();
    out
}

// ---- our server, openssl s_client ----

#[test]
fn s_client_echoes_over_tls12_and_tls13_with_both_servers() {
    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        for server in [
            EchoServer::callback(pki::server_builder().build().unwrap()),
            EchoServer::asynchronous(pki::server_builder().build().unwrap()),
        ] {
            let client = s_client(&server, &[flag, "-servername", "localhost"]);
            let out = echo_once(client, &format!("ping-{version}"));
            assert!(
                out.contains(&format!("New, {version}, Cipher is ")),
                "{out}"
            );
            assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
            // s_client's close_notify reached the server's reader.
            assert_eq!(server.wait_ends(1)[0].0, "eof");
            let hs = server.handshakes();
            assert_eq!(hs[0].as_ref().unwrap().version, version);
            server.stop();
        }
    }
}

#[test]
fn alpn_picks_the_servers_preference_and_sni_reaches_the_callback() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let ctx = pki::server_builder()
        .alpn(&["h2", "http/1.1"])
        .sni(move |name| {
            s.lock().unwrap().push(name.to_owned());
            None
        })
        .build()
        .unwrap();
    let server = EchoServer::callback(ctx);
    let client = s_client(
        &server,
        &["-alpn", "http/1.1,h2", "-servername", "sni.test"],
    );
    let out = echo_once(client, "alpn-and-sni");
    assert!(out.contains("ALPN protocol: h2"), "{out}");
    assert_eq!(*seen.lock().unwrap(), ["sni.test"]);
    let hs = server.handshakes()[0].clone().unwrap();
    assert_eq!(hs.alpn.as_deref(), Some("h2"));
    assert_eq!(hs.server_name.as_deref(), Some("sni.test"));
    server.stop();
}

#[test]
fn s_client_resumes_sessions_over_tls12_and_tls13() {
    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let server = EchoServer::callback(pki::server_builder().build().unwrap());
        let sess = f(files().dir.join(format!("sess{flag}.pem")));
        let first = s_client(
            &server,
            &[flag, "-servername", "localhost", "-sess_out", &sess],
        );
        let out = echo_once(first, "first");
        assert!(out.contains(&format!("New, {version}")), "{out}");
        let again = s_client(
            &server,
            &[flag, "-servername", "localhost", "-sess_in", &sess],
        );
        let out = echo_once(again, "again");
        assert!(out.contains(&format!("Reused, {version}")), "{out}");
        let hs = server.handshakes();
        assert!(!hs[0].as_ref().unwrap().reused);
        assert!(hs[1].as_ref().unwrap().reused, "{hs:?}");
        server.stop();
    }
}

#[test]
fn mtls_required_echoes_with_a_client_certificate_and_refuses_without() {
    let ctx = pki::server_builder()
        .client_auth(ClientAuth::Required)
        .client_ca_pem(&pki().ca.cert_pem)
        .build()
        .unwrap();
    let server = EchoServer::callback(ctx);
    let (cert, key) = (f(files().pem("client")), f(files().key("client")));
    let with = s_client(&server, &["-cert", &cert, "-key", &key]);
    echo_once(with, "mtls-ok");
    let hs = server.handshakes()[0].clone().unwrap();
    assert!(hs.client_cert.unwrap().contains("client"));

    // TLS 1.3: s_client's handshake completes before the server has checked; its first read
    // gets the alert, and nothing is echoed. It may also read the alert and exit before the
    // line reaches its stdin (seen under valgrind): then there is nothing to send.
    let mut without = s_client(&server, &[]);
    without.send_if_running(b"should-not-echo\n");
    without.wait_for("alert certificate required");
    let (_, out) = without.finish();
    assert!(!out.contains("should-not-echo"), "{out}");
    let hs = server.handshakes();
    let err = hs[1].as_ref().unwrap_err();
    assert!(err.contains("peer did not return a certificate"), "{err}");
    server.stop();
}

#[test]
fn key_updates_from_s_client_are_answered_and_the_echo_goes_on() {
    for server in [
        EchoServer::callback(pki::server_builder().build().unwrap()),
        EchoServer::asynchronous(pki::server_builder().build().unwrap()),
    ] {
        let mut client = s_client(&server, &["-tls1_3", "-servername", "localhost"]);
        client.send(b"before\n");
        client.wait_for("before");
        // s_client drops what follows a command in the same read: one line at a time.
        for (n, (cmd, after)) in [("K", "after-K"), ("k", "after-k")].into_iter().enumerate() {
            client.send(format!("{cmd}\n").as_bytes());
            client.wait_for_n("KEYUPDATE", n + 1);
            client.send(format!("{after}\n").as_bytes());
            client.wait_for(after);
        }
        let (_, out) = client.finish();
        assert!(!out.contains(":error:"), "{out}");
        assert_eq!(server.wait_ends(1)[0], ("eof".into(), 23));
        server.stop();
    }
}

/// OpenSSL's server (SSL_OP_NO_RENEGOTIATION) answers a renegotiating ClientHello with a
/// `no_renegotiation` warning alert; s_client treats that as fatal ("no renegotiation") and
/// sends a handshake_failure alert, so the connection ends on both sides. Nothing is echoed
/// after the attempt, and the server serves the next client.
#[test]
fn client_initiated_renegotiation_is_refused() {
    let server = EchoServer::callback(pki::server_builder().build().unwrap());
    let mut client = s_client(&server, &["-tls1_2", "-servername", "localhost"]);
    client.send(b"before\n");
    client.wait_for("before");
    client.send(b"R\n");
    client.wait_for("RENEGOTIATING");
    client.wait_for("no renegotiation");
    let (_, out) = client.finish();
    assert!(!out.contains("after-reneg"), "{out}");
    let ends = server.wait_ends(1);
    assert!(
        ends[0].0.contains("alert handshake failure"),
        "server: {ends:?}"
    );
    let again = s_client(&server, &["-tls1_2", "-servername", "localhost"]);
    echo_once(again, "next-client");
    server.stop();
}

// ---- our client, openssl s_server ----

/// `openssl s_server` for one connection, on a port of its own choosing, with our server
/// certificate `cert` and `extra` flags.
fn s_server(cert: &str, extra: &[&str]) -> (Proc, std::net::SocketAddr) {
    let (pem, key) = (f(files().pem(cert)), f(files().key(cert)));
    let mut args = vec!["s_server", "-accept", "127.0.0.1:0", "-naccept", "1"];
    args.extend_from_slice(&["-cert", &pem, "-key", &key]);
    args.extend_from_slice(extra);
    let p = Proc::spawn("openssl", &args);
    p.wait_for("ACCEPT 127.0.0.1:");
    let text = p.text();
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("ACCEPT 127.0.0.1:"))
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {text}"));
    (p, ([127, 0, 0, 1], port).into())
}

type Tls = AsyncTlsStream<TcpStream>;

/// Sends `line` and reads the reply line (`s_server -rev` reverses it).
async fn ask(tls: &mut Tls, line: &str) -> String {
    tls.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    let mut reply = String::new();
    tls.read_line(&mut reply).await.unwrap();
    reply
}

#[test]
fn our_client_talks_to_s_server_over_tls12_and_tls13_with_alpn() {
    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let (server, addr) = s_server("server", &["-rev", flag, "-alpn", "h2"]);
        let ctx = pki::client_builder()
            .alpn(&["h2", "http/1.1"])
            .build()
            .unwrap();
        support::run_async(Duration::from_secs(30), async {
            let mut tls = AsyncTlsStream::connect(addr, &ctx, "localhost")
                .await
                .unwrap();
            let info = tls.info().unwrap().clone();
            assert_eq!(info.version, version);
            assert_eq!(info.alpn.as_deref(), Some(&b"h2"[..]));
            assert_eq!(ask(&mut tls, "hello").await, "olleh\n");
            tls.close().await.unwrap();
        });
        let (_, out) = server.finish();
        assert!(out.contains("CONNECTION CLOSED"), "{out}");
    }
}

#[test]
fn our_client_certificate_satisfies_s_server_verify() {
    let ca = f(files().pem("ca"));
    let args = [
        "-rev",
        "-Verify",
        "1",
        "-CAfile",
        &ca,
        "-verify_return_error",
    ];
    let (server, addr) = s_server("server", &args);
    let ctx = pki::client_builder()
        .client_cert_pem(&pki().client.cert_pem, &pki().client.key_pem)
        .build()
        .unwrap();
    support::run_async(Duration::from_secs(30), async {
        let mut tls = AsyncTlsStream::connect(addr, &ctx, "localhost")
            .await
            .unwrap();
        assert_eq!(ask(&mut tls, "mtls").await, "sltm\n");
        tls.close().await.unwrap();
    });
    let (_, out) = server.finish();
    assert!(
        out.contains("CN = client") && out.contains("verify return:1"),
        "{out}"
    );
}

#[test]
fn bad_server_certificates_are_refused_with_the_reason_and_an_alert() {
    let cases = [
        ("wronghost", "hostname mismatch", "alert bad certificate"),
        (
            "untrusted",
            "unable to get local issuer certificate",
            "alert unknown ca",
        ),
        (
            "expired",
            "certificate has expired",
            "alert certificate expired",
        ),
    ];
    for (cert, reason, alert) in cases {
        let (server, addr) = s_server(cert, &[]);
        let ctx = pki::client_builder().build().unwrap();
        let err = support::run_async(Duration::from_secs(30), async {
            AsyncTlsStream::connect(addr, &ctx, "localhost")
                .await
                .unwrap_err()
        });
        match err.get_ref().and_then(|e| e.downcast_ref::<TlsError>()) {
            Some(TlsError::Verification { reason: r, .. }) => assert_eq!(r, reason, "{cert}"),
            other => panic!("{cert}: {err} ({other:?})"),
        }
        assert_eq!(
            err.to_string(),
            format!("certificate verify failed: {reason}")
        );
        let (_, out) = server.finish();
        assert!(out.contains(alert), "{cert}: s_server said:\n{out}");
    }
}

/// s_server in its default mode (what we send goes to its stdout, its stdin comes to us,
/// `k`/`K`/`r` lines are commands), after our client's handshake is done on its side too.
fn interactive_s_server(version_flag: &str, msgfile: &str) -> (Proc, std::net::SocketAddr) {
    s_server("server", &[version_flag, "-msg", "-msgfile", msgfile])
}

#[test]
fn key_updates_from_s_server_are_survived_with_data_flowing_both_ways() {
    let msgs = f(files().dir.join("keyupdate.msg"));
    let (server, addr) = interactive_s_server("-tls1_3", &msgs);
    let ctx = pki::client_builder().build().unwrap();
    let server = RefCell::new(server);
    support::run_async(Duration::from_secs(30), async {
        let mut tls = AsyncTlsStream::connect(addr, &ctx, "localhost")
            .await
            .unwrap();
        tls.write_all(b"hello s_server\n").await.unwrap();
        until(|| server.borrow().has("hello s_server")).await;
        for (n, cmd) in ["K", "k", "K"].into_iter().enumerate() {
            // s_server drops what follows a command in the same read: wait until it is done.
            server.borrow_mut().send(format!("{cmd}\n").as_bytes());
            until(|| key_updates_sent(&msgs) > n).await;
            let line = format!("after {cmd}\n");
            server.borrow_mut().send(line.as_bytes());
            let mut got = String::new();
            tls.read_line(&mut got).await.unwrap();
            assert_eq!(got, line);
            let ours = format!("ours after {cmd}\n");
            tls.write_all(ours.as_bytes()).await.unwrap();
            until(|| server.borrow().has(&ours)).await;
        }
        tls.close().await.unwrap();
        // s_server answers close_notify with its own.
        let mut rest = Vec::new();
        assert_eq!(tls.read_to_end(&mut rest).await.unwrap(), 0);
    });
    let (_, out) = server.into_inner().finish();
    let msgs_file = msgs;
    // Three KeyUpdates sent; two asked for ours, which came back.
    assert_eq!(key_updates_sent(&msgs_file), 3);
    let msgs = std::fs::read_to_string(&msgs_file).unwrap();
    assert_eq!(
        msgs.matches("<<< TLS 1.3, Handshake [length 0005], KeyUpdate")
            .count(),
        2,
        "{msgs}"
    );
    assert!(!out.contains(":error:"), "{out}");
}

fn key_updates_sent(msgfile: &str) -> usize {
    let msgs = std::fs::read_to_string(msgfile).unwrap_or_default();
    msgs.matches(">>> TLS 1.3, Handshake [length 0005], KeyUpdate")
        .count()
}

/// Polls `cond` every 10 ms (the peer's output arrives on other threads).
async fn until(cond: impl Fn() -> bool) {
    while !cond() {
        rsuv::rt::sleep(Duration::from_millis(10)).await;
    }
}

/// Our TLS 1.2 callback client uploads 1 MiB; after the first 256 KiB it pauses until
/// s_server (told `r`) has sent a HelloRequest, then writes the rest while the renegotiation
/// runs. Every byte arrives at s_server, the renegotiation completes (two ClientHellos and
/// two Finished each way), and the connection ends with close_notify both ways.
#[test]
fn server_initiated_renegotiation_during_a_1_mib_upload() {
    let msgs = f(files().dir.join("reneg.msg"));
    let (server, addr) = interactive_s_server("-tls1_2", &msgs);
    let server = Rc::new(RefCell::new(server));
    // Lower-case letters and newlines: nothing s_server prints on its own.
    let data: Rc<Vec<u8>> = Rc::new(
        (0..1 << 20)
            .map(|i| {
                if i % 64 == 63 {
                    b'\n'
                } else {
                    b'a' + (i % 26) as u8
                }
            })
            .collect(),
    );
    let lp = Loop::new().unwrap();
    let wd = support::watchdog(&lp, 60);
    let end = Rc::new(RefCell::new(None));
    let e = end.clone();
    let (srv, d, m, ended) = (server.clone(), data.clone(), msgs.clone(), end.clone());
    let client = TlsStream::connect(
        &lp.handle(),
        addr,
        &pki::client_builder().build().unwrap(),
        "localhost",
        move |s, r| {
            r.unwrap();
            assert_eq!(s.info().unwrap().version, "TLSv1.2");
            s.read_start(move |s, r| match r {
                TlsRead::Data(_) => {}
                other => {
                    *e.borrow_mut() = Some(format!("{other:?}"));
                    s.close();
                }
            });
            let first = 256 * 1024;
            s.write(&d[..first], |_, r| r.unwrap()).unwrap();
            srv.borrow_mut().send(b"r\n");
            // Once the HelloRequest is out, the rest (the renegotiation runs meanwhile).
            let (s, srv) = (s.clone(), srv.clone());
            poll_every(&s.tcp().loop_handle(), move || {
                let sent = std::fs::read_to_string(&m).unwrap_or_default();
                if !sent.contains("HelloRequest") {
                    return false;
                }
                for chunk in d[first..].chunks(64 * 1024) {
                    s.write(chunk, |_, r| r.unwrap()).unwrap();
                }
                // close_notify once every byte has reached s_server.
                let (s2, srv2, want, ended) = (s.clone(), srv.clone(), d.len(), ended.clone());
                poll_every(&s.tcp().loop_handle(), move || {
                    if ended.borrow().is_some() {
                        return true; // the read end came first: the assertions below say how
                    }
                    if received(&srv2.borrow().stdout()).len() < want {
                        return false;
                    }
                    s2.shutdown(peers::shutdown_done(ended.clone())).unwrap();
                    true
                });
                true
            });
        },
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        end.borrow().as_deref(),
        Some("Eof"),
        "s_server's close_notify"
    );
    drop((client, wd));
    support::finish(lp);

    let server = Rc::try_unwrap(server).ok().unwrap().into_inner();
    let got = received(&server.stdout());
    let (_, out) = server.finish();
    assert!(
        got == data[..],
        "s_server got {} bytes of {}:\n{out}",
        got.len(),
        data.len()
    );
    let msgs = std::fs::read_to_string(&msgs).unwrap();
    assert_eq!(
        msgs.matches(">>> TLS 1.2, Handshake [length 0004], HelloRequest")
            .count(),
        1
    );
    assert_eq!(msgs.matches("], ClientHello").count(), 2, "{msgs}");
    assert_eq!(msgs.matches("], Finished").count(), 4, "{msgs}");
}

/// The bytes s_server printed as received: its stdout after the connection summary, without
/// the lines it prints itself (lower-case data never contains them).
fn received(stdout: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(stdout);
    let mut out = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.bytes().all(|b| b.is_ascii_lowercase() || b == b'\n') {
            out.extend_from_slice(line.as_bytes());
        }
    }
    out
}

/// Runs `f` every 10 ms on the loop until it returns `true`.
fn poll_every(lp: &rsuv::LoopHandle, mut f: impl FnMut() -> bool + 'static) {
    let t = Timer::new(lp).unwrap();
    let done = Cell::new(false);
    t.start(Duration::ZERO, Duration::from_millis(10), move |t| {
        if !done.get() && f() {
            done.set(true);
            t.close();
        }
    })
    .unwrap();
    t.detach();
}
