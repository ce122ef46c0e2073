//! libuv's own benchmarks (libuv/test/benchmark-*.c, v1.53), rewritten on rsuv's safe API.
//!
//! Each subcommand mirrors one C benchmark: same counts, sizes, durations and the same output
//! line, so that `benches/run.py` parses both with one pattern. Client/server benchmarks run
//! the server as a separate process, as libuv's runner does: `rsuv-bench helper NAME` starts it
//! and prints `ready` on stdout once it listens; the driver (or you, by hand) starts it first.
//!
//! ```text
//! rsuv-bench --list
//! rsuv-bench helper tcp4_echo_server & rsuv-bench ping_pongs; kill %1
//! rsuv-bench sync mutex_uncontended
//! rsuv-bench echo_server async & rsuv-bench echo_client pingpong_1k --server-pid $!; kill %1
//! ```
//!
//! `echo_server` and `echo_client` are the echo comparison of issue 4 (rsuv async, rsuv
//! callback API, tokio current-thread and libuv's C echo server under one load client); see
//! `echo.rs` and `echo_client.rs`.

use std::cell::Cell;
use std::io::Write;
use std::net::SocketAddr;
use std::thread::LocalKey;

mod echo;
mod echo_client;
mod loops;
mod net;
mod sync;
mod threads;
mod tls;
mod tls_mem;

/// libuv's `TEST_PORT` (test/task.h).
pub const TEST_PORT: u16 = 9123;

/// `127.0.0.1:TEST_PORT`.
pub fn test_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], TEST_PORT))
}

/// A per-thread counter, like the C benchmarks' `static int` counters.
pub type Counter = LocalKey<Cell<u64>>;

/// Adds `n` to a counter.
pub fn add(c: &'static Counter, n: u64) {
    c.with(|x| x.set(x.get() + n));
}

/// A counter's value.
pub fn get(c: &'static Counter) -> u64 {
    c.with(Cell::get)
}

/// libuv's `fmt()` (test/runner.c): an integer with thousands separators.
pub fn fmt(d: f64) -> String {
    let digits = (d as u64).to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Tells the driver that a helper (server) is listening: one line on stdout.
pub fn notify_parent_process() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
}

const BENCHMARKS: &[&str] = &[
    "ping_pongs",
    "tcp_pump1_client",
    "tcp_pump100_client",
    "tcp_write_batch",
    "ping_udp1",
    "million_timers",
    "million_async",
    "async1",
    "async2",
    "queue_work",
    "loop_count",
];

const HELPERS: &[&str] = &[
    "tcp4_echo_server",
    "tcp_pump_server",
    "tcp4_blackhole_server",
];

pub(crate) fn usage() -> ! {
    eprintln!(
        "usage: rsuv-bench BENCHMARK | helper HELPER | sync TEST | --list\n       \
         rsuv-bench echo_server async|callback|tokio [PORT]\n       \
         rsuv-bench echo_client WORKLOAD [--secs S] [--warmup S] [--server-pid PID] [--port P]\n       \
         rsuv-bench tls_server plain|tls12|tls13 [PORT]\n       \
         rsuv-bench tls_client pingpong_1k|bulk plain|tls12|tls13 [--secs S] [--server-pid PID]\n       \
         rsuv-bench tls_mem bulk|pingpong_1k tls12|tls13 [UNITS]"
    );
    eprintln!("benchmarks: {}", BENCHMARKS.join(" "));
    eprintln!("helpers: {}", HELPERS.join(" "));
    eprintln!("sync tests: {}", sync::TESTS.join(" "));
    let echo: Vec<_> = echo_client::WORKLOADS.iter().map(|w| w.name).collect();
    eprintln!(
        "echo servers: {}; echo workloads: {}",
        echo::SERVERS.join(" "),
        echo.join(" ")
    );
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    match arg(0) {
        "--list" => {
            for b in BENCHMARKS {
                println!("{b}");
            }
        }
        "helper" => match arg(1) {
            "tcp4_echo_server" => net::tcp4_echo_server(),
            "tcp_pump_server" => net::tcp_pump_server(),
            "tcp4_blackhole_server" => net::tcp4_blackhole_server(),
            _ => usage(),
        },
        "sync" => sync::run(arg(1), arg(2)),
        "echo_server" => echo::server(arg(1), args.get(2).map(String::as_str)),
        "echo_client" => echo_client::echo_client(&args[1..]),
        "tls_server" => tls::server(arg(1), args.get(2).map(String::as_str)),
        "tls_client" if args.len() >= 3 => tls::client(&args[1..]),
        "tls_mem" => tls_mem::run(arg(1), arg(2), args.get(3).map(String::as_str)),
        "ping_pongs" => net::ping_pongs(),
        "tcp_pump1_client" => net::tcp_pump(1),
        "tcp_pump100_client" => net::tcp_pump(100),
        "tcp_write_batch" => net::tcp_write_batch(),
        "ping_udp1" => net::ping_udp(1),
        "million_timers" => loops::million_timers(),
        "loop_count" => loops::loop_count(),
        "million_async" => threads::million_async(),
        "async1" => threads::test_async(1),
        "async2" => threads::test_async(2),
        "queue_work" => threads::queue_work(),
        _ => usage(),
    }
}
