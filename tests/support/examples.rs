//! The harness of the example tests (`tests/examples.rs`, `tests/examples_async.rs`): running an
//! example program, talking to it with plain `std::net` sockets, and the scenarios that the
//! callback and the async version of an example must both pass. Included with `#[path]`.
//!
//! An example is started on port 0, its port learnt from its `listening on ADDR` line; it is
//! exercised (including peers that misbehave), then stopped with SIGTERM and must exit 0 with
//! nothing else on stdout. The example binaries must be built first (`cargo build --examples`;
//! `make test` does it). Everything is loopback-only and bounded by timeouts.
//!
//! `RSUV_EXAMPLE_RUNNER` runs the examples under a wrapper, for example
//! `RSUV_EXAMPLE_RUNNER="valgrind -q --error-exitcode=99 --leak-check=full
//! --errors-for-leak-kinds=definite"`: a memory error or definite leak then fails the exit-0
//! check.
#![allow(dead_code)] // each test file uses a part

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long any single read, write or wait may block before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// How long a peer must stay silent to count as "received nothing".
pub const QUIET: Duration = Duration::from_millis(300);

// ---- running an example ----

/// `target/<profile>/examples/<name>`, found from this test's own path
/// (`target/<profile>/deps/examples-<hash>`).
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test executable is in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --examples` first",
        path.display()
    );
    path
}

/// A command running example `name`, under `RSUV_EXAMPLE_RUNNER` if set.
pub fn example_command(name: &str) -> Command {
    let path = example_path(name);
    let runner = std::env::var("RSUV_EXAMPLE_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut cmd = match words.next() {
        Some(program) => {
            let mut cmd = Command::new(program);
            cmd.args(words).arg(path);
            cmd
        }
        None => Command::new(path),
    };
    cmd.stdin(Stdio::null());
    cmd
}

/// A running example, killed (SIGKILL) if the test fails before stopping it.
pub struct Example {
    name: &'static str,
    child: Child,
    pub addr: SocketAddr,
    /// Lines printed after the `listening on` line (there should be none).
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stderr_thread: Option<JoinHandle<()>>,
}

impl Example {
    /// Starts example `name` with `args` and waits for its `listening on ADDR` line.
    pub fn start(name: &'static str, args: &[&str]) -> Example {
        let mut child = example_command(name)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {name}: {e}"));
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let stderr_thread = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = retry(|| err.read(&mut buf)) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut ex = Example {
            name,
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            stdout,
            stderr,
            stderr_thread: Some(stderr_thread),
        };
        let first = ex.stdout.recv_timeout(TIMEOUT);
        let addr = first.as_deref().ok().and_then(|line| {
            line.strip_prefix("listening on ")
                .and_then(|a| a.parse::<SocketAddr>().ok())
        });
        match addr {
            Some(addr) => {
                assert!(
                    addr.ip().is_loopback() && addr.port() != 0,
                    "bound to {addr}"
                );
                ex.addr = addr;
                ex
            }
            None => panic!(
                "{name}: expected `listening on 127.0.0.1:PORT`, got {first:?}; stderr: {}",
                ex.stderr()
            ),
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn assert_running(&mut self) {
        let status = self.child.try_wait().expect("try_wait");
        assert!(
            status.is_none(),
            "{} exited ({status:?}); stderr: {}",
            self.name,
            self.stderr()
        );
    }

    /// Sends SIGTERM and asserts a clean exit 0 (within [`TIMEOUT`]) with nothing more on
    /// stdout and no panic. Returns what it wrote to stderr.
    pub fn stop(self) -> String {
        self.stop_with(libc::SIGTERM)
    }

    /// As [`Example::stop`], with signal `signum`.
    pub fn stop_with(mut self, signum: libc::c_int) -> String {
        self.assert_running();
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: plain kill(2) on our own child, which has not been reaped yet.
        assert_eq!(unsafe { libc::kill(pid, signum) }, 0);
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {TIMEOUT:?} of signal {signum}; stderr: {}",
                    self.name,
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        if let Some(t) = self.stderr_thread.take() {
            t.join().unwrap();
        }
        let stderr = self.stderr();
        assert_eq!(
            status.code(),
            Some(0),
            "{} exit status {status}; stderr: {stderr}",
            self.name
        );
        assert!(!stderr.contains("panicked"), "{}: {stderr}", self.name);
        // Until the reading thread has seen the end of the pipe.
        let extra: Vec<String> =
            std::iter::from_fn(|| self.stdout.recv_timeout(TIMEOUT).ok()).collect();
        assert!(extra.is_empty(), "{}: more on stdout: {extra:?}", self.name);
        stderr
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs example `name` with a bad command line `args`: it must exit 2, with nothing on stdout
/// and `usage: NAME ...` on stderr.
pub fn assert_usage(name: &str, args: &[&str]) {
    let out = example_command(name).args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{name} {args:?}");
    assert!(out.stdout.is_empty(), "{name} {args:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with(&format!("usage: {name} ")), "{name}: {err}");
}

// ---- socket helpers ----

/// Runs `f` again when a signal interrupts it: with a timeout set, Linux does not restart an
/// interrupted socket call but fails it with `EINTR` (seen on a loaded machine).
pub fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// `len` pseudo-random bytes, different for each `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
}

/// Sends `data` on a fresh connection to `addr` (from a second thread, while reading), then
/// shuts down the write side, and returns everything read until the peer's end of stream.
pub fn round_trip(addr: SocketAddr, data: Vec<u8>) -> Vec<u8> {
    let mut reader = connect(addr);
    let mut writer = reader.try_clone().unwrap();
    let sender = thread::spawn(move || {
        writer.write_all(&data).expect("write");
        writer.shutdown(Shutdown::Write).expect("shutdown");
    });
    let mut got = Vec::new();
    reader.read_to_end(&mut got).expect("read to end of stream");
    sender.join().unwrap();
    got
}

/// Resets the connection (RST instead of FIN) when dropped: `SO_LINGER` with a zero timeout.
pub fn reset(s: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized option value.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", io::Error::last_os_error());
}

/// Asserts the peer closed the connection: a read gives end of stream or a reset, not data
/// and not a timeout.
pub fn assert_closed_by_peer(s: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 64];
    match retry(|| s.read(&mut buf)) {
        Ok(0) => {}
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ) => {}
        other => panic!("{what}: expected the connection closed, got {other:?}"),
    }
}

/// Writes `chunk` again and again until a write blocks for a second (what backpressure should
/// lead to) or `limit` bytes went through; returns the bytes written.
pub fn write_until_stalled(s: &mut TcpStream, limit: usize) -> usize {
    s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let chunk = vec![b'x'; 256 * 1024];
    let mut total = 0;
    while total < limit {
        match retry(|| s.write(&chunk)) {
            Ok(n) => total += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("write after {total} bytes: {e}"),
        }
    }
    total
}

// ---- chat participants ----

/// A chat participant.
pub struct Peer {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// Its address as the server sees it.
    name: String,
}

impl Peer {
    pub fn join(addr: SocketAddr) -> Peer {
        let writer = connect(addr);
        writer.set_nodelay(true).unwrap();
        let name = writer.local_addr().unwrap().to_string();
        let reader = BufReader::new(writer.try_clone().unwrap());
        Peer {
            reader,
            writer,
            name,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    pub fn expect(&mut self, line: &[u8]) {
        let mut got = Vec::new();
        self.reader.read_until(b'\n', &mut got).unwrap_or_else(|e| {
            panic!(
                "{} waiting for {:?}: {e}",
                self.name,
                String::from_utf8_lossy(line)
            )
        });
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(line),
            "{} received",
            self.name
        );
        assert_eq!(got, line, "{} received (bytes)", self.name);
    }

    /// Asserts nothing arrives for [`QUIET`].
    pub fn expect_nothing(&mut self) {
        assert!(
            self.reader.buffer().is_empty(),
            "{}: unread data",
            self.name
        );
        self.writer.set_read_timeout(Some(QUIET)).unwrap();
        let r = retry(|| self.reader.fill_buf().map(|b| b.to_vec()));
        self.writer.set_read_timeout(Some(TIMEOUT)).unwrap();
        match r {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("{}: expected nothing, got {other:?}", self.name),
        }
    }
}

// ---- upstreams for the port forwarders ----

/// An upstream that accepts connections and then neither reads nor writes.
pub fn stalled_upstream() -> (SocketAddr, Receiver<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        while let Ok((s, _)) = listener.accept() {
            if tx.send(s).is_err() {
                break;
            }
        }
    });
    (addr, rx)
}

/// A TCP socket bound to a loopback port but not listening: connections to it are refused,
/// and the port stays ours until [`listen`] turns it into a live listener.
pub fn bound_not_listening() -> (OwnedFd, SocketAddr) {
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    // SAFETY: `fd` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
    let mut len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a valid socket and address of the stated length.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), (&raw const sin).cast(), len) };
    assert_eq!(rc, 0, "bind: {}", io::Error::last_os_error());
    // SAFETY: as above; the kernel writes at most `len` bytes.
    let rc = unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut sin).cast(), &mut len) };
    assert_eq!(rc, 0, "getsockname: {}", io::Error::last_os_error());
    let port = u16::from_be(sin.sin_port);
    (fd, SocketAddr::from(([127, 0, 0, 1], port)))
}

pub fn listen(fd: OwnedFd) -> TcpListener {
    // SAFETY: a valid, bound socket.
    let rc = unsafe { libc::listen(fd.as_raw_fd(), 16) };
    assert_eq!(rc, 0, "listen: {}", io::Error::last_os_error());
    TcpListener::from(fd)
}

// ---- scenarios: what the callback and the async version of an example must both do ----

/// Starts example `name` with `args` twice, and stops it right after its `listening on` line:
/// once with SIGINT, once with SIGTERM.
pub fn stops_at_once_on_sigint_and_sigterm(name: &'static str, args: &[&str]) {
    for signum in [libc::SIGINT, libc::SIGTERM] {
        Example::start(name, args).stop_with(signum);
    }
}

/// Echo server `echo`: 20 clients at once, 64 KiB each, echoed byte for byte; each shuts its
/// write side down after its last byte (while reading) and gets the end of stream back.
pub fn echo_serves_20_concurrent_clients(echo: &'static str) {
    let server = Example::start(echo, &["127.0.0.1:0"]);
    let addr = server.addr;
    let clients: Vec<_> = (0..20)
        .map(|i| {
            thread::spawn(move || {
                let data = pattern(i, 64 * 1024);
                let got = round_trip(addr, data.clone());
                assert_same(&got, &data, &format!("client {i}"));
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.stop();
}

/// A client of `addr` (an echo, maybe behind a forwarder) sends everything and shuts its write
/// side down before reading anything: the whole echo still arrives, then the end of stream.
pub fn half_close_lets_the_rest_flow_back(addr: SocketAddr) {
    let data = pattern(7, 200_000);
    let mut s = connect(addr);
    s.write_all(&data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_same(&got, &data, "after half-close");
}

/// Echo server `echo` survives resets, and stops reading from a client that does not read.
pub fn echo_survives_resets_and_throttles_a_client_that_does_not_read(echo: &'static str) {
    let server = Example::start(echo, &["127.0.0.1:0"]);
    // Resets: right after connecting, and with data in flight both ways.
    reset(connect(server.addr));
    let mut s = connect(server.addr);
    s.write_all(&pattern(1, 300_000)).unwrap();
    reset(s);
    drop(connect(server.addr)); // and a plain close without sending anything

    // A client that sends but never reads: the server stops reading from it, so its writes
    // block well before 64 MiB (kernel buffers and the server's 1 MiB high-water mark).
    let mut hog = connect(server.addr);
    let sent = write_until_stalled(&mut hog, 64 << 20);
    assert!(sent < 64 << 20, "no backpressure: {sent} bytes accepted");

    let data = pattern(2, 10_000);
    assert_same(
        &round_trip(server.addr, data.clone()),
        &data,
        "after resets",
    );
    reset(hog);
    server.stop();
}

/// Chat server `chat`: the A/B/C/D script (joins, whole lines to the others only, a line in
/// three pieces, a participant leaving mid-line, arbitrary bytes).
pub fn chat_relays_whole_lines_to_the_others(chat: &'static str) {
    let server = Example::start(chat, &["127.0.0.1:0"]);
    let mut a = Peer::join(server.addr);
    let mut b = Peer::join(server.addr);
    a.expect(format!("* {} joined\n", b.name).as_bytes());
    let mut c = Peer::join(server.addr);
    let joined = format!("* {} joined\n", c.name);
    a.expect(joined.as_bytes());
    b.expect(joined.as_bytes());

    // A line goes to the others, not back to its sender.
    a.send(b"hello\n");
    b.expect(b"hello\n");
    c.expect(b"hello\n");

    // A line sent in three pieces is held back until its newline, then arrives whole.
    a.send(b"wor");
    b.expect_nothing();
    a.send(b"ld pie");
    c.expect_nothing();
    a.send(b"ce\n");
    b.expect(b"world piece\n");
    c.expect(b"world piece\n");

    // C leaves in the middle of a line, which is dropped.
    c.send(b"never finished");
    let left = format!("* {} left\n", c.name);
    drop(c);
    a.expect(left.as_bytes());
    b.expect(left.as_bytes());
    b.send(b"from b\n");
    a.expect(b"from b\n");

    // D joins and gets later lines; any bytes are relayed as they are.
    let mut d = Peer::join(server.addr);
    let joined = format!("* {} joined\n", d.name);
    a.expect(joined.as_bytes());
    b.expect(joined.as_bytes());
    a.send(b"to all\n");
    b.expect(b"to all\n");
    d.expect(b"to all\n");
    d.send(b"two\r\nlines \xff\x00\n");
    for p in [&mut a, &mut b] {
        p.expect(b"two\r\n");
        p.expect(b"lines \xff\x00\n");
    }
    // Nobody got its own lines back, and nothing else.
    for p in [&mut a, &mut b, &mut d] {
        p.expect_nothing();
    }
    // Stopped with participants still connected.
    server.stop();
}

/// Chat server `chat` drops a participant that resets mid-line, and one that sends more than
/// 64 KiB without a newline; the others are told, and the room still works.
pub fn chat_drops_participants_that_reset_or_send_overlong_lines(chat: &'static str) {
    let server = Example::start(chat, &["127.0.0.1:0"]);
    let mut a = Peer::join(server.addr);
    let mut b = Peer::join(server.addr);
    a.expect(format!("* {} joined\n", b.name).as_bytes());
    let c = Peer::join(server.addr);
    let joined = format!("* {} joined\n", c.name);
    a.expect(joined.as_bytes());
    b.expect(joined.as_bytes());

    // C resets its connection in the middle of a line.
    let mut c = c;
    c.send(b"half a li");
    let left = format!("* {} left\n", c.name);
    reset(c.writer);
    drop(c.reader);
    a.expect(left.as_bytes());
    b.expect(left.as_bytes());

    // B sends more than 64 KiB without a newline: it is disconnected.
    let _ = b.writer.write_all(&vec![b'z'; 100 * 1024]);
    assert_closed_by_peer(b.reader.get_mut(), "B after an overlong line");
    a.expect(format!("* {} left\n", b.name).as_bytes());

    // The room still works.
    let mut d = Peer::join(server.addr);
    a.expect(format!("* {} joined\n", d.name).as_bytes());
    d.send(b"still here\n");
    a.expect(b"still here\n");
    a.expect_nothing();
    server.stop();
}

/// Chat server `chat` drops a participant that does not read once more than 1 MiB waits for
/// it, without holding up the others.
pub fn chat_drops_a_participant_that_does_not_read(chat: &'static str) {
    let server = Example::start(chat, &["127.0.0.1:0"]);
    let mut a = Peer::join(server.addr);
    let mut slow = Peer::join(server.addr);
    a.expect(format!("* {} joined\n", slow.name).as_bytes());
    // A talks (16 KiB lines) to the only other participant, which never reads: once more than
    // 1 MiB waits for it at the server, it is dropped.
    let limit = 64 << 20;
    let done = Arc::new(AtomicBool::new(false));
    let (mut w, d) = (a.writer.try_clone().unwrap(), done.clone());
    let talker = thread::spawn(move || {
        let mut line = vec![b'x'; 16 * 1024 - 1];
        line.push(b'\n');
        let mut sent = 0;
        while sent < limit && !d.load(Ordering::Relaxed) {
            w.write_all(&line).unwrap();
            sent += line.len();
        }
        sent
    });
    a.expect(format!("* {} left\n", slow.name).as_bytes());
    done.store(true, Ordering::Relaxed);
    let sent = talker.join().unwrap();
    assert!(sent < limit, "not dropped after {sent} bytes");
    // What was already on its way still arrives, then the end of stream.
    let mut rest = Vec::new();
    match retry(|| slow.reader.read_to_end(&mut rest)) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("slow participant: {e}"),
    }
    assert!(rest.iter().all(|&b| b == b'x' || b == b'\n'));
    a.expect_nothing();
    server.stop();
}

/// Forwarder `fwd` in front of echo server `echo`: 5 clients at once, 4 MiB each way, byte
/// for byte; each shuts its write side down after its last byte and still reads the rest of
/// the echo, then the end of stream.
pub fn forwarder_copies_4_mib_each_way_for_5_concurrent_clients(
    fwd: &'static str,
    echo: &'static str,
) {
    let upstream = Example::start(echo, &["127.0.0.1:0"]);
    let up = upstream.addr.to_string();
    let fwd = Example::start(fwd, &["127.0.0.1:0", &up]);
    let addr = fwd.addr;
    let clients: Vec<_> = (0..5)
        .map(|i| {
            thread::spawn(move || {
                let data = pattern(100 + i, 4 << 20);
                let got = round_trip(addr, data.clone());
                assert_same(&got, &data, &format!("client {i}"));
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    fwd.stop();
    upstream.stop();
}

/// Forwarder `fwd` in front of echo server `echo`: see [`half_close_lets_the_rest_flow_back`].
pub fn forwarder_half_close_lets_the_rest_flow_back(fwd: &'static str, echo: &'static str) {
    let upstream = Example::start(echo, &["127.0.0.1:0"]);
    let up = upstream.addr.to_string();
    let fwd = Example::start(fwd, &["127.0.0.1:0", &up]);
    half_close_lets_the_rest_flow_back(fwd.addr);
    fwd.stop();
    upstream.stop();
}

/// Forwarder `fwd` between a client and an upstream that both stop reading: neither can
/// make it buffer without bound, and everything arrives once they read again.
pub fn forwarder_applies_backpressure_both_ways(fwd: &'static str) {
    let (up_addr, accepted) = stalled_upstream();
    let up = up_addr.to_string();
    let fwd = Example::start(fwd, &["127.0.0.1:0", &up]);
    let mut client = connect(fwd.addr);
    let upstream = accepted
        .recv_timeout(TIMEOUT)
        .expect("forwarded connection");
    // Neither end reads: each one's writes must stall once the kernel buffers and the
    // forwarder's 1 MiB high-water mark are full, long before 64 MiB.
    let limit = 64 << 20;
    let mut up_writer = upstream.try_clone().unwrap();
    let down = thread::spawn(move || write_until_stalled(&mut up_writer, limit));
    let sent_up = write_until_stalled(&mut client, limit);
    let sent_down = down.join().unwrap();
    assert!(
        sent_up < limit,
        "client to upstream: {sent_up} bytes accepted"
    );
    assert!(
        sent_down < limit,
        "upstream to client: {sent_down} bytes accepted"
    );

    // Once the ends read again, everything arrives.
    let drain = |mut s: TcpStream, want: usize| {
        thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0;
            while total < want {
                match retry(|| s.read(&mut buf)) {
                    Ok(0) => break,
                    Ok(n) => total += n,
                    Err(e) => panic!("drain after {total} of {want} bytes: {e}"),
                }
            }
            total
        })
    };
    upstream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let (c, u) = (
        drain(client.try_clone().unwrap(), sent_down),
        drain(upstream.try_clone().unwrap(), sent_up),
    );
    assert_eq!(c.join().unwrap(), sent_down);
    assert_eq!(u.join().unwrap(), sent_up);
    drop((client, upstream));
    fwd.stop();
}

/// Forwarder `fwd` whose upstream refuses connections: each client is closed (whether or not
/// it sent something), the forwarder keeps running and says why on stderr, and the same
/// forwarder works once the upstream listens.
pub fn forwarder_closes_the_client_when_upstream_refuses_and_keeps_serving(fwd: &'static str) {
    let (upstream_fd, up_addr) = bound_not_listening();
    let up = up_addr.to_string();
    let mut fwd = Example::start(fwd, &["127.0.0.1:0", &up]);

    let mut quiet = connect(fwd.addr);
    assert_closed_by_peer(&mut quiet, "client of a refused upstream");
    let mut talker = connect(fwd.addr);
    let _ = talker.write_all(b"anyone there?");
    assert_closed_by_peer(&mut talker, "client of a refused upstream, after a write");
    fwd.assert_running();

    let listener = listen(upstream_fd);
    let echo = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match retry(|| s.read(&mut buf)) {
                Ok(0) => break,
                Ok(n) => s.write_all(&buf[..n]).unwrap(),
                Err(e) => panic!("upstream read: {e}"),
            }
        }
    });
    let data = b"ping through a live upstream".to_vec();
    assert_same(&round_trip(fwd.addr, data.clone()), &data, "live upstream");
    echo.join().unwrap();

    // libuv's message or the OS's ("Connection refused (os error 111)").
    let stderr = fwd.stop();
    let said = stderr.to_lowercase();
    assert!(said.contains("connection refused"), "stderr: {stderr}");
}

/// Stops `server` (an echo, maybe behind a forwarder) with three connections open, each with
/// an echo done and more bytes sent: it still exits 0, and the connections are closed.
pub fn stops_with_connections_open(server: Example) {
    let mut open: Vec<TcpStream> = (0..3).map(|_| connect(server.addr)).collect();
    for (i, s) in open.iter_mut().enumerate() {
        let data = pattern(50 + i as u64, 1000);
        s.write_all(&data).unwrap();
        let mut got = vec![0u8; data.len()];
        s.read_exact(&mut got).unwrap();
        assert_same(&got, &data, "echo before the stop");
        s.write_all(b"unfinished").unwrap();
    }
    server.stop();
    for s in &mut open {
        let mut rest = Vec::new();
        match retry(|| s.read_to_end(&mut rest)) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("after the stop: {e}"),
        }
    }
}
