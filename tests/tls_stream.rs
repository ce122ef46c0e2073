//! TlsStream (callback API) over real sockets on 127.0.0.1, both ends rsuv: echo of a few
//! MiB, handshake failures reported on both sides, close_notify both ways, truncation after
//! 1 MiB, a paused reader with bounded memory, handshake timeout, writes before the handshake,
//! garbage from a plain TCP peer, write callbacks during a TLS 1.2 renegotiation. Watchdogs
//! are generous: under valgrind, which runs one thread at a time, a light test shares the CPU
//! with the heavy ones.

#[path = "support/pki.rs"]
mod pki;
mod support;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use rsuv::tls::{TlsContext, TlsError, TlsRead, TlsStream, Version};
use rsuv::{Loop, Tcp, Timer};

fn server_ctx() -> TlsContext {
    pki::server_builder()
        .alpn(&["h2", "http/1.1"])
        .build()
        .unwrap()
}

fn client_ctx() -> TlsContext {
    pki::client_builder().alpn(&["http/1.1"]).build().unwrap()
}

/// A listener on 127.0.0.1:0 whose connections go to `on_conn` (shared, so that a callback
/// can close it when the test is done).
fn listen(lp: &Loop, on_conn: impl Fn(&Tcp) + 'static) -> (Rc<Tcp>, SocketAddr) {
    let l = Tcp::new(lp).unwrap();
    l.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    l.listen(16, move |l, r| {
        r.unwrap();
        on_conn(l);
    })
    .unwrap();
    let addr = l.sockname().unwrap();
    (Rc::new(l), addr)
}

/// An echo server: echoes plaintext, answers close_notify with close_notify, then closes.
fn echo_server(lp: &Loop, ctx: TlsContext) -> (Rc<Tcp>, SocketAddr) {
    listen(lp, move |l| {
        let s = TlsStream::accept(l, &ctx, |s, r| {
            if r.is_err() {
                return;
            }
            s.read_start(|s, r| match r {
                TlsRead::Data(d) => s.write(d, |_, _| {}).unwrap(),
                TlsRead::Eof => s.shutdown(|s, _| s.close()).unwrap(),
                _ => s.close(),
            });
        })
        .unwrap();
        s.detach();
    })
}

/// Closes `listener` after `ms` milliseconds (once the test's connections are made).
fn close_after(lp: &Loop, ms: u64, listener: Rc<Tcp>) {
    let t = Timer::new(lp).unwrap();
    t.start(Duration::from_millis(ms), Duration::ZERO, move |t| {
        listener.close();
        t.close();
    })
    .unwrap();
    t.detach();
}

#[test]
fn echo_4_mib_then_close_notify_both_ways() {
    let lp = Loop::new().unwrap();
    let wd = support::watchdog(&lp, 120);
    let (listener, addr) = echo_server(&lp, server_ctx());
    let data: Rc<Vec<u8>> = Rc::new((0..4u32 << 20).map(|i| (i % 253) as u8).collect());
    let got = Rc::new(RefCell::new(Vec::new()));
    let eof = Rc::new(Cell::new(false));
    let info = Rc::new(RefCell::new(None));
    let (d, g, e, i) = (data.clone(), got.clone(), eof.clone(), info.clone());
    let l = listener.clone();
    let client = TlsStream::connect(
        &lp.handle(),
        addr,
        &client_ctx(),
        "localhost",
        move |s, r| {
            r.unwrap();
            *i.borrow_mut() = s.info();
            s.write(&d, |_, r| r.unwrap()).unwrap();
            s.shutdown(|_, r| r.unwrap()).unwrap();
            s.read_start(move |s, r| match r {
                TlsRead::Data(b) => g.borrow_mut().extend_from_slice(b),
                TlsRead::Eof => {
                    e.set(true);
                    s.close();
                    l.close();
                }
                other => panic!("unexpected {other:?}"),
            });
        },
    )
    .unwrap();
    lp.run(rsuv::RunMode::Default).unwrap();
    assert!(eof.get(), "the server's close_notify arrived");
    assert!(*got.borrow() == *data, "every byte echoed in order");
    let info = info.borrow().clone().unwrap();
    assert_eq!(info.version, "TLSv1.3");
    assert_eq!(info.alpn.as_deref(), Some(&b"http/1.1"[..]));
    drop((client, wd));
    support::finish(lp);
}

#[test]
fn verification_failure_is_reported_on_both_sides() {
    let lp = Loop::new().unwrap();
    let wd = support::watchdog(&lp, 120);
    let server_err = Rc::new(RefCell::new(None));
    let se = server_err.clone();
    let ctx = server_ctx();
    let (listener, addr) = listen(&lp, move |l| {
        let se = se.clone();
        TlsStream::accept(l, &ctx, move |_, r| *se.borrow_mut() = r.err())
            .unwrap()
            .detach();
    });
    let client_err = Rc::new(RefCell::new(None));
    let ce = client_err.clone();
    let c = TlsStream::connect(
        &lp.handle(),
        addr,
        &client_ctx(),
        "wrong.example",
        move |_, r| {
            *ce.borrow_mut() = r.err();
        },
    )
    .unwrap();
    close_after(&lp, 500, listener);
    lp.run(rsuv::RunMode::Default).unwrap();
    match client_err.borrow_mut().take() {
        Some(TlsError::Verification { reason, .. }) => assert_eq!(reason, "hostname mismatch"),
        other => panic!("client got {other:?}"),
    }
    let server_err = server_err
        .borrow_mut()
        .take()
        .expect("the server failed too");
    assert!(
        server_err.to_string().contains("alert"),
        "server: {server_err}"
    );
    assert!(c.is_closed());
    drop((c, wd));
    support::finish(lp);
}

#[test]
fn truncation_after_1_mib_delivers_every_byte_then_truncated() {
    let lp = Loop::new().unwrap();
    let wd = support::watchdog(&lp, 120);
    let ctx = server_ctx();
    // The server writes 1 MiB, then drops TCP without close_notify once it is written.
    let (listener, addr) = listen(&lp, move |l| {
        TlsStream::accept(l, &ctx, |s, r| {
            r.unwrap();
            s.write(&vec![9u8; 1 << 20], |s, r| {
                r.unwrap();
                let s2 = s.clone();
                s.tcp().shutdown(move |_, _| s2.close()).unwrap(); // FIN, no close_notify
            })
            .unwrap();
        })
        .unwrap()
        .detach();
    });
    let got = Rc::new(Cell::new(0usize));
    let end = Rc::new(RefCell::new(None));
    let (g, e) = (got.clone(), end.clone());
    let c = TlsStream::connect(
        &lp.handle(),
        addr,
        &client_ctx(),
        "127.0.0.1",
        move |s, r| {
            r.unwrap();
            s.read_start(move |s, r| match r {
                TlsRead::Data(b) => g.set(g.get() + b.len()),
                TlsRead::Error(err) => {
                    *e.borrow_mut() = Some(err);
                    s.close();
                }
                other => panic!("unexpected {other:?}"),
            });
        },
    )
    .unwrap();
    close_after(&lp, 500, listener);
    lp.run(rsuv::RunMode::Default).unwrap();
    assert_eq!(got.get(), 1 << 20, "every byte before the end");
    assert!(matches!(end.borrow().as_ref(), Some(TlsError::Truncated)));
    drop((c, wd));
    support::finish(lp);
}

#[test]
fn a_silent_peer_times_the_handshake_out_and_garbage_fails_it() {
    let lp = Loop::new().unwrap();
    let wd = support::watchdog(&lp, 120);
    // A plain TCP server that never answers: the handshake times out.
    let (silent, addr) = listen(&lp, |l| {
        let conn = l.accept().unwrap();
        conn.read_start(|c, r| {
            if r.is_err() {
                c.close();
            }
        })
        .unwrap();
        conn.detach();
    });
    let timed_out = Rc::new(RefCell::new(None));
    let t = timed_out.clone();
    let c = TlsStream::connect(
        &lp.handle(),
        addr,
        &client_ctx(),
        "localhost",
        move |_, r| {
            *t.borrow_mut() = r.err();
        },
    )
    .unwrap();
    c.set_handshake_timeout(Duration::from_millis(200)).unwrap();
    // A plain TCP server that answers garbage: a handshake error, not a hang.
    // (It answers once the ClientHello is in, then waits for the client to go: closing with
    // unread bytes would reset the connection instead.)
    let (garbage, addr2) = listen(&lp, |l| {
        let conn = l.accept().unwrap();
        conn.read_start(|c, r| match r {
            Ok(_) => {
                let _ = c.write_nocb(&b"HTTP/1.1 400 Bad Request\r\n\r\n"[..]);
            }
            Err(_) => c.close(),
        })
        .unwrap();
        conn.detach();
    });
    let failed = Rc::new(RefCell::new(None));
    let f = failed.clone();
    let c2 = TlsStream::connect(
        &lp.handle(),
        addr2,
        &client_ctx(),
        "localhost",
        move |_, r| {
            *f.borrow_mut() = r.err();
        },
    )
    .unwrap();
    // The listeners close once both clients have their outcome.
    let stop = Timer::new(&lp).unwrap();
    let (t2, f2) = (timed_out.clone(), failed.clone());
    stop.start(
        Duration::from_millis(50),
        Duration::from_millis(50),
        move |t| {
            if t2.borrow().is_some() && f2.borrow().is_some() {
                silent.close();
                garbage.close();
                t.close();
            }
        },
    )
    .unwrap();
    lp.run(rsuv::RunMode::Default).unwrap();
    assert!(matches!(
        timed_out.borrow().as_ref(),
        Some(TlsError::Timeout)
    ));
    let err = failed
        .borrow_mut()
        .take()
        .expect("garbage fails the handshake");
    assert!(
        matches!(err, TlsError::Handshake { .. } | TlsError::Truncated),
        "{err:?}"
    );
    drop((c, c2, wd, stop));
    support::finish(lp);
}

#[test]
fn early_writes_and_a_paused_reader_with_bounded_memory() {
    let lp = Loop::new().unwrap();
    let wd = support::watchdog(&lp, 120);
    let (listener, addr) = echo_server(&lp, server_ctx());
    const TOTAL: usize = 16 << 20;
    let got = Rc::new(Cell::new(0usize));
    let max_plain = Rc::new(Cell::new(0usize));
    let written = Rc::new(Cell::new(false));
    let c = TlsStream::connect(&lp.handle(), addr, &client_ctx(), "localhost", |_, r| {
        r.unwrap()
    })
    .unwrap();
    // Written before the connection even exists: sent right after the handshake.
    let w = written.clone();
    let chunk = vec![0x5Au8; 1 << 20];
    for i in 0..16 {
        let w = w.clone();
        c.write(&chunk, move |_, r| {
            r.unwrap();
            if i == 15 {
                w.set(true);
            }
        })
        .unwrap();
    }
    assert!(c.write_queue_size() >= TOTAL, "queued until the handshake");
    let (g, m, l) = (got.clone(), max_plain.clone(), listener.clone());
    c.read_start(move |s, r| match r {
        TlsRead::Data(b) => {
            assert!(b.iter().all(|&x| x == 0x5A));
            let before = g.get();
            g.set(before + b.len());
            let held = s.with_session(|t| Ok(t.plaintext().len())).unwrap();
            m.set(m.get().max(held));
            if before < TOTAL / 2 && g.get() >= TOTAL / 2 {
                // Pause reading for 300 ms midway: the socket stops being read.
                s.read_stop();
                let s2 = s.clone();
                let resume = Timer::new(&s.tcp().loop_handle()).unwrap();
                let g2 = g.clone();
                let l2 = l.clone();
                resume
                    .start(Duration::from_millis(300), Duration::ZERO, move |t| {
                        let g3 = g2.clone();
                        let l3 = l2.clone();
                        s2.read_start(move |s, r| match r {
                            TlsRead::Data(b) => {
                                g3.set(g3.get() + b.len());
                                if g3.get() == TOTAL {
                                    s.close();
                                    l3.close();
                                }
                            }
                            other => panic!("{other:?}"),
                        });
                        t.close();
                    })
                    .unwrap();
                resume.detach();
            }
        }
        other => panic!("unexpected {other:?}"),
    });
    lp.run(rsuv::RunMode::Default).unwrap();
    assert!(written.get(), "every early write completed");
    assert_eq!(got.get(), TOTAL, "every byte echoed");
    assert!(
        max_plain.get() <= 256 * 1024 + 16 * 1024,
        "{}",
        max_plain.get()
    );
    drop((c, wd));
    support::finish(lp);
}

#[test]
fn a_timeout_while_still_connecting_closes_cleanly() {
    // The handshake timer fires in the loop iteration before the connect completes: the
    // stream must close the socket, not wait on a shutdown libuv never finishes.
    let lp = Loop::new().unwrap();
    let wd = support::watchdog(&lp, 120);
    let accepted = Rc::new(Cell::new(0));
    let a = accepted.clone();
    let (listener, addr) = listen(&lp, move |l| {
        a.set(a.get() + 1);
        let conn = l.accept().unwrap();
        conn.read_start(|c, r| {
            if r.is_err() {
                c.close(); // the client went away
            }
        })
        .unwrap();
        conn.detach();
    });
    let outcome = Rc::new(RefCell::new(None));
    let (o, l) = (outcome.clone(), listener.clone());
    let c = TlsStream::connect(
        &lp.handle(),
        addr,
        &client_ctx(),
        "localhost",
        move |_, r| {
            *o.borrow_mut() = r.err();
            l.close();
        },
    )
    .unwrap();
    c.set_handshake_timeout(Duration::ZERO).unwrap();
    lp.run(rsuv::RunMode::Default).unwrap();
    assert!(matches!(outcome.borrow().as_ref(), Some(TlsError::Timeout)));
    assert!(c.is_closed());
    drop((c, wd, listener));
    support::finish(lp);
}

#[test]
fn a_peer_that_never_answers_close_notify_hits_the_shutdown_timeout() {
    let lp = Loop::new().unwrap();
    let wd = support::watchdog(&lp, 120);
    let ctx = server_ctx();
    // A TLS server that reads but never answers close_notify (nor closes).
    let held = Rc::new(RefCell::new(Vec::new()));
    let h = held.clone();
    let (listener, addr) = listen(&lp, move |l| {
        let s = TlsStream::accept(l, &ctx, |s, r| {
            r.unwrap();
            s.read_start(|_, _| {});
        })
        .unwrap();
        h.borrow_mut().push(s);
    });
    let end = Rc::new(RefCell::new(None));
    let shut = Rc::new(Cell::new(false));
    let (e, sh, l) = (end.clone(), shut.clone(), listener.clone());
    let c = TlsStream::connect(
        &lp.handle(),
        addr,
        &client_ctx(),
        "localhost",
        move |s, r| {
            r.unwrap();
            s.set_shutdown_timeout(Duration::from_millis(200));
            let sh = sh.clone();
            s.shutdown(move |_, r| sh.set(r.is_ok())).unwrap();
            let (e, l) = (e.clone(), l.clone());
            s.read_start(move |_, r| {
                if let TlsRead::Error(err) = r {
                    *e.borrow_mut() = Some(err);
                    l.close();
                }
            });
        },
    )
    .unwrap();
    let held2 = held.clone();
    let cleanup = Timer::new(&lp).unwrap();
    let e2 = end.clone();
    cleanup
        .start(
            Duration::from_millis(50),
            Duration::from_millis(50),
            move |t| {
                if e2.borrow().is_some() {
                    for s in held2.borrow_mut().drain(..) {
                        s.close();
                    }
                    t.close();
                }
            },
        )
        .unwrap();
    lp.run(rsuv::RunMode::Default).unwrap();
    assert!(shut.get(), "close_notify and FIN went out");
    assert!(matches!(end.borrow().as_ref(), Some(TlsError::Timeout)));
    assert!(c.is_closed());
    drop((c, wd, cleanup, listener, held));
    support::finish(lp);
}

#[test]
fn close_runs_every_pending_callback_once() {
    let lp = Loop::new().unwrap();
    let wd = support::watchdog(&lp, 120);
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    // Closed while connecting: the handshake callback hears Closed as the socket closes.
    let (silent, addr) = listen(&lp, |_| {});
    let l = log.clone();
    let s = TlsStream::connect(
        &lp.handle(),
        addr,
        &client_ctx(),
        "localhost",
        move |_, r| {
            l.borrow_mut().push(format!("handshake {:?}", r.err()));
        },
    )
    .unwrap();
    s.close();
    assert!(log.borrow().is_empty());
    drop(s);
    silent.close();
    lp.run(rsuv::RunMode::Default).unwrap();
    assert_eq!(log.borrow().as_slice(), ["handshake Some(Closed)"]);
    // Closed with 8 MiB on the socket (the peer does not read), a write waiting behind it
    // and a shutdown: each callback runs once, the socket's ones as it closes, although
    // close() let the detached stream go.
    let ctx = server_ctx();
    let servers: Rc<RefCell<Vec<TlsStream>>> = Rc::default();
    let sv = servers.clone();
    let (listener, addr) = listen(&lp, move |l| {
        sv.borrow_mut()
            .push(TlsStream::accept(l, &ctx, |_, _| {}).unwrap()); // never reads
    });
    let l = log.clone();
    let s = TlsStream::connect(
        &lp.handle(),
        addr,
        &client_ctx(),
        "localhost",
        move |s, r| {
            r.unwrap();
            for (i, n) in [8 << 20, 1].into_iter().enumerate() {
                let l = l.clone();
                s.write(&vec![b'x'; n], move |_, r| {
                    l.borrow_mut().push(format!("write {i} {}", r.is_err()));
                })
                .unwrap();
            }
            let l2 = l.clone();
            s.shutdown(move |_, r| l2.borrow_mut().push(format!("shutdown {}", r.is_err())))
                .unwrap();
            let l3 = l.clone();
            s.close_with(move || l3.borrow_mut().push("closed".into()));
        },
    )
    .unwrap();
    s.detach();
    let stop = listener.clone();
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::from_millis(2000), Duration::ZERO, move |t| {
        stop.close();
        servers.borrow_mut().drain(..).for_each(|s| s.close());
        t.close();
    })
    .unwrap();
    lp.run(rsuv::RunMode::Default).unwrap();
    let got = log.borrow().clone();
    assert_eq!(
        got.first().map(String::as_str),
        Some("handshake Some(Closed)")
    );
    let rest = &got[1..];
    assert_eq!(rest.last().map(String::as_str), Some("closed"), "{rest:?}");
    assert_eq!(
        rest,
        ["write 0 true", "write 1 true", "shutdown true", "closed"]
    );
    drop((listener, t, wd));
    support::finish(lp);
}

/// Writes made while a TLS 1.2 renegotiation is in progress wait in the session as plaintext;
/// their callbacks must run only once their bytes are written to the socket, not when they are
/// queued or encrypted. The server lets 256 KiB of plaintext pile up unread (so it stops
/// reading the socket), then asks for a renegotiation and reads again 300 ms later; the
/// renegotiation's ClientHello waits behind the data meanwhile, and the client keeps writing
/// 64 KiB every 5 ms. When the callback of write `k`
/// runs, at most the bytes of the writes after it may still be queued (plus record overhead).
#[test]
fn write_callbacks_during_a_renegotiation_run_when_written() {
    const CHUNK: usize = 64 * 1024;
    const WRITES: usize = 100;
    let lp = Loop::new().unwrap();
    let wd = support::watchdog(&lp, 120);
    let sctx = pki::server_builder()
        .max_version(Version::Tls12)
        .build()
        .unwrap();
    let cctx = pki::client_builder()
        .max_version(Version::Tls12)
        .build()
        .unwrap();
    let received = Rc::new(Cell::new(0usize));
    let r2 = received.clone();
    let (listener, addr) = listen(&lp, move |l| {
        let r3 = r2.clone();
        let s = TlsStream::accept(l, &sctx, move |s, r| {
            r.unwrap();
            let (s1, r4) = (s.clone(), r3.clone());
            let lp = s.tcp().loop_handle();
            // Once the session has stopped reading the socket (its read limit), renegotiate;
            // 300 ms later, start reading.
            let poll = Timer::new(&lp).unwrap();
            let tick = Duration::from_millis(5);
            poll.start(tick, tick, move |t| {
                if s1.with_session(|ss| Ok(ss.wants_input())).unwrap() {
                    return;
                }
                s1.with_session(|ss| ss.renegotiate()).unwrap();
                t.close();
                let (s2, r5) = (s1.clone(), r4.clone());
                after(&s1.tcp().loop_handle(), 300, move || {
                    s2.read_start(move |s, r| match r {
                        TlsRead::Data(d) => r5.set(r5.get() + d.len()),
                        TlsRead::Eof => s.shutdown(|s, _| s.close()).unwrap(),
                        _ => s.close(),
                    });
                });
            })
            .unwrap();
            poll.detach();
        })
        .unwrap();
        s.detach();
        l.close(); // the one connection is in
    });
    let sent = Rc::new(Cell::new(0usize));
    let done = Rc::new(Cell::new(0usize));
    let queued_plaintext = Rc::new(Cell::new(0usize));
    let (sent2, done2, q2) = (sent.clone(), done.clone(), queued_plaintext.clone());
    let client = TlsStream::connect(&lp.handle(), addr, &cctx, "localhost", move |c, r| {
        r.unwrap();
        c.read_start(|_, _| {});
        let (c, sent, done, q) = (c.clone(), sent2.clone(), done2.clone(), q2.clone());
        let t = Timer::new(&c.tcp().loop_handle()).unwrap();
        let tick = Duration::from_millis(5);
        t.start(tick, tick, move |t| {
            let k = sent.get();
            let d = done.clone();
            c.write(&[7; CHUNK], move |c, r| {
                r.unwrap();
                assert_eq!(d.get(), k, "write callbacks in order");
                d.set(k + 1);
                let later = (WRITES - 1 - k) * CHUNK;
                let bound = later + later / 100 + 16 * 1024;
                let queued = c.write_queue_size();
                assert!(
                    queued <= bound,
                    "write {k}'s callback ran with {queued} bytes queued (writes after it: {later})"
                );
            })
            .unwrap();
            let in_session = c.with_session(|s| Ok(s.write_buffered())).unwrap();
            q.set(q.get().max(in_session));
            sent.set(k + 1);
            if k + 1 == WRITES {
                t.close();
                c.shutdown(|_, r| r.unwrap()).unwrap();
            }
        })
        .unwrap();
        t.detach();
    })
    .unwrap();
    lp.run(rsuv::RunMode::Default).unwrap();
    drop((client, wd, listener));
    assert_eq!(done.get(), WRITES, "every write callback ran");
    assert_eq!(received.get(), WRITES * CHUNK, "every byte arrived");
    assert!(
        queued_plaintext.get() >= CHUNK,
        "no write waited for the renegotiation (at most {} bytes queued in the session)",
        queued_plaintext.get()
    );
}

/// Runs `f` once after `ms` milliseconds.
fn after(lp: &rsuv::LoopHandle, ms: u64, f: impl FnOnce() + 'static) {
    let t = Timer::new(lp).unwrap();
    let mut f = Some(f);
    t.start(Duration::from_millis(ms), Duration::ZERO, move |t| {
        if let Some(f) = f.take() {
            f();
        }
        t.close();
    })
    .unwrap();
    t.detach();
}
