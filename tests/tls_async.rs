//! AsyncTlsStream over rt::TcpStream on 127.0.0.1, both ends rsuv: echo with futures::io::copy
//! and many concurrent connections, AsyncBufRead lines, close_notify as Ok(0), truncation as
//! UnexpectedEof after every byte, verification errors carried in io::Error, 64 MiB with a
//! paused reader (memory bounded), a read cancelled by a timeout losing nothing.

#[path = "support/pki.rs"]
mod pki;
mod support;

use std::io::ErrorKind;
use std::time::Duration;

use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use rsuv::rt::{TcpListener, sleep, spawn_local, timeout};
use rsuv::tls::{AsyncTlsStream, TlsContext, TlsError};

fn run<T>(body: impl std::future::Future<Output = T>) -> T {
    support::run_async(Duration::from_secs(120), body)
}

fn server_ctx() -> TlsContext {
    pki::server_builder().build().unwrap()
}

fn client_ctx() -> TlsContext {
    pki::client_builder().build().unwrap()
}

/// An echo server: a task per connection, `futures::io::copy` through a split TLS stream.
fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let ctx = server_ctx();
    spawn_local(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let ctx = ctx.clone();
            spawn_local(async move {
                let Ok(tls) = AsyncTlsStream::server(tcp, &ctx).await else {
                    return;
                };
                let (mut r, mut w) = tls.split();
                futures::io::copy(&mut r, &mut w).await.unwrap();
                w.close().await.unwrap();
            })
            .detach();
        }
    })
    .detach();
    addr
}

#[test]
fn twenty_clients_echo_256_kib_each() {
    run(async {
        let addr = echo_server();
        let ctx = client_ctx();
        let mut tasks = Vec::new();
        for i in 0..20u8 {
            let ctx = ctx.clone();
            tasks.push(spawn_local(async move {
                let tls = AsyncTlsStream::connect(addr, &ctx, "localhost")
                    .await
                    .unwrap();
                assert_eq!(tls.info().unwrap().version, "TLSv1.3");
                let (mut r, mut w) = tls.split();
                let data = vec![i; 256 * 1024];
                let expect = data.clone();
                let writer = spawn_local(async move {
                    w.write_all(&data).await.unwrap();
                    w.close().await.unwrap(); // close_notify
                });
                let mut back = Vec::new();
                r.read_to_end(&mut back).await.unwrap(); // Ok(0) at the server's close_notify
                writer.await.unwrap();
                assert!(back == expect);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn lines_through_async_buf_read_and_a_cancelled_read() {
    run(async {
        let addr = echo_server();
        let mut tls = AsyncTlsStream::connect(addr, &client_ctx(), "127.0.0.1")
            .await
            .unwrap();
        let mut buf = [0u8; 8];
        let r = timeout(Duration::from_millis(30), tls.read(&mut buf)).await;
        assert!(r.is_err(), "nothing echoed yet: the read is cancelled");
        tls.write_all(b"one\ntwo\n").await.unwrap();
        let mut line = String::new();
        tls.read_line(&mut line).await.unwrap();
        assert_eq!(line, "one\n");
        line.clear();
        tls.read_line(&mut line).await.unwrap();
        assert_eq!(line, "two\n");
        tls.close().await.unwrap();
        assert_eq!(tls.read(&mut buf).await.unwrap(), 0, "close_notify back");
        assert!(tls.session().close_notify_received());
    });
}

#[test]
fn truncation_is_unexpected_eof_after_every_byte() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn_local(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = AsyncTlsStream::server(tcp, &server_ctx()).await.unwrap();
            tls.write_all(&vec![5u8; 1 << 20]).await.unwrap();
            tls.flush().await.unwrap();
            tls.get_mut().close().await.unwrap(); // TCP FIN without close_notify
            tls
        });
        let mut tls = AsyncTlsStream::connect(addr, &client_ctx(), "localhost")
            .await
            .unwrap();
        let mut got = Vec::new();
        let err = tls.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(got.len(), 1 << 20, "every byte first");
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
        drop(server.await.unwrap());
    });
}

#[test]
fn verification_errors_carry_the_tls_error() {
    run(async {
        let addr = echo_server();
        let err = AsyncTlsStream::connect(addr, &client_ctx(), "wrong.example")
            .await
            .unwrap_err();
        let tls = err.get_ref().and_then(|e| e.downcast_ref::<TlsError>());
        match tls {
            Some(TlsError::Verification { reason, .. }) => {
                assert_eq!(reason, "hostname mismatch")
            }
            other => panic!("{err}: {other:?}"),
        }
        let untrusted = TlsContext::client().system_roots(false).build().unwrap();
        let err = AsyncTlsStream::connect(addr, &untrusted, "localhost")
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("unable to get local issuer certificate"),
            "{err}"
        );
    });
}

#[test]
fn sixty_four_mib_with_a_paused_reader_stays_bounded() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        const TOTAL: usize = 64 << 20;
        let server = spawn_local(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = AsyncTlsStream::server(tcp, &server_ctx()).await.unwrap();
            let chunk = vec![0xA5u8; 256 * 1024];
            let mut sent = 0;
            while sent < TOTAL {
                tls.write_all(&chunk).await.unwrap();
                sent += chunk.len();
            }
            tls.close().await.unwrap();
            tls
        });
        let mut tls = AsyncTlsStream::connect(addr, &client_ctx(), "localhost")
            .await
            .unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        let mut max_plain = 0;
        while got < TOTAL {
            if got >= TOTAL / 2 && got < TOTAL / 2 + buf.len() {
                sleep(Duration::from_millis(300)).await; // the reader pauses midway
            }
            let n = tls.read(&mut buf).await.unwrap();
            assert!(n > 0);
            assert!(buf[..n].iter().all(|&b| b == 0xA5));
            got += n;
            max_plain = max_plain.max(tls.session().plaintext().len());
        }
        assert_eq!(got, TOTAL);
        assert_eq!(tls.read(&mut buf).await.unwrap(), 0);
        // Plaintext held by the session: at most one read's worth of records (the session
        // decrypts only while its buffer is below its high-water mark).
        assert!(max_plain <= 256 * 1024 + 16 * 1024, "{max_plain}");
        drop(server.await.unwrap());
    });
}
