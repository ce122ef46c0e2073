//! Tcp: echo, EOF, ECONNRESET, EPIPE, ECONNREFUSED, ECANCELED, backpressure with 64 MiB,
//! 1,000 concurrent connections, try_write, options, open(fd), misuse. Loopback, port 0.

mod support;

use rsuv::{Error, Loop, RunMode, Tcp, TcpBindFlags, Timer, WriteBuf};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A listening server whose accepted connections are handed to `on_conn`.
fn server(lp: &Loop, mut on_conn: impl FnMut(Tcp) + 'static) -> (Tcp, SocketAddr) {
    let s = Tcp::new(lp).unwrap();
    s.bind(any_port()).unwrap();
    s.listen(1024, move |s, status| {
        status.unwrap();
        on_conn(s.accept().unwrap());
    })
    .unwrap();
    let addr = s.sockname().unwrap();
    (s, addr)
}

/// Echoes everything back, closes on EOF or error.
fn echo(conn: Tcp) {
    conn.read_start(|c, data| match data {
        Ok(bytes) => c.write(bytes.to_vec(), |_, _| {}).unwrap(),
        Err(_) => c.close(),
    })
    .unwrap();
    conn.detach(); // it closes itself on EOF (or the loop's teardown closes it)
}

#[test]
fn echo_round_trip_then_eof_after_shutdown() {
    let lp = Loop::new().unwrap();
    let dog = support::watchdog(&lp, 60);
    let (srv, addr) = server(&lp, echo);
    let got = Rc::new(RefCell::new(Vec::new()));
    let eof = Rc::new(Cell::new(false));
    let client = Tcp::new(&lp).unwrap();
    let (g, e) = (got.clone(), eof.clone());
    client
        .connect(addr, move |c, r| {
            r.unwrap();
            assert_eq!(c.peername().unwrap(), addr);
            c.write(b"hello ", |_, r| r.unwrap()).unwrap();
            let parts = vec![
                WriteBuf::from(b"vectored "),
                WriteBuf::from(String::from("world")),
            ];
            c.write_vectored(parts, |c, r| {
                r.unwrap();
                c.shutdown(|_, r| r.unwrap()).unwrap();
            })
            .unwrap();
            c.read_start(move |c, data| match data {
                Ok(bytes) => g.borrow_mut().extend_from_slice(bytes),
                Err(err) => {
                    assert_eq!(err, Error::EOF);
                    e.set(true);
                    c.close();
                }
            })
            .unwrap();
        })
        .unwrap();
    lp.run(RunMode::NoWait).unwrap();
    let srv_holder = Rc::new(RefCell::new(Some(srv)));
    let h = srv_holder.clone();
    let closer = Timer::new(&lp).unwrap();
    let e2 = eof.clone();
    closer
        .start(
            Duration::from_millis(1),
            Duration::from_millis(1),
            move |t| {
                if e2.get() {
                    drop(h.borrow_mut().take());
                    t.close();
                }
            },
        )
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(&*got.borrow(), b"hello vectored world");
    assert!(eof.get());
    drop((client, dog, closer));
    support::finish(lp);
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    // A port that was just free: bind a socket, note its port, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let lp = Loop::new().unwrap();
    let result = Rc::new(RefCell::new(None));
    let c = Tcp::new(&lp).unwrap();
    let r = result.clone();
    c.connect(port, move |c, res| {
        *r.borrow_mut() = Some(res);
        c.close();
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*result.borrow(), Some(Err(Error::ECONNREFUSED)));
    support::finish(lp);
}

#[test]
fn peer_reset_gives_econnreset_and_then_writes_fail() {
    let lp = Loop::new().unwrap();
    let dog = support::watchdog(&lp, 60);
    let read_err = Rc::new(RefCell::new(None));
    let write_err = Rc::new(RefCell::new(None));
    let (re, we) = (read_err.clone(), write_err.clone());
    let (srv, addr) = server(&lp, move |conn| {
        let (re, we) = (re.clone(), we.clone());
        conn.read_start(move |c, data| {
            if let Err(e) = data {
                *re.borrow_mut() = Some(e);
                // Writing to a reset connection fails (synchronously or in the callback).
                let we2 = we.clone();
                let r = c.write(b"too late", move |c, r| {
                    *we2.borrow_mut() = Some(r);
                    c.close();
                });
                if let Err(e) = r {
                    *we.borrow_mut() = Some(Err(e));
                    c.close();
                }
            }
        })
        .unwrap();
        conn.detach();
    });
    let client = Tcp::new(&lp).unwrap();
    client
        .connect(addr, |c, r| {
            r.unwrap();
            c.write(b"x", |c, r| {
                r.unwrap();
                c.close_reset().unwrap();
            })
            .unwrap();
        })
        .unwrap();
    let s = Rc::new(RefCell::new(Some(srv)));
    let (s2, re2) = (s.clone(), read_err.clone());
    let poll_done = Timer::new(&lp).unwrap();
    poll_done
        .start(
            Duration::from_millis(1),
            Duration::from_millis(1),
            move |t| {
                if re2.borrow().is_some() {
                    drop(s2.borrow_mut().take());
                    t.close();
                }
            },
        )
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*read_err.borrow(), Some(Error::ECONNRESET));
    let w = write_err.borrow().unwrap();
    assert!(
        matches!(w, Err(Error::EPIPE) | Err(Error::ECONNRESET)),
        "write after reset: {w:?}"
    );
    drop((client, dog, poll_done));
    support::finish(lp);
}

#[test]
fn write_after_shutdown_is_epipe_and_close_cancels_queued_writes() {
    let lp = Loop::new().unwrap();
    let dog = support::watchdog(&lp, 60);
    // The server accepts and never reads, so a large write stays queued.
    let held = Rc::new(RefCell::new(Vec::new()));
    let h = held.clone();
    let (srv, addr) = server(&lp, move |conn| h.borrow_mut().push(conn));
    let outcome = Rc::new(RefCell::new(Vec::new()));
    let client = Tcp::new(&lp).unwrap();
    let o = outcome.clone();
    client
        .connect(addr, move |c, r| {
            r.unwrap();
            let o2 = o.clone();
            c.write(vec![7u8; 32 << 20], move |_, r| {
                o2.borrow_mut().push(("big", r))
            })
            .unwrap();
            assert!(
                c.write_queue_size() > 0,
                "32 MiB cannot all fit in socket buffers"
            );
            let o3 = o.clone();
            c.shutdown(move |_, r| o3.borrow_mut().push(("shutdown", r)))
                .unwrap();
            assert_eq!(c.write(b"after", |_, _| {}), Err(Error::EPIPE));
            // try_write never jumps the queue: with writes queued it answers EAGAIN.
            assert_eq!(c.try_write(b"after"), Err(Error::EAGAIN));
            c.close(); // cancels the queued write and the shutdown
        })
        .unwrap();
    lp.run(RunMode::NoWait).unwrap();
    while outcome.borrow().len() < 2 {
        lp.run(RunMode::Once).unwrap();
    }
    assert_eq!(
        *outcome.borrow(),
        [
            ("big", Err(Error::ECANCELED)),
            ("shutdown", Err(Error::ECANCELED))
        ]
    );
    drop((srv, client, held, dog));
    support::finish(lp);
}

/// Writes `total` bytes of a known pattern in 64 KiB chunks, keeping at most `high` bytes
/// queued, and checks the receiver got every byte in order.
#[test]
fn sixty_four_mib_with_backpressure() {
    const TOTAL: usize = 64 << 20;
    const CHUNK: usize = 64 << 10;
    const HIGH: usize = 1 << 20;
    let lp = Loop::new().unwrap();
    let dog = support::watchdog(&lp, 300);
    let received = Rc::new(Cell::new(0usize));
    let bad = Rc::new(Cell::new(0usize));
    let (r, b) = (received.clone(), bad.clone());
    let (srv, addr) = server(&lp, move |conn| {
        let (r, b) = (r.clone(), b.clone());
        conn.read_start(move |c, data| match data {
            Ok(bytes) => {
                let at = r.get();
                for (i, byte) in bytes.iter().enumerate() {
                    if *byte != ((at + i) % 251) as u8 {
                        b.set(b.get() + 1);
                    }
                }
                r.set(at + bytes.len());
            }
            Err(_) => c.close(),
        })
        .unwrap();
        conn.detach();
    });
    let max_queued = Rc::new(Cell::new(0usize));
    let client = Tcp::new(&lp).unwrap();
    let sent = Rc::new(Cell::new(0usize));
    let (s, mq) = (sent.clone(), max_queued.clone());
    client
        .connect(addr, move |c, r| {
            r.unwrap();
            pump(c, s.clone(), mq.clone());
        })
        .unwrap();
    fn pump(c: &Tcp, sent: Rc<Cell<usize>>, max_q: Rc<Cell<usize>>) {
        while sent.get() < TOTAL && c.write_queue_size() < HIGH {
            let at = sent.get();
            let chunk: Vec<u8> = (at..at + CHUNK).map(|i| (i % 251) as u8).collect();
            sent.set(at + CHUNK);
            let (s, m) = (sent.clone(), max_q.clone());
            c.write(chunk, move |c, r| {
                r.unwrap();
                // Several completions may see the queue empty: shut down once.
                if s.get() == TOTAL && c.write_queue_size() == 0 && c.is_writable() {
                    c.shutdown(|c, _| c.close()).unwrap();
                } else {
                    pump(c, s, m);
                }
            })
            .unwrap();
            max_q.set(max_q.get().max(c.write_queue_size()));
        }
    }
    let srv = Rc::new(RefCell::new(Some(srv)));
    let (s2, r2) = (srv.clone(), received.clone());
    let stop = Timer::new(&lp).unwrap();
    stop.start(
        Duration::from_millis(5),
        Duration::from_millis(5),
        move |t| {
            if r2.get() >= TOTAL {
                drop(s2.borrow_mut().take());
                t.close();
            }
        },
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(received.get(), TOTAL);
    assert_eq!(bad.get(), 0, "every byte arrived in order");
    assert!(
        max_queued.get() < HIGH + CHUNK,
        "queue bounded: {}",
        max_queued.get()
    );
    drop((client, stop, dog));
    support::finish(lp);
}

#[test]
fn one_thousand_concurrent_connections() {
    const N: usize = 1000;
    raise_fd_limit(2 * N + 100);
    let lp = Loop::new().unwrap();
    let dog = support::watchdog(&lp, 300);
    let (srv, addr) = server(&lp, echo);
    let done = Rc::new(Cell::new(0usize));
    let mut clients = Vec::with_capacity(N);
    for i in 0..N {
        let c = Tcp::new(&lp).unwrap();
        let d = done.clone();
        c.connect(addr, move |c, r| {
            r.unwrap();
            let msg = format!("client {i:04}");
            c.write(msg.clone(), |_, r| r.unwrap()).unwrap();
            let mut got = Vec::new();
            let d = d.clone();
            c.read_start(move |c, data| {
                got.extend_from_slice(data.unwrap());
                if got.len() == msg.len() {
                    assert_eq!(got, msg.as_bytes());
                    d.set(d.get() + 1);
                    c.close();
                }
            })
            .unwrap();
        })
        .unwrap();
        clients.push(c);
    }
    let srv = Rc::new(RefCell::new(Some(srv)));
    let (s2, d2) = (srv.clone(), done.clone());
    let stop = Timer::new(&lp).unwrap();
    stop.start(
        Duration::from_millis(5),
        Duration::from_millis(5),
        move |t| {
            if d2.get() == N {
                drop(s2.borrow_mut().take());
                t.close();
            }
        },
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(done.get(), N);
    drop((clients, stop, dog));
    support::finish(lp);
}

fn raise_fd_limit(want: usize) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if (lim.rlim_cur as usize) < want {
        lim.rlim_cur = lim.rlim_max.min(want as libc::rlim_t);
        // SAFETY: valid pointer; raising the soft limit up to the hard one is allowed.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
}

#[test]
fn try_write_until_eagain() {
    let lp = Loop::new().unwrap();
    let held = Rc::new(RefCell::new(Vec::new()));
    let h = held.clone();
    let (srv, addr) = server(&lp, move |conn| h.borrow_mut().push(conn));
    let written = Rc::new(Cell::new(0usize));
    let client = Tcp::new(&lp).unwrap();
    let w = written.clone();
    client
        .connect(addr, move |c, r| {
            r.unwrap();
            let block = vec![1u8; 1 << 16];
            loop {
                match c.try_write_vectored(&[&block, &block]) {
                    Ok(n) => w.set(w.get() + n),
                    Err(e) => {
                        assert_eq!(e, Error::EAGAIN);
                        break;
                    }
                }
            }
            c.close();
        })
        .unwrap();
    let srv = Rc::new(RefCell::new(Some(srv)));
    let (s2, w2) = (srv.clone(), written.clone());
    let stop = Timer::new(&lp).unwrap();
    stop.start(
        Duration::from_millis(1),
        Duration::from_millis(1),
        move |t| {
            if w2.get() > 0 {
                drop(s2.borrow_mut().take());
                t.close();
            }
        },
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert!(
        written.get() > 0,
        "the socket took something before refusing"
    );
    drop((client, held, stop));
    support::finish(lp);
}

#[test]
fn options_names_and_buffer_sizes() {
    let lp = Loop::new().unwrap();
    let t = Tcp::new(&lp).unwrap();
    assert!(t.sockname().is_err(), "no socket yet");
    t.bind(any_port()).unwrap();
    let addr = t.sockname().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    assert_eq!(t.peername(), Err(Error::ENOTCONN));
    t.set_nodelay(true).unwrap();
    t.set_keepalive(Some(Duration::from_secs(30))).unwrap();
    t.set_keepalive(None).unwrap();
    t.set_simultaneous_accepts(false).unwrap();
    t.set_send_buffer_size(64 << 10).unwrap();
    assert_eq!(
        t.send_buffer_size().unwrap(),
        128 << 10,
        "Linux doubles SO_SNDBUF"
    );
    t.set_recv_buffer_size(64 << 10).unwrap();
    assert_eq!(t.recv_buffer_size().unwrap(), 128 << 10);
    assert_eq!(t.set_send_buffer_size(0), Err(Error::EINVAL));
    assert!(t.fileno().unwrap() >= 0);
    // Two sockets on one port with SO_REUSEPORT.
    let flags = TcpBindFlags {
        reuse_port: true,
        ..Default::default()
    };
    let a = Tcp::new(&lp).unwrap();
    a.bind_with(any_port(), flags).unwrap();
    a.listen(8, |_, _| {}).unwrap();
    let b = Tcp::new(&lp).unwrap();
    b.bind_with(a.sockname().unwrap(), flags).unwrap();
    b.listen(8, |_, _| {}).unwrap();
    assert_eq!(a.sockname().unwrap(), b.sockname().unwrap());
    // IPv6-only on the IPv6 loopback, where the machine has it.
    let v6 = Tcp::new(&lp).unwrap();
    let only = TcpBindFlags {
        ipv6_only: true,
        ..Default::default()
    };
    match v6.bind_with("[::1]:0".parse().unwrap(), only) {
        Ok(()) => assert!(v6.sockname().unwrap().is_ipv6()),
        Err(e) => assert_eq!(e, Error::EADDRNOTAVAIL, "no IPv6 loopback here"),
    }
    drop((t, a, b, v6));
    support::finish(lp);
}

#[test]
fn open_an_existing_listener() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let lp = Loop::new().unwrap();
    let tcp = Tcp::open(&lp, std_listener.into()).unwrap();
    assert_eq!(tcp.sockname().unwrap(), addr);
    let accepted = Rc::new(Cell::new(false));
    let a = accepted.clone();
    tcp.listen(8, move |s, r| {
        r.unwrap();
        drop(s.accept().unwrap());
        a.set(true);
        s.close();
    })
    .unwrap();
    let c = Tcp::new(&lp).unwrap();
    c.connect(addr, |c, r| {
        r.unwrap();
        c.close();
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert!(accepted.get());
    drop((tcp, c));
    support::finish(lp);
}

#[test]
fn misuse_and_closed_handles() {
    let lp = Loop::new().unwrap();
    let t = Tcp::new(&lp).unwrap();
    assert_eq!(t.accept().err(), Some(Error::EAGAIN), "nothing pending");
    // No buffer at all: libuv would assert; rsuv refuses.
    assert_eq!(t.write_vectored([], |_, _| {}), Err(Error::EINVAL));
    assert_eq!(t.write(b"x", |_, _| {}), Err(Error::EBADF), "no socket yet");
    assert_eq!(t.read_start(|_, _| {}), Err(Error::ENOTCONN));
    assert_eq!(t.shutdown(|_, _| {}), Err(Error::ENOTCONN));
    t.close();
    assert_eq!(t.bind(any_port()), Err(Error::CLOSED));
    assert_eq!(t.connect(any_port(), |_, _| {}), Err(Error::CLOSED));
    assert_eq!(t.write(b"x", |_, _| {}), Err(Error::CLOSED));
    assert_eq!(t.try_write(b"x"), Err(Error::CLOSED));
    assert_eq!(t.listen(1, |_, _| {}), Err(Error::CLOSED));
    assert_eq!(t.close_reset(), Err(Error::CLOSED));
    assert_eq!(t.write_queue_size(), 0);
    assert!(!t.is_readable() && !t.is_writable());
    // Descriptors that are not stream sockets: a clear error, and the descriptor is closed.
    let file = std::fs::File::open("/proc/self/exe").unwrap();
    assert_eq!(Tcp::open(&lp, file.into()).err(), Some(Error::ENOTSOCK));
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(Tcp::open(&lp, udp.into()).err(), Some(Error::EINVAL));
    support::finish(lp);
}

#[test]
fn connect_cancelled_by_close() {
    let lp = Loop::new().unwrap();
    let result = Rc::new(RefCell::new(None));
    let c = Tcp::new(&lp).unwrap();
    let r = result.clone();
    // A listener with a full backlog is not needed: closing right away cancels the request.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    c.connect(port.local_addr().unwrap(), move |_, res| {
        *r.borrow_mut() = Some(res)
    })
    .unwrap();
    c.close();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*result.borrow(), Some(Err(Error::ECANCELED)));
    support::finish(lp);
}

#[test]
fn shutdown_is_refused_while_connecting_then_works() {
    // libuv would accept this shutdown and never complete it (the loop would hang).
    let lp = Loop::new().unwrap();
    let dog = support::watchdog(&lp, 60);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = Tcp::new(&lp).unwrap();
    let done = Rc::new(RefCell::new(None));
    let d = done.clone();
    c.connect(listener.local_addr().unwrap(), move |c, res| {
        res.unwrap();
        let d = d.clone();
        c.shutdown(move |c, r| {
            *d.borrow_mut() = Some(r);
            c.close();
        })
        .unwrap();
    })
    .unwrap();
    assert_eq!(c.shutdown(|_, _| {}).err(), Some(Error::ENOTCONN));
    lp.run(RunMode::Default).unwrap();
    assert_eq!(
        *done.borrow(),
        Some(Ok(())),
        "once connected, shutdown completes"
    );
    drop((c, dog));
    support::finish(lp);
}

/// A connected pair (client, accepted server side) on `lp`.
fn pair(lp: &Loop) -> (Tcp, Tcp) {
    let slot = Rc::new(RefCell::new(None));
    let s2 = slot.clone();
    let (srv, addr) = server(lp, move |conn| *s2.borrow_mut() = Some(conn));
    let client = Tcp::new(lp).unwrap();
    client.connect(addr, |_, r| r.unwrap()).unwrap();
    while slot.borrow().is_none() {
        lp.run(RunMode::Once).unwrap();
    }
    drop(srv);
    let accepted = slot.borrow_mut().take().unwrap();
    (client, accepted)
}

#[test]
fn a_refused_read_start_keeps_the_running_callback() {
    let lp = Loop::new().unwrap();
    let (client, conn) = pair(&lp);
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    conn.read_start(move |_, d| l.borrow_mut().push(("first", d.map(<[u8]>::to_vec))))
        .unwrap();
    let l = log.clone();
    let second =
        conn.read_start(move |_, d| l.borrow_mut().push(("second", d.map(<[u8]>::to_vec))));
    assert_eq!(second, Err(Error::EALREADY));
    client.write(b"data", |_, r| r.unwrap()).unwrap();
    while log.borrow().is_empty() {
        lp.run(RunMode::Once).unwrap();
    }
    assert_eq!(log.borrow()[0], ("first", Ok(b"data".to_vec())));
    drop((client, conn));
    support::finish(lp);
}

#[test]
fn read_stop_resume_and_is_reading() {
    let lp = Loop::new().unwrap();
    let (client, conn) = pair(&lp);
    assert!(!conn.is_reading());
    assert_eq!(
        conn.read_resume(),
        Err(Error::EINVAL),
        "nothing to resume yet"
    );
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    conn.read_start(move |c, d| match d {
        Ok(bytes) => {
            g.borrow_mut().extend_from_slice(bytes);
            c.read_stop().unwrap(); // one chunk at a time
        }
        Err(e) => {
            assert_eq!(e, Error::EOF);
            assert!(!c.is_reading(), "EOF stops reading");
            c.close();
        }
    })
    .unwrap();
    assert!(conn.is_reading());
    client.write(b"one", |_, r| r.unwrap()).unwrap();
    while got.borrow().is_empty() {
        lp.run(RunMode::Once).unwrap();
    }
    assert!(!conn.is_reading());
    client
        .write(b"two", |c, r| {
            r.unwrap();
            c.shutdown(|_, r| r.unwrap()).unwrap();
        })
        .unwrap();
    // Nothing arrives while stopped.
    for _ in 0..3 {
        lp.run(RunMode::NoWait).unwrap();
    }
    assert_eq!(&*got.borrow(), b"one");
    conn.read_resume().unwrap();
    assert!(conn.is_reading());
    while !conn.is_closing() {
        lp.run(RunMode::Once).unwrap();
        if conn.is_reading() {
            continue;
        }
        let _ = conn.read_resume();
    }
    assert_eq!(&*got.borrow(), b"onetwo");
    assert!(!conn.is_reading());
    drop((client, conn));
    support::finish(lp);
}

#[test]
fn write_copy_writes_borrowed_bytes_and_queues_only_the_rest() {
    let lp = Loop::new().unwrap();
    let (client, conn) = pair(&lp);
    let data: Vec<u8> = (0..(16 << 20)).map(|i: u32| (i % 239) as u8).collect();
    client.write_copy(&data[..1000]).unwrap();
    assert_eq!(
        client.write_queue_size(),
        0,
        "a small write goes out at once"
    );
    client.write_copy(&data[1000..]).unwrap();
    assert!(
        client.write_queue_size() > 0,
        "16 MiB does not fit the socket buffers"
    );
    client.shutdown(|c, _| c.close()).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    conn.read_start(move |c, d| match d {
        Ok(bytes) => g.borrow_mut().extend_from_slice(bytes),
        Err(_) => c.close(),
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert!(*got.borrow() == data, "every byte, in order");
    drop((client, conn));
    support::finish(lp);
}

/// A `ReadSink` over one fixed buffer, recording what each read put there.
struct FixedSink {
    buf: RefCell<Vec<u8>>,
    lent: Cell<usize>,
}

// SAFETY: the buffer is allocated once and never resized or touched while lent (the test
// reads it only inside the read callback, after libuv wrote into it).
unsafe impl rsuv::ReadSink for FixedSink {
    fn buffer(&self, _suggested: usize) -> (*mut u8, usize) {
        self.lent.set(self.lent.get() + 1);
        let mut b = self.buf.borrow_mut();
        (b.as_mut_ptr(), b.len())
    }
}

#[test]
fn read_start_into_reads_into_the_sinks_memory() {
    let lp = Loop::new().unwrap();
    let _dog = support::watchdog(&lp, 30);
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let sink = Rc::new(FixedSink {
        buf: RefCell::new(vec![0; 1000]), // small: many reads
        lent: Cell::new(0),
    });
    let got = Rc::new(RefCell::new(Vec::new()));
    let eof = Rc::new(Cell::new(false));
    let (g, e, s2) = (got.clone(), eof.clone(), sink.clone());
    let (srv, addr) = server(&lp, move |conn| {
        let (g, e, s3) = (g.clone(), e.clone(), s2.clone());
        let dyn_sink: Rc<dyn rsuv::ReadSink> = s2.clone();
        conn.read_start_into(dyn_sink, move |c, r| match r {
            Ok(n) => g.borrow_mut().extend_from_slice(&s3.buf.borrow()[..n]),
            Err(Error::EOF) => {
                e.set(true);
                c.close();
            }
            Err(err) => panic!("read: {err}"),
        })
        .unwrap();
        conn.detach();
    });
    let client = Tcp::new(&lp).unwrap();
    let data = payload.clone();
    client
        .connect(addr, move |c, r| {
            r.unwrap();
            c.write(data, |c, r| {
                r.unwrap();
                c.shutdown(|c, _| c.close()).unwrap();
            })
            .unwrap();
        })
        .unwrap();
    let s = srv;
    let t = Timer::new(&lp).unwrap();
    let e2 = eof.clone();
    t.start(
        Duration::from_millis(5),
        Duration::from_millis(5),
        move |t| {
            if e2.get() {
                t.close();
                s.close();
            }
        },
    )
    .unwrap();
    t.detach();
    lp.run(RunMode::Default).unwrap();
    assert!(eof.get());
    assert_eq!(*got.borrow(), payload);
    assert!(
        sink.lent.get() >= 100,
        "one lend per read: {}",
        sink.lent.get()
    );
}

/// The family of the socket behind `fd`, from getsockname.
fn family_of(fd: std::os::fd::RawFd) -> i32 {
    // SAFETY: all-zero is a valid sockaddr_storage; getsockname writes at most `len` bytes.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: valid out-pointers of the given size.
    let rc = unsafe { libc::getsockname(fd, (&raw mut ss).cast(), &mut len) };
    assert_eq!(rc, 0);
    i32::from(ss.ss_family)
}

#[test]
fn with_family_makes_the_socket_at_once_and_buffer_sizes_apply() {
    let lp = Loop::new().unwrap();
    assert_eq!(
        Tcp::new(&lp).unwrap().fileno(),
        Err(Error::EBADF),
        "AF_UNSPEC: no socket yet"
    );
    for fam in [libc::AF_INET, libc::AF_INET6] {
        let t = Tcp::with_family(&lp, fam).unwrap();
        assert_eq!(family_of(t.fileno().unwrap()), fam);
        t.set_send_buffer_size(1 << 16).unwrap();
        assert!(t.send_buffer_size().unwrap() >= 1 << 16);
        t.set_recv_buffer_size(1 << 16).unwrap();
        assert!(t.recv_buffer_size().unwrap() >= 1 << 16);
    }
    let unspec = Tcp::with_family(&lp, libc::AF_UNSPEC).unwrap();
    assert_eq!(unspec.fileno(), Err(Error::EBADF));
    assert_eq!(unspec.send_buffer_size(), Err(Error::EBADF));
    assert_eq!(
        Tcp::with_family(&lp, libc::AF_UNIX).err(),
        Some(Error::EINVAL)
    );
    assert_eq!(Tcp::with_family(&lp, -1).err(), Some(Error::EINVAL));
    drop(unspec);
    support::finish(lp);
}

#[test]
fn set_blocking_clears_o_nonblock_and_back() {
    let lp = Loop::new().unwrap();
    let listener = std::net::TcpListener::bind(any_port()).unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    let c = Tcp::open(&lp, client.into()).unwrap();
    let fd = c.fileno().unwrap();
    // SAFETY: fcntl(F_GETFL) reads no memory.
    let nonblock = || unsafe { libc::fcntl(fd, libc::F_GETFL) } & libc::O_NONBLOCK != 0;
    assert!(nonblock(), "libuv makes it non-blocking");
    c.set_blocking(true).unwrap();
    assert!(!nonblock());
    // A blocking write completes inside the call: the peer can read it before the loop runs.
    c.write(b"blocking", |_, r| r.unwrap()).unwrap();
    let mut buf = [0u8; 8];
    std::io::Read::read_exact(&mut peer, &mut buf).unwrap();
    assert_eq!(&buf, b"blocking");
    c.set_blocking(false).unwrap();
    assert!(nonblock());
    c.close();
    assert_eq!(c.set_blocking(true), Err(Error::CLOSED));
    support::finish(lp);
}
