//! UdpSocket: echo, truncation, connected sockets and ICMP errors, the bounded receive queue,
//! cancel safety of receives, options.

mod support;

use rsuv::rt::{UdpSocket, sleep, spawn_local, timeout};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Runs `body` on a new runtime, bounded in time, then proves the loop closes cleanly.
fn run<F: Future<Output = io::Result<()>>>(body: F) {
    support::run_async(LIMIT, body).unwrap();
}

#[test]
fn echo_one_hundred_datagrams() {
    run(async {
        let server = Rc::new(UdpSocket::bind(local())?);
        let server_addr = server.local_addr()?;
        let s = server.clone();
        let echo = spawn_local(async move {
            let mut buf = [0; 64];
            for _ in 0..100 {
                let (n, from) = s.recv_from(&mut buf).await?;
                assert_eq!(s.send_to(&buf[..n], from).await?, n);
            }
            io::Result::Ok(())
        });
        let client = UdpSocket::bind(local())?;
        for i in 0..100u32 {
            let msg = format!("datagram {i}");
            assert_eq!(
                client.send_to(msg.as_bytes(), server_addr).await?,
                msg.len()
            );
        }
        let mut buf = [0; 64];
        for i in 0..100u32 {
            let (n, from) = client.recv_from(&mut buf).await?;
            assert_eq!(from, server_addr);
            assert_eq!(&buf[..n], format!("datagram {i}").as_bytes());
        }
        echo.await.unwrap()?;
        assert_eq!(client.dropped(), 0);
        Ok(())
    });
}

#[test]
fn a_datagram_longer_than_the_buffer_is_truncated() {
    run(async {
        let rx = UdpSocket::bind(local())?;
        let tx = UdpSocket::bind(local())?;
        let to = rx.local_addr()?;
        let long: Vec<u8> = (0..100).collect();
        tx.send_to(&long, to).await?;
        tx.send_to(b"next", to).await?;
        tx.send_to(b"", to).await?;
        let mut small = [0; 10];
        let (n, from) = rx.recv_from(&mut small).await?;
        assert_eq!((n, from), (10, tx.local_addr()?));
        assert_eq!(small, long[..10], "the first bytes, the rest discarded");
        let mut buf = [0; 64];
        let n = rx.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"next", "the next datagram, whole");
        assert_eq!(rx.recv(&mut buf).await?, 0, "an empty datagram");
        Ok(())
    });
}

#[test]
fn a_connected_socket_hears_the_closed_port() {
    let closed = std::net::UdpSocket::bind(local())
        .unwrap()
        .local_addr()
        .unwrap();
    run(async move {
        let sock = UdpSocket::bind(local())?;
        sock.connect(closed)?;
        assert_eq!(sock.peer_addr()?, closed);
        assert_eq!(sock.send(b"anyone?").await?, 7);
        let mut buf = [0; 16];
        let err = sock.recv(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
        // Reported once; the socket still works afterwards.
        let peer = UdpSocket::bind(local())?;
        let other = UdpSocket::bind(local())?;
        other.connect(peer.local_addr()?)?;
        assert!(other.send_to(b"x", closed).await.is_err(), "EISCONN");
        other.send(b"hello").await?;
        let (n, from) = peer.recv_from(&mut buf).await?;
        assert_eq!((&buf[..n], from), (&b"hello"[..], other.local_addr()?));
        let unconnected = UdpSocket::bind(local())?;
        assert!(unconnected.peer_addr().is_err());
        assert!(
            unconnected.send(b"where to?").await.is_err(),
            "EDESTADDRREQ"
        );
        Ok(())
    });
}

#[test]
fn a_dropped_receive_loses_no_datagram() {
    run(async {
        let rx = UdpSocket::bind(local())?;
        let tx = UdpSocket::bind(local())?;
        let mut buf = [0; 16];
        // A receive that was waiting (its waker registered) and is dropped.
        let early = timeout(Duration::from_millis(20), rx.recv_from(&mut buf)).await;
        assert!(early.is_err(), "nothing sent yet");
        tx.send_to(b"one", rx.local_addr()?).await?;
        tx.send_to(b"two", rx.local_addr()?).await?;
        let n = rx.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"one");
        let n = rx.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"two");
        Ok(())
    });
}

#[test]
fn two_tasks_receive_on_one_socket() {
    run(async {
        let rx = Rc::new(UdpSocket::bind(local())?);
        let to = rx.local_addr()?;
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                spawn_local(async move {
                    let mut buf = [0; 8];
                    let n = rx.recv(&mut buf).await?;
                    io::Result::Ok(buf[..n].to_vec())
                })
            })
            .collect();
        sleep(Duration::from_millis(5)).await; // both are waiting
        let tx = UdpSocket::bind(local())?;
        tx.send_to(b"a", to).await?;
        tx.send_to(b"b", to).await?;
        let mut got = Vec::new();
        for t in tasks {
            got.push(t.await.unwrap()?);
        }
        got.sort();
        assert_eq!(got, [b"a".to_vec(), b"b".to_vec()]);
        Ok(())
    });
}

#[test]
fn the_receive_queue_is_bounded() {
    run(async {
        let rx = UdpSocket::bind(local())?;
        let to = rx.local_addr()?;
        let mut buf = [0; 16];
        // Start the background receiving, then never read while datagrams arrive, in small
        // batches that the loop takes from the kernel between them, until the queue is full.
        assert!(
            timeout(Duration::from_millis(1), rx.recv(&mut buf))
                .await
                .is_err()
        );
        let tx = UdpSocket::bind(local())?;
        let mut sent = 0;
        while rx.dropped() == 0 {
            assert!(sent < 100_000, "the queue never filled");
            for _ in 0..10 {
                tx.send_to(&sent.to_string().into_bytes(), to).await?;
                sent += 1;
            }
            sleep(Duration::from_millis(1)).await;
        }
        let mut received = 0;
        while timeout(Duration::from_millis(100), rx.recv(&mut buf))
            .await
            .is_ok()
        {
            received += 1;
        }
        let dropped = rx.dropped() as usize;
        assert!(received >= 1024, "the queue was full: {received}");
        assert!(
            received + dropped <= sent,
            "{received} + {dropped} > {sent}"
        );
        Ok(())
    });
}

#[test]
fn options() {
    run(async {
        let s = UdpSocket::bind("0.0.0.0:0".parse().unwrap())?;
        s.set_broadcast(true)?;
        s.set_ttl(64)?;
        assert_eq!(
            s.set_ttl(0).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        s.set_multicast_ttl_v4(1)?;
        s.set_multicast_loop_v4(true)?;
        let group = Ipv4Addr::new(239, 255, 42, 98);
        assert!(
            s.join_multicast_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::UNSPECIFIED)
                .is_err()
        );
        // Loopback without the MULTICAST flag (some sandboxes) refuses to join: ENODEV.
        match s.join_multicast_v4(group, Ipv4Addr::LOCALHOST) {
            Ok(()) => s.leave_multicast_v4(group, Ipv4Addr::LOCALHOST)?,
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ENODEV), "{e}"),
        }
        assert!(format!("{s:?}").contains("UdpSocket"));
        Ok(())
    });
}

#[test]
fn bind_errors() {
    run(async {
        let a = UdpSocket::bind(local())?;
        let err = UdpSocket::bind(a.local_addr()?).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        Ok(())
    });
}
