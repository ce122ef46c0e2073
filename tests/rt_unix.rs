//! Async Unix sockets: pair, bind/connect/accept, echo, EOF.

mod support;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use rsuv::rt::{UnixListener, UnixStream, spawn_local};
use std::time::Duration;

fn run<T>(body: impl std::future::Future<Output = T>) -> T {
    support::run_async(Duration::from_secs(60), body)
}

#[test]
fn a_pair_talks_both_ways() {
    run(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        b.write_all(b"pong").await.unwrap();
        b.close().await.unwrap();
        let mut rest = Vec::new();
        a.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"pong");
    });
}

#[test]
fn listener_and_connect_by_path() {
    let path = std::env::temp_dir().join(format!("rsuv-rt-unix-{}.sock", std::process::id()));
    let p = path.clone();
    run(async move {
        let listener = UnixListener::bind(&p).unwrap();
        let server = spawn_local(async move {
            let mut conn = listener.accept().await.unwrap();
            let mut msg = Vec::new();
            conn.read_to_end(&mut msg).await.unwrap();
            conn.write_all(&msg).await.unwrap();
            conn.close().await.unwrap();
        });
        let mut c = UnixStream::connect(&p).await.unwrap();
        c.write_all(b"over a path").await.unwrap();
        c.close().await.unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"over a path");
        server.await.unwrap();
        let missing = UnixStream::connect(p.with_extension("missing"))
            .await
            .err()
            .unwrap();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    });
    assert!(
        !path.exists(),
        "the socket file is removed with the listener"
    );
}
