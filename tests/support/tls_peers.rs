//! What the TLS interop tests share (`tls_interop.rs`, `tls_python.rs`): an rsuv TLS echo
//! server on a thread of its own (callback [`TlsStream`] or [`AsyncTlsStream`]) that logs what
//! each connection saw, and a peer process (`openssl s_client`/`s_server`, `python3`) whose
//! output is collected while it runs, killed if the test ends first. Include it with
//! `#[path = "support/tls_peers.rs"] mod peers;` (after `mod support;`).
#![allow(dead_code)]

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt, FutureExt};
use rsuv::tls::{AsyncTlsStream, HandshakeInfo, TlsContext, TlsError, TlsRead, TlsStream};
use rsuv::{Async, AsyncSender, Loop, RunMode, Tcp};

/// A `shutdown` callback for a client whose read callback closes the stream when the read
/// end comes. The peer answers our `close_notify` with its own at once, and its answer can be
/// read before libuv completes our socket's shutdown (a read is handled before a write in
/// the same poll): the close then answers the shutdown with [`TlsError::Closed`]. That is
/// accepted only once `ended` holds the read end; any other error fails the test.
pub fn shutdown_done(
    ended: Rc<RefCell<Option<String>>>,
) -> impl FnOnce(&TlsStream, Result<(), TlsError>) {
    move |_, r| match r {
        Ok(()) => {}
        Err(TlsError::Closed) if ended.borrow().is_some() => {}
        Err(e) => panic!("shutdown: {e:?} (read end: {:?})", ended.borrow()),
    }
}

/// How long a peer may take for anything.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Fails the test with a clear message if `program` cannot be run (no silent skip).
pub fn require(program: &str, version_arg: &str) {
    let ok = Command::new(program)
        .arg(version_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{program} {version_arg}` failed: these tests need {program} (run .ci/setup)"
    );
}

// ---- the rsuv echo server ----

/// A completed handshake, as the server saw it.
#[derive(Clone, Debug)]
pub struct Handshake {
    pub version: &'static str,
    pub cipher: String,
    pub alpn: Option<String>,
    pub reused: bool,
    pub server_name: Option<String>,
    /// The client certificate's subject, if one was sent.
    pub client_cert: Option<String>,
}

impl From<&HandshakeInfo> for Handshake {
    fn from(i: &HandshakeInfo) -> Handshake {
        Handshake {
            version: i.version,
            cipher: i.cipher.clone(),
            alpn: i.alpn.as_ref().map(|a| String::from_utf8_lossy(a).into()),
            reused: i.session_reused,
            server_name: i.server_name.clone(),
            client_cert: i
                .peer_certificate
                .as_ref()
                .map(|c| format!("{:?}", c.subject_name())),
        }
    }
}

/// What the server's connections saw, in order.
#[derive(Debug, Default)]
pub struct Log {
    /// Handshakes: what was settled, or the error.
    pub handshakes: Vec<Result<Handshake, String>>,
    /// How each connection's read side ended (`"eof"`: close_notify; `"truncated"`; or
    /// the error), with the plaintext bytes received before.
    pub ends: Vec<(String, usize)>,
}

/// An rsuv TLS echo server on its own thread and loop.
pub struct EchoServer {
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Log>>,
    stop: Box<dyn Fn() + Send>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    /// The callback API: [`TlsStream::accept`], echo, close_notify answered.
    pub fn callback(ctx: TlsContext) -> EchoServer {
        let log = Arc::new(Mutex::new(Log::default()));
        let (tx, rx) = std::sync::mpsc::channel();
        let l = log.clone();
        let thread = thread::spawn(move || {
            let lp = Loop::new().unwrap();
            let wd = crate::support::watchdog(&lp, 120);
            let (addr, stop) = callback_server(&lp, ctx, l);
            tx.send((addr, stop.sender())).unwrap();
            lp.run(RunMode::Default).unwrap();
            drop((stop, wd));
            crate::support::finish(lp);
        });
        let (addr, sender) = rx.recv().expect("the server thread started");
        EchoServer {
            addr,
            log,
            stop: Box::new(move || {
                let _ = AsyncSender::send(&sender);
            }),
            thread: Some(thread),
        }
    }

    /// The async API: [`AsyncTlsStream::server`] in one task per connection.
    pub fn asynchronous(ctx: TlsContext) -> EchoServer {
        let log = Arc::new(Mutex::new(Log::default()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
        let l = log.clone();
        let thread = thread::spawn(move || {
            crate::support::run_async(Duration::from_secs(120), async move {
                let listener = rsuv::rt::TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
                tx.send(listener.local_addr()?).unwrap();
                futures::select! {
                    () = async_accept_loop(listener, ctx, l).fuse() => {}
                    _ = stop_rx.fuse() => {}
                }
                Ok::<(), std::io::Error>(())
            })
            .unwrap();
        });
        let addr = rx.recv().expect("the server thread started");
        let stop_tx = Mutex::new(Some(stop_tx));
        EchoServer {
            addr,
            log,
            stop: Box::new(move || {
                if let Some(tx) = stop_tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
            }),
            thread: Some(thread),
        }
    }

    /// Waits (at most [`TIMEOUT`]) until the log has `n` read ends.
    pub fn wait_ends(&self, n: usize) -> Vec<(String, usize)> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            {
                let log = self.log.lock().unwrap();
                if log.ends.len() >= n {
                    return log.ends.clone();
                }
                assert!(Instant::now() < deadline, "server log: {log:?}");
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn handshakes(&self) -> Vec<Result<Handshake, String>> {
        self.log.lock().unwrap().handshakes.clone()
    }

    /// Stops the server (closing its connections) and joins its thread, whose loop must close
    /// cleanly.
    pub fn stop(mut self) -> Log {
        self.halt();
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    fn halt(&mut self) {
        (self.stop)();
        if let Some(t) = self.thread.take() {
            if let Err(panic) = t.join() {
                if !thread::panicking() {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.halt();
    }
}

fn callback_server(lp: &Loop, ctx: TlsContext, log: Arc<Mutex<Log>>) -> (SocketAddr, Async) {
    let conns: Rc<RefCell<Vec<TlsStream>>> = Rc::default();
    let listener = Rc::new(Tcp::new(lp).unwrap());
    listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let c = conns.clone();
    listener
        .listen(64, move |l, r| {
            r.unwrap();
            let log = log.clone();
            let s = TlsStream::accept(l, &ctx, move |s, r| match r {
                Ok(()) => {
                    let info = s.info().expect("info after the handshake");
                    log.lock().unwrap().handshakes.push(Ok((&info).into()));
                    let mut got = 0;
                    s.read_start(move |s, r| match r {
                        TlsRead::Data(d) => {
                            got += d.len();
                            s.write(d, |_, _| {}).unwrap();
                        }
                        TlsRead::Eof => {
                            log.lock().unwrap().ends.push(("eof".into(), got));
                            s.shutdown(|s, _| s.close()).unwrap();
                        }
                        TlsRead::Error(e) => {
                            let what = match e {
                                rsuv::tls::TlsError::Truncated => "truncated".into(),
                                e => format!("error: {e}"),
                            };
                            log.lock().unwrap().ends.push((what, got));
                            s.close();
                        }
                        _ => s.close(),
                    });
                }
                Err(e) => log.lock().unwrap().handshakes.push(Err(e.to_string())),
            })
            .unwrap();
            let mut conns = c.borrow_mut();
            conns.retain(|c| !c.is_closed());
            conns.push(s);
        })
        .unwrap();
    let addr = listener.sockname().unwrap();
    let stop = Async::new(lp, move |a| {
        listener.close();
        for c in conns.borrow_mut().drain(..) {
            c.close();
        }
        a.close();
    })
    .unwrap();
    (addr, stop)
}

async fn async_accept_loop(listener: rsuv::rt::TcpListener, ctx: TlsContext, log: Arc<Mutex<Log>>) {
    loop {
        let (conn, _) = listener.accept().await.unwrap();
        let (ctx, log) = (ctx.clone(), log.clone());
        rsuv::rt::spawn_local(async move {
            let mut tls = match AsyncTlsStream::server(conn, &ctx).await {
                Ok(tls) => tls,
                Err(e) => return log.lock().unwrap().handshakes.push(Err(e.to_string())),
            };
            let info = tls.info().expect("info after the handshake").into();
            log.lock().unwrap().handshakes.push(Ok(info));
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0;
            let end = loop {
                match tls.read(&mut buf).await {
                    Ok(0) => break "eof".to_owned(),
                    Ok(n) => {
                        got += n;
                        if let Err(e) = tls.write_all(&buf[..n]).await {
                            break format!("write error: {e}");
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        break "truncated".to_owned();
                    }
                    Err(e) => break format!("error: {e}"),
                }
            };
            let eof = end == "eof";
            log.lock().unwrap().ends.push((end, got));
            if eof {
                let _ = tls.close().await;
            }
        })
        .detach();
    }
}

// ---- peer processes ----

/// A peer process: stdin piped, stdout and stderr collected while it runs. Killed when
/// dropped.
pub struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

fn collect(mut r: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = r.read(&mut buf) {
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

impl Proc {
    pub fn spawn(program: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {program}: {e} (run .ci/setup)"));
        let (out, err) = (Arc::default(), Arc::default());
        let readers = vec![
            collect(child.stdout.take().unwrap(), Arc::clone(&out)),
            collect(child.stderr.take().unwrap(), Arc::clone(&err)),
        ];
        Proc {
            name: format!("{program} {}", args.join(" ")),
            stdin: child.stdin.take(),
            child,
            out,
            err,
            readers,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// Like [`send`](Self::send), but a peer that has already exited (and closed its stdin)
    /// is not an error: for peers that may end on their own before reading what is sent.
    /// Says whether the bytes reached the pipe.
    pub fn send_if_running(&mut self, bytes: &[u8]) -> bool {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        match stdin.write_all(bytes).and_then(|()| stdin.flush()) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => false,
            Err(e) => panic!("writing to {}: {e}", self.name),
        }
    }

    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// What it wrote to stdout so far.
    pub fn stdout(&self) -> Vec<u8> {
        self.out.lock().unwrap().clone()
    }

    /// Both streams so far, stdout first.
    pub fn text(&self) -> String {
        let out = String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned();
        out + &String::from_utf8_lossy(&self.err.lock().unwrap())
    }

    pub fn has(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }

    /// Waits (at most [`TIMEOUT`]) until its output contains `needle`.
    pub fn wait_for(&self, needle: &str) {
        self.wait_for_n(needle, 1);
    }

    /// Waits (at most [`TIMEOUT`]) until its output contains `needle` `n` times.
    pub fn wait_for_n(&self, needle: &str, n: usize) {
        let deadline = Instant::now() + TIMEOUT;
        while self.text().matches(needle).count() < n {
            assert!(
                Instant::now() < deadline,
                "{}: no {needle:?} in:\n{}",
                self.name,
                self.text()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (at most [`TIMEOUT`], then kills it) for it to exit; its exit code and output.
    pub fn finish(mut self) -> (Option<i32>, String) {
        self.close_stdin();
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not exit; output:\n{}", self.name, self.text());
            }
            thread::sleep(Duration::from_millis(10));
        };
        for r in self.readers.drain(..) {
            r.join().unwrap();
        }
        (status.code(), self.text())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
