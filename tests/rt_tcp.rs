//! Async TCP: echo with many tasks, EOF, reset, refused, cancel safety of reads, 16 MiB with
//! backpressure, split halves, the listener as a Stream, futures::io::copy on top, AsyncBufRead,
//! and a dropped stream still delivering what its writes accepted.

mod support;

use futures::StreamExt;
use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use futures::task::noop_waker;
use rsuv::rt::{TcpListener, TcpStream, sleep, spawn_local, timeout};
use std::io::ErrorKind;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

fn run<T>(body: impl std::future::Future<Output = T>) -> T {
    support::run_async(Duration::from_secs(120), body)
}

fn any() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// An echo server using futures::io::copy on each connection's split halves.
fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind(any()).unwrap();
    let addr = listener.local_addr().unwrap();
    spawn_local(async move {
        loop {
            let (conn, _) = listener.accept().await.unwrap();
            spawn_local(async move {
                let (mut r, mut w) = conn.into_split();
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
fn fifty_clients_echo_100_kib_each() {
    run(async {
        let addr = echo_server();
        let clients: Vec<_> = (0..50u8)
            .map(|i| {
                spawn_local(async move {
                    let conn = TcpStream::connect(addr).await.unwrap();
                    conn.set_nodelay(true).unwrap();
                    let data: Vec<u8> = (0..100 * 1024).map(|j: u32| (j as u8) ^ i).collect();
                    let (mut r, mut w) = conn.into_split();
                    let sent = data.clone();
                    let writer = spawn_local(async move {
                        w.write_all(&sent).await.unwrap();
                        w.close().await.unwrap();
                    });
                    let mut got = Vec::new();
                    r.read_to_end(&mut got).await.unwrap();
                    writer.await.unwrap();
                    assert!(got == data, "client {i} got its bytes back");
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
    });
}

#[test]
fn eof_reset_and_refused() {
    run(async {
        let listener = TcpListener::bind(any()).unwrap();
        let addr = listener.local_addr().unwrap();
        // EOF: the peer closes its write side.
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut conn, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(client.peer_addr().unwrap(), addr);
        client.write_all(b"bye").await.unwrap();
        client.close().await.unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
        assert_eq!(conn.read(&mut [0u8; 8]).await.unwrap(), 0, "EOF stays EOF");
        // Reset: the peer aborts the connection.
        let client = TcpStream::connect(addr).await.unwrap();
        let (mut conn, _) = listener.accept().await.unwrap();
        client.as_uv().close_reset().unwrap();
        let err = conn.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        assert_eq!(
            conn.read(&mut [0u8; 8]).await.unwrap(),
            0,
            "reported once, then EOF"
        );
        // Refused: nothing listens.
        let closed = std::net::TcpListener::bind(any())
            .unwrap()
            .local_addr()
            .unwrap();
        let err = TcpStream::connect(closed).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn a_read_cancelled_by_a_timeout_loses_nothing() {
    run(async {
        let listener = TcpListener::bind(any()).unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 16];
        let r = timeout(Duration::from_millis(20), conn.read(&mut buf)).await;
        assert!(
            r.is_err(),
            "nothing to read yet: the read future is dropped"
        );
        client.write_all(b"after").await.unwrap();
        let n = conn.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"after");
    });
}

#[test]
fn sixteen_mib_with_a_slow_reader() {
    run(async {
        let listener = TcpListener::bind(any()).unwrap();
        let addr = listener.local_addr().unwrap();
        let total = 16 << 20;
        let writer = spawn_local(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
            for _ in 0..total / chunk.len() {
                c.write_all(&chunk).await.unwrap(); // waits while WRITE_HIGH is queued
            }
            c.close().await.unwrap();
        });
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut got = 0usize;
        let mut buf = vec![0u8; 8192];
        let mut bad = 0;
        loop {
            let n = conn.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            bad += buf[..n]
                .iter()
                .enumerate()
                .filter(|(i, b)| **b != (((got + i) % 65536) % 251) as u8)
                .count();
            got += n;
            if got % (1 << 20) < 8192 {
                sleep(Duration::from_millis(2)).await; // a slow reader: reading pauses, resumes
            }
        }
        writer.await.unwrap();
        assert_eq!((got, bad), (total, 0), "every byte, in order");
    });
}

#[test]
fn the_listener_is_a_stream_and_dropped_tasks_close_connections() {
    run(async {
        let mut listener = TcpListener::bind(any()).unwrap();
        let addr = listener.local_addr().unwrap();
        let connector = spawn_local(async move {
            let mut streams = Vec::new();
            for _ in 0..3 {
                streams.push(TcpStream::connect(addr).await.unwrap());
            }
            let mut eofs = 0;
            for mut s in streams {
                if s.read(&mut [0u8; 1]).await.unwrap() == 0 {
                    eofs += 1;
                }
            }
            eofs
        });
        let accepted: Vec<TcpStream> = (&mut listener).take(3).map(Result::unwrap).collect().await;
        assert_eq!(accepted.len(), 3);
        drop(accepted); // dropping a stream closes its connection: the peers see EOF
        assert_eq!(connector.await.unwrap(), 3);
    });
}

#[test]
fn aborting_a_task_mid_write_is_clean() {
    run(async {
        let listener = TcpListener::bind(any()).unwrap();
        let addr = listener.local_addr().unwrap();
        let task = spawn_local(async move {
            let mut c = TcpStream::connect(addr).await.unwrap();
            let big = vec![1u8; 8 << 20];
            c.write_all(&big).await.unwrap(); // the peer does not read: this waits
            unreachable!("the write cannot finish");
        });
        let (_conn, _) = listener.accept().await.unwrap();
        sleep(Duration::from_millis(30)).await;
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn buffered_reads_lend_the_stream_buffer() {
    run(async {
        let listener = TcpListener::bind(any()).unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut conn, _) = listener.accept().await.unwrap();
        client.write_all(b"first line\nsecond").await.unwrap();
        let mut line = String::new();
        conn.read_line(&mut line).await.unwrap();
        assert_eq!(line, "first line\n");
        // fill_buf lends what is buffered; consume takes part of it.
        let data = conn.fill_buf().await.unwrap().to_vec();
        assert_eq!(data, b"second");
        futures::AsyncBufRead::consume(Pin::new(&mut conn), 3);
        // Bytes already taken from the socket go with the read half.
        let (mut r, _w) = conn.into_split();
        assert_eq!(r.fill_buf().await.unwrap(), b"ond");
        client.write_all(b" and more").await.unwrap();
        client.close().await.unwrap();
        let mut rest = String::new();
        r.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "ond and more");
        assert!(r.fill_buf().await.unwrap().is_empty(), "EOF: empty");
    });
}

#[test]
fn copy_buf_echoes_8_mib_through_the_lent_buffer() {
    run(async {
        let listener = TcpListener::bind(any()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn_local(async move {
            let (conn, _) = listener.accept().await.unwrap();
            let (r, mut w) = conn.into_split();
            let n = futures::io::copy_buf(r, &mut w).await.unwrap();
            w.close().await.unwrap();
            n
        });
        let client = TcpStream::connect(addr).await.unwrap();
        let (mut r, mut w) = client.into_split();
        let data: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
        let expect = data.clone();
        let writer = spawn_local(async move {
            w.write_all(&data).await.unwrap();
            w.close().await.unwrap();
        });
        let mut back = Vec::new();
        r.read_to_end(&mut back).await.unwrap();
        writer.await.unwrap();
        assert_eq!(server.await.unwrap(), 8 << 20);
        assert!(back == expect, "every byte echoed in order");
    });
}

#[test]
fn a_dropped_stream_still_delivers_what_its_writes_accepted() {
    run(async {
        let listener = TcpListener::bind(any()).unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut conn, _) = listener.accept().await.unwrap();
        // Write until the stream refuses (socket buffers full, 1 MiB queued in user space).
        let chunk = vec![7u8; 64 * 1024];
        let mut accepted = 0;
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        while let Poll::Ready(n) =
            futures::AsyncWrite::poll_write(Pin::new(&mut client), &mut cx, &chunk)
        {
            accepted += n.unwrap();
        }
        assert!(client.as_uv().write_queue_size() > 0, "writes are queued");
        drop(client);
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), accepted, "every accepted byte arrives, then EOF");
        assert!(got.iter().all(|&b| b == 7));
    });
}
