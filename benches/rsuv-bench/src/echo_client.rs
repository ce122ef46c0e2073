//! The load client of the echo comparison (issue 4), one program for every server so that only
//! the server differs. Written on rsuv's callback API (reads lent from the loop's buffer, writes
//! of one static buffer with `try_write`, the rest queued without a copy).
//!
//! ```text
//! rsuv-bench echo_client WORKLOAD [--secs S] [--warmup S] [--server-pid PID] [--port P]
//! ```
//!
//! Workloads (`WORKLOADS`): ping-pong of one message per connection (send it, wait until all
//! of it is back, send again) and bulk (stream 64 KiB writes while reading the echo, at most
//! `WINDOW` bytes unechoed). All connections are made first; then `warmup` seconds, then the
//! timed window of `secs`, whose start and end take a snapshot of the counters and of the
//! server's CPU time (utime + stime from `/proc/PID/stat`, in clock ticks). After the window
//! no new message is started; each connection waits for the echo of everything it sent, shuts
//! down and waits for the server's EOF. Every connection checks that it got back exactly as many
//! bytes as it sent, and what they are (every byte of reads up to 4 KiB; 3 × 64 bytes of larger
//! ones, which catches a lost, doubled or reordered piece).
//!
//! The last line is `echo_result name=... elapsed=... rts=... sent=... recv=...
//! server_ticks=... client_ticks=... server_threads=... p50_us=... p99_us=...
//! cpuN=tasks:irq:idle:steal ...` for `benches/run.py` (counts within the window; ticks of
//! `sysconf(_SC_CLK_TCK)`; round-trip percentiles in µs of the window's ping-pongs, `none`
//! for bulk; the per-CPU ticks show how much else ran on the two CPUs meanwhile).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rsuv::{Error, Loop, LoopHandle, RunMode, Tcp, Timer};

use crate::TEST_PORT;

/// One echo workload.
pub struct Workload {
    pub name: &'static str,
    /// Concurrent connections.
    pub conns: usize,
    /// Ping-pong: the message; bulk: each write.
    pub size: usize,
    /// Stream writes (bounded by `WINDOW`) instead of one message at a time.
    pub bulk: bool,
    /// Default length of the timed window.
    pub secs: f64,
}

const fn pingpong(name: &'static str, conns: usize, size: usize, secs: f64) -> Workload {
    Workload {
        name,
        conns,
        size,
        bulk: false,
        secs,
    }
}

pub const WORKLOADS: &[Workload] = &[
    pingpong("pingpong_1k", 1, 1024, 5.0),
    pingpong("pingpong_1k_c50", 50, 1024, 3.0),
    pingpong("pingpong_100k", 1, 100 * 1024, 3.0),
    // The Python loops' matrix (benches/py_echo_bench.py): 1, 10, 100 KiB with 1 and 4.
    pingpong("pingpong_1k_c4", 4, 1024, 3.0),
    pingpong("pingpong_10k", 1, 10 * 1024, 3.0),
    pingpong("pingpong_10k_c4", 4, 10 * 1024, 3.0),
    pingpong("pingpong_100k_c4", 4, 100 * 1024, 3.0),
    Workload {
        bulk: true,
        ..pingpong("bulk_64k", 1, 64 * 1024, 3.0)
    },
];

/// Bulk: bytes sent and not yet echoed, at most. Bounds what a server without backpressure
/// (echo-server.c, the callback server) may have queued, so all servers stream the same way.
pub const WINDOW: u64 = 1024 * 1024;

const WARMUP: f64 = 0.3;
/// After the window, the echoes still due must be back within this (else the server lost them).
const DRAIN: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Warmup,
    Measure,
    Drain,
}

#[derive(Clone, Copy, Default)]
struct Snap {
    /// The counters (`Run::now`) at that moment.
    rts: u64,
    sent: u64,
    recv: u64,
    server_ticks: u64,
    client_ticks: u64,
    /// Per CPU (up to `MAX_CPUS`), from `/proc/stat`: ticks in tasks (user + nice + system),
    /// in interrupts (irq + softirq, which the kernel does not charge to the interrupted task),
    /// idle (idle + iowait), stolen by the hypervisor.
    cpus: [[u64; 4]; MAX_CPUS],
}

const MAX_CPUS: usize = 8;

/// The per-CPU lines of `/proc/stat` (see `Snap::cpus`).
fn cpu_stat() -> [[u64; 4]; MAX_CPUS] {
    let mut out = [[0; 4]; MAX_CPUS];
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    for line in stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
    {
        let mut f = line.split_whitespace();
        let Some(Ok(cpu)) = f.next().map(|c| c[3..].parse::<usize>()) else {
            continue;
        };
        let v: Vec<u64> = f.map(|x| x.parse().unwrap_or(0)).collect();
        if cpu < MAX_CPUS && v.len() >= 8 {
            out[cpu] = [v[0] + v[1] + v[2], v[5] + v[6], v[3] + v[4], v[7]];
        }
    }
    out
}

/// What every connection's callbacks share.
struct Run {
    w: &'static Workload,
    /// The bytes of one message (one bulk write): every write sends all of them.
    pattern: &'static [u8],
    phase: Cell<Phase>,
    server_pid: Option<u32>,
    /// Round trips, bytes sent and echoed so far, all connections.
    now: Cell<(u64, u64, u64)>,
    start: Cell<(Snap, Option<Instant>)>,
    end: Cell<(Snap, Option<Instant>)>,
    server_threads: Cell<u64>,
    conns: RefCell<Vec<(Tcp, Rc<Conn>)>>,
    connected: Cell<usize>,
    closed: Cell<usize>,
    /// Fails the run if the echoes still due do not come back (closed with the last connection).
    deadline: RefCell<Option<Timer>>,
    /// Ping-pong: round-trip times in the timed window, in microseconds.
    latency: RefCell<Latency>,
}

/// Round-trip times as counts per microsecond up to `LAT_MAX_US` (the last slot: anything
/// longer), for percentiles without keeping every sample.
struct Latency(Vec<u64>);

const LAT_MAX_US: usize = 100_000;

impl Latency {
    fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as usize).min(LAT_MAX_US);
        self.0[us] += 1;
    }

    /// The smallest time (µs) that at least `p` of the samples do not exceed.
    fn percentile(&self, p: f64) -> Option<usize> {
        let total: u64 = self.0.iter().sum();
        if total == 0 {
            return None;
        }
        let want = (p * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        self.0.iter().position(|&n| {
            seen += n;
            seen >= want
        })
    }
}

/// Per-connection byte counts.
#[derive(Default)]
struct Conn {
    sent: Cell<u64>,
    recv: Cell<u64>,
    shut: Cell<bool>,
    /// When the message in flight was sent (ping-pong).
    sent_at: Cell<Option<Instant>>,
}

/// Lower-case letters from a small LCG: never `Q`, which makes echo-server.c close its
/// listener (and `QS` the connection).
fn pattern(size: usize) -> &'static [u8] {
    let mut x: u32 = 12345;
    let bytes: Vec<u8> = (0..size)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            b'a' + ((x >> 16) % 26) as u8
        })
        .collect();
    Box::leak(bytes.into_boxed_slice())
}

/// utime + stime, and the thread count, of a process (`/proc/PID/stat`, fields 14, 15, 20).
fn cpu_ticks(pid: &str) -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (0, 0);
    };
    let rest = &stat[stat.rfind(')').expect("/proc stat") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f[i - 3].parse::<u64>().unwrap();
    (num(14) + num(15), num(20))
}

impl Run {
    fn snap(&self) -> Snap {
        let (rts, sent, recv) = self.now.get();
        let mut s = Snap {
            rts,
            sent,
            recv,
            ..Snap::default()
        };
        if let Some(pid) = self.server_pid {
            let (ticks, threads) = cpu_ticks(&pid.to_string());
            s.server_ticks = ticks;
            self.server_threads.set(threads);
        }
        s.client_ticks = cpu_ticks("self").0;
        s.cpus = cpu_stat();
        s
    }

    fn count(&self, rts: u64, sent: u64, recv: u64) {
        let (r, s, v) = self.now.get();
        self.now.set((r + rts, s + sent, v + recv));
    }

    /// One write of the whole pattern: what the socket takes now, the rest queued (no copy).
    fn send(&self, tcp: &Tcp, c: &Conn) {
        let data = self.pattern;
        let done = match tcp.try_write(data) {
            Ok(n) => n,
            Err(Error::EAGAIN) => 0,
            Err(e) => panic!("echo_client: write: {e}"),
        };
        if done < data.len() {
            tcp.write_nocb(&data[done..]).unwrap();
        }
        c.sent.set(c.sent.get() + data.len() as u64);
        self.count(0, data.len() as u64, 0);
        if !self.w.bulk {
            c.sent_at.set(Some(Instant::now()));
        }
    }

    /// Starts what the workload has in flight: one message, or bulk writes up to the window.
    fn top_up(&self, tcp: &Tcp, c: &Conn) {
        if self.phase.get() == Phase::Drain {
            return;
        }
        if self.w.bulk {
            while c.sent.get() - c.recv.get() + self.pattern.len() as u64 <= WINDOW {
                self.send(tcp, c);
            }
        } else if c.sent.get() == c.recv.get() {
            self.send(tcp, c);
        }
    }

    /// After the window: shuts a connection down once everything it sent is back.
    fn maybe_shutdown(self: &Rc<Self>, tcp: &Tcp, c: &Conn) {
        if self.phase.get() == Phase::Drain && c.recv.get() == c.sent.get() && !c.shut.get() {
            c.shut.set(true);
            tcp.shutdown(|_, r| r.unwrap()).unwrap();
        }
    }

    fn on_read(self: &Rc<Self>, tcp: &Tcp, c: &Conn, nread: rsuv::Result<&[u8]>) {
        let data = match nread {
            Ok(data) => data,
            Err(Error::EOF) => {
                assert!(c.shut.get(), "echo_client: the server closed first");
                assert_eq!(c.recv.get(), c.sent.get(), "echo_client: bytes lost");
                let run = self.clone();
                tcp.close_with(move || {
                    run.closed.set(run.closed.get() + 1);
                    if run.closed.get() == run.w.conns {
                        drop(run.deadline.take()); // closes the deadline timer
                    }
                })
                .unwrap();
                return;
            }
            Err(e) => panic!("echo_client: read: {e}"),
        };
        let size = self.pattern.len() as u64;
        verify(self.pattern, (c.recv.get() % size) as usize, data);
        c.recv.set(c.recv.get() + data.len() as u64);
        assert!(
            c.recv.get() <= c.sent.get(),
            "echo_client: more echoed than sent"
        );
        self.count(0, 0, data.len() as u64);
        if !self.w.bulk && c.recv.get() == c.sent.get() {
            self.count(1, 0, 0);
            if let (Phase::Measure, Some(t)) = (self.phase.get(), c.sent_at.take()) {
                self.latency.borrow_mut().record(t.elapsed());
            }
        }
        self.top_up(tcp, c);
        self.maybe_shutdown(tcp, c);
    }

    fn all_connected(self: &Rc<Self>, lp: &LoopHandle, warmup: Duration, secs: Duration) {
        let run = self.clone();
        let t = Timer::new(lp).unwrap();
        t.start(warmup, Duration::ZERO, move |t| {
            run.phase.set(Phase::Measure);
            run.start.set((run.snap(), Some(Instant::now())));
            t.close();
        })
        .unwrap();
        t.detach();
        let run = self.clone();
        let t = Timer::new(lp).unwrap();
        t.start(warmup + secs, Duration::ZERO, move |t| {
            run.end.set((run.snap(), Some(Instant::now())));
            run.phase.set(Phase::Drain);
            for (tcp, c) in run.conns.borrow().iter() {
                run.maybe_shutdown(tcp, c);
            }
            t.close();
        })
        .unwrap();
        t.detach();
        let t = Timer::new(lp).unwrap();
        t.start(warmup + secs + DRAIN, Duration::ZERO, |_| {
            panic!("echo_client: echoes still missing {DRAIN:?} after the window")
        })
        .unwrap();
        *self.deadline.borrow_mut() = Some(t);
        for (tcp, c) in self.conns.borrow().iter() {
            self.top_up(tcp, c);
        }
    }
}

/// Reads up to this size are compared byte for byte; larger ones (100 KiB, bulk) at their
/// start, middle and end, so that checking does not make the client the bottleneck.
const VERIFY_ALL: usize = 4096;
const SAMPLE: usize = 64;

/// Checks echoed bytes against the pattern, `off` bytes into a message (`data` may span
/// messages: every message is the whole pattern).
fn verify(pattern: &[u8], off: usize, data: &[u8]) {
    let check = |at: usize, len: usize| {
        let mut o = (off + at) % pattern.len();
        let mut d = &data[at..at + len];
        while !d.is_empty() {
            let n = d.len().min(pattern.len() - o);
            assert!(
                d[..n] == pattern[o..o + n],
                "echo_client: echoed bytes differ"
            );
            d = &d[n..];
            o = 0;
        }
    };
    if data.len() <= VERIFY_ALL {
        check(0, data.len());
    } else {
        check(0, SAMPLE);
        check(data.len() / 2, SAMPLE);
        check(data.len() - SAMPLE, SAMPLE);
    }
}

struct Args {
    w: &'static Workload,
    secs: f64,
    warmup: f64,
    server_pid: Option<u32>,
    port: u16,
}

fn parse(args: &[String]) -> Args {
    let name = args.first().map(String::as_str).unwrap_or("");
    let Some(w) = WORKLOADS.iter().find(|w| w.name == name) else {
        let names: Vec<_> = WORKLOADS.iter().map(|w| w.name).collect();
        eprintln!("echo_client: workloads: {}", names.join(" "));
        std::process::exit(2);
    };
    let mut a = Args {
        w,
        secs: w.secs,
        warmup: WARMUP,
        server_pid: None,
        port: TEST_PORT,
    };
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| crate::usage());
        match flag.as_str() {
            "--secs" => a.secs = value.parse().expect("--secs"),
            "--warmup" => a.warmup = value.parse().expect("--warmup"),
            "--server-pid" => a.server_pid = Some(value.parse().expect("--server-pid")),
            "--port" => a.port = value.parse().expect("--port"),
            _ => crate::usage(),
        }
    }
    a
}

pub fn echo_client(args: &[String]) {
    let a = parse(args);
    let lp = Loop::new().unwrap();
    let run = Rc::new(Run {
        w: a.w,
        pattern: pattern(a.w.size),
        phase: Cell::new(Phase::Warmup),
        server_pid: a.server_pid,
        now: Cell::default(),
        start: Cell::new((Snap::default(), None)),
        end: Cell::new((Snap::default(), None)),
        server_threads: Cell::new(0),
        conns: RefCell::default(),
        connected: Cell::new(0),
        closed: Cell::new(0),
        deadline: RefCell::default(),
        latency: RefCell::new(Latency(vec![0; LAT_MAX_US + 1])),
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], a.port));
    let (warmup, secs) = (
        Duration::from_secs_f64(a.warmup),
        Duration::from_secs_f64(a.secs),
    );
    for _ in 0..a.w.conns {
        let tcp = Tcp::new(&lp).unwrap();
        let c = Rc::new(Conn::default());
        let (r, lh) = (run.clone(), lp.handle());
        let conn = c.clone();
        tcp.connect(addr, move |tcp, status| {
            status.expect("echo_client: connect");
            tcp.set_nodelay(true).unwrap();
            let (r2, c2) = (r.clone(), conn.clone());
            tcp.read_start(move |tcp, nread| r2.on_read(tcp, &c2, nread))
                .unwrap();
            r.connected.set(r.connected.get() + 1);
            if r.connected.get() == r.w.conns {
                r.all_connected(&lh, warmup, secs);
            }
        })
        .unwrap();
        run.conns.borrow_mut().push((tcp, c));
    }
    lp.run(RunMode::Default).unwrap();
    report(&run);
    drop(std::mem::take(&mut *run.conns.borrow_mut()));
    lp.run(RunMode::Default).unwrap();
    lp.close().unwrap();
}

fn report(run: &Run) {
    assert_eq!(
        run.closed.get(),
        run.w.conns,
        "echo_client: connections left open"
    );
    let ((s, Some(t0)), (e, Some(t1))) = (run.start.get(), run.end.get()) else {
        panic!("echo_client: the timed window never ran");
    };
    let (_, total_sent, total_recv) = run.now.get();
    assert_eq!(total_sent, total_recv, "echo_client: bytes lost");
    let elapsed = (t1 - t0).as_secs_f64();
    let (rts, recv) = (e.rts - s.rts, e.recv - s.recv);
    if run.w.bulk {
        eprintln!(
            "echo_client {}: {:.1} MB/s echoed ({} conns, {} B writes)",
            run.w.name,
            recv as f64 / elapsed / 1e6,
            run.w.conns,
            run.w.size
        );
    } else {
        eprintln!(
            "echo_client {}: {:.0} round trips/s ({} conns, {} B messages)",
            run.w.name,
            rts as f64 / elapsed,
            run.w.conns,
            run.w.size
        );
    }
    let cpus: Vec<String> = (0..MAX_CPUS)
        .filter(|&i| e.cpus[i] != [0; 4])
        .map(|i| {
            let d: Vec<String> = (0..4)
                .map(|j| (e.cpus[i][j] - s.cpus[i][j]).to_string())
                .collect();
            format!("cpu{i}={}", d.join(":"))
        })
        .collect();
    let lat = run.latency.borrow();
    let pct = |p| lat.percentile(p).map_or("none".to_string(), |us| us.to_string());
    println!(
        "echo_result name={} elapsed={elapsed:.6} rts={rts} sent={} recv={recv} \
         server_ticks={} client_ticks={} server_threads={} total_sent={} total_recv={} \
         p50_us={} p99_us={} {}",
        run.w.name,
        e.sent - s.sent,
        e.server_ticks - s.server_ticks,
        e.client_ticks - s.client_ticks,
        run.server_threads.get(),
        total_sent,
        total_recv,
        pct(0.50),
        pct(0.99),
        cpus.join(" "),
    );
}
