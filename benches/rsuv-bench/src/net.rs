//! TCP and UDP: benchmark-ping-pongs.c, benchmark-pump.c, benchmark-tcp-write-batch.c,
//! benchmark-ping-udp.c, and the servers they talk to (echo-server.c, the pump server in
//! benchmark-pump.c, blackhole-server.c).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rsuv::{Error, Loop, LoopHandle, Result, RunMode, Tcp, Timer, Udp};

use crate::{add, get, notify_parent_process, test_addr};

/// Both ping-pong benchmarks run for this many ms (`TIME`).
const TIME: u64 = 5000;
const PING: &[u8; 5] = b"PING\n";

thread_local! {
    static PINGER_SHUTDOWN_CB_CALLED: Cell<u64> = const { Cell::new(0) };
    static COMPLETED_PINGERS: Cell<u64> = const { Cell::new(0) };
    static COMPLETED_PINGS: Cell<u64> = const { Cell::new(0) };
    static NSENT: Cell<u64> = const { Cell::new(0) };
    static NSENT_TOTAL: Cell<u64> = const { Cell::new(0) };
    static NRECV: Cell<u64> = const { Cell::new(0) };
    static NRECV_TOTAL: Cell<u64> = const { Cell::new(0) };
    static READ_SOCKETS: Cell<u64> = const { Cell::new(0) };
    static CONNECT_CB_CALLED: Cell<u64> = const { Cell::new(0) };
    static WRITE_CB_CALLED: Cell<u64> = const { Cell::new(0) };
    static SHUTDOWN_CB_CALLED: Cell<u64> = const { Cell::new(0) };
    static CLOSE_CB_CALLED: Cell<u64> = const { Cell::new(0) };
}

// ---- ping_pongs (benchmark-ping-pongs.c) ----

/// One connection to the echo server; `PING\n` out, wait for it back, again, for `TIME` ms.
pub fn ping_pongs() {
    let lp = Loop::new().unwrap();
    let start_time = lp.now();
    pinger_new(&lp, start_time);
    lp.run(RunMode::Default).unwrap();
    assert_eq!(get(&COMPLETED_PINGERS), 1);
    lp.close().unwrap();
}

fn pinger_write_ping(tcp: &Tcp) {
    // A static buffer, like the C `PING`; the request comes from rsuv's per-stream pool.
    if tcp.write(PING, pinger_write_cb).is_err() {
        panic!("uv_write failed");
    }
}

fn pinger_write_cb(_: &Tcp, status: Result<()>) {
    status.unwrap();
}

fn pinger_new(lp: &LoopHandle, start_time: u64) {
    let client_addr: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let tcp = Tcp::new(lp).unwrap();
    tcp.bind(client_addr).unwrap();
    let lh = lp.clone();
    tcp.connect(test_addr(), move |tcp, status| {
        status.unwrap();
        pinger_write_ping(tcp);
        let (mut state, mut pongs) = (0usize, 0u64);
        let read_cb = move |tcp: &Tcp, nread: Result<&[u8]>| match nread {
            Err(e) => {
                assert_eq!(e, Error::EOF);
                assert_eq!(get(&PINGER_SHUTDOWN_CB_CALLED), 1);
                tcp.close_with(move || {
                    eprintln!("ping_pongs: {} roundtrips/s", (1000 * pongs) / TIME);
                    add(&COMPLETED_PINGERS, 1);
                })
                .unwrap();
            }
            Ok(buf) => {
                for &byte in buf {
                    assert_eq!(byte, PING[state]);
                    state = (state + 1) % PING.len();
                    if state == 0 {
                        pongs += 1;
                        if lh.now() - start_time > TIME {
                            tcp.shutdown(pinger_shutdown_cb).unwrap();
                            break;
                        } else {
                            pinger_write_ping(tcp);
                        }
                    }
                }
            }
        };
        if tcp.read_start(read_cb).is_err() {
            panic!("uv_read_start failed");
        }
    })
    .unwrap();
    tcp.detach();
}

fn pinger_shutdown_cb(_: &Tcp, status: Result<()>) {
    status.unwrap();
    add(&PINGER_SHUTDOWN_CB_CALLED, 1);
    assert_eq!(get(&COMPLETED_PINGERS), 0);
}

// ---- tcp4_echo_server (echo-server.c) ----

/// Linux's `SOMAXCONN`, the backlog echo-server.c listens with.
const SOMAXCONN: i32 = 4096;

pub fn tcp4_echo_server() {
    let lp = Loop::new().unwrap();
    let server = Tcp::new(&lp).unwrap();
    server.bind(test_addr()).unwrap();
    server.listen(SOMAXCONN, on_connection).unwrap();
    notify_parent_process();
    lp.run(RunMode::Default).unwrap();
}

fn on_connection(server: &Tcp, status: Result<()>) {
    status.unwrap();
    let stream = server.accept().unwrap();
    stream.read_start(after_read).unwrap();
    stream.detach();
}

fn after_read(handle: &Tcp, nread: Result<&[u8]>) {
    let buf = match nread {
        Ok(buf) => buf,
        Err(e) => {
            assert_eq!(e, Error::EOF);
            if handle.is_writable() {
                handle.shutdown(after_shutdown).unwrap();
            }
            return;
        }
    };
    // echo-server.c scans every byte for its `Q` commands (quit, close, shutdown); the
    // benchmarks never send one, but the scan is part of the work per read.
    for &byte in buf {
        if byte == b'Q' {
            handle.close();
            return;
        }
    }
    // C hands the read buffer (malloc'd in its alloc callback) to uv_write; rsuv lends the
    // loop's read buffer, so the echo owns a copy.
    if handle.write(buf.to_vec(), after_write).is_err() {
        panic!("uv_write failed");
    }
}

fn after_write(_: &Tcp, status: Result<()>) {
    if let Err(e) = status {
        eprintln!("uv_write error: {} - {}", e.name(), e);
    }
}

fn after_shutdown(handle: &Tcp, status: Result<()>) {
    status.unwrap();
    handle.close();
}

// ---- tcp_pump{1,100}_client (benchmark-pump.c) ----

const WRITE_BUFFER_SIZE: usize = 8192;
const MAX_SIMULTANEOUS_CONNECTS: usize = 100;
const STATS_INTERVAL: Duration = Duration::from_millis(1000);
const STATS_COUNT: u32 = 5;
static WRITE_BUFFER: [u8; WRITE_BUFFER_SIZE] = [0; WRITE_BUFFER_SIZE];

fn gbit(bytes: u64, passed_ms: u64) -> f64 {
    let gbits = (bytes as f64 / (1024.0 * 1024.0 * 1024.0)) * 8.0;
    gbits / (passed_ms as f64 / 1000.0)
}

/// `n` connections to the pump server, each writing 8 KiB after 8 KiB (one write in flight
/// per connection) for `STATS_COUNT` intervals of `STATS_INTERVAL`.
pub fn tcp_pump(n: usize) {
    assert!(
        n <= MAX_SIMULTANEOUS_CONNECTS,
        "all connections start at once"
    );
    let lp = Loop::new().unwrap();
    let handles: Rc<RefCell<Vec<Tcp>>> = Rc::new(RefCell::new(Vec::with_capacity(n)));
    let write_sockets = Rc::new(Cell::new(0));
    for _ in 0..n {
        let tcp = Tcp::new(&lp).unwrap();
        let (all, connected, lh) = (handles.clone(), write_sockets.clone(), lp.handle());
        tcp.connect(test_addr(), move |_, status| {
            status.unwrap();
            connected.set(connected.get() + 1);
            if connected.get() == n {
                start_stats_collection(&lh, n, all.clone());
                // Yay! start writing
                for tcp in all.borrow().iter() {
                    do_write(tcp);
                }
            }
        })
        .unwrap();
        handles.borrow_mut().push(tcp);
    }
    lp.run(RunMode::Default).unwrap();
}

fn start_stats_collection(lp: &LoopHandle, n: usize, handles: Rc<RefCell<Vec<Tcp>>>) {
    let mut stats_left = STATS_COUNT;
    let timer = Timer::new(lp).unwrap();
    let start_time = Rc::new(Cell::new(0));
    let start = start_time.clone();
    timer
        .start(STATS_INTERVAL, STATS_INTERVAL, move |t| {
            stats_left -= 1;
            if stats_left == 0 {
                let lp = t.loop_handle();
                lp.update_time();
                let diff = lp.now() - start.get();
                eprintln!(
                    "tcp_pump{}_client: {:.1} gbit/s",
                    n,
                    gbit(get(&NSENT_TOTAL), diff)
                );
                for tcp in handles.borrow().iter() {
                    tcp.close();
                }
                std::process::exit(0);
            }
            NSENT.with(|c| c.set(0));
        })
        .unwrap();
    timer.detach();
    lp.update_time();
    start_time.set(lp.now());
}

fn do_write(tcp: &Tcp) {
    tcp.write(&WRITE_BUFFER, write_cb).unwrap();
}

fn write_cb(tcp: &Tcp, status: Result<()>) {
    status.unwrap();
    add(&NSENT, WRITE_BUFFER_SIZE as u64);
    add(&NSENT_TOTAL, WRITE_BUFFER_SIZE as u64);
    do_write(tcp);
}

// ---- tcp_pump_server (benchmark-pump.c) ----

/// `MAX_WRITE_HANDLES`, the pump server's backlog.
const MAX_WRITE_HANDLES: i32 = 1000;

pub fn tcp_pump_server() {
    let lp = Loop::new().unwrap();
    let server = Tcp::new(&lp).unwrap();
    server
        .bind(SocketAddr::from(([0, 0, 0, 0], crate::TEST_PORT)))
        .unwrap();
    let start_time = Rc::new(Cell::new(0u64));
    server
        .listen(MAX_WRITE_HANDLES, move |server, status| {
            status.unwrap();
            let stream = server.accept().unwrap();
            let start = start_time.clone();
            stream
                .read_start(move |stream, bytes| pump_read_cb(stream, bytes, &start))
                .unwrap();
            stream.detach();
            add(&READ_SOCKETS, 1);
        })
        .unwrap();
    notify_parent_process();
    lp.run(RunMode::Default).unwrap();
}

fn pump_read_cb(stream: &Tcp, bytes: Result<&[u8]>, start_time: &Rc<Cell<u64>>) {
    if get(&NRECV_TOTAL) == 0 {
        let lp = stream.loop_handle();
        lp.update_time();
        start_time.set(lp.now());
    }
    let buf = match bytes {
        Ok(buf) => buf,
        Err(_) => {
            let start = start_time.clone();
            let lp = stream.loop_handle();
            stream
                .close_with(move || {
                    READ_SOCKETS.with(|c| c.set(c.get() - 1));
                    if lp.now() - start.get() > 1000 && get(&READ_SOCKETS) == 0 {
                        lp.update_time();
                        let gbits = gbit(get(&NRECV_TOTAL), lp.now() - start.get());
                        eprintln!("tcp_pump_server: {gbits:.1} gbit/s");
                        lp.stop();
                    }
                })
                .unwrap();
            return;
        }
    };
    add(&NRECV, buf.len() as u64);
    add(&NRECV_TOTAL, buf.len() as u64);
}

// ---- tcp_write_batch (benchmark-tcp-write-batch.c) ----

const WRITE_REQ_DATA: &[u8; 13] = b"Hello, world.";
const NUM_WRITE_REQS: u64 = 1000 * 1000;

/// Connects to the blackhole server, queues a million 13-byte writes, then a shutdown;
/// the time of the whole `uv_run` (connect included).
pub fn tcp_write_batch() {
    let lp = Loop::new().unwrap();
    let tcp_client = Tcp::new(&lp).unwrap();
    // C mallocs its NUM_WRITE_REQS requests before the clock starts; this is the same.
    tcp_client.reserve_writes(NUM_WRITE_REQS as usize).unwrap();
    tcp_client
        .connect(test_addr(), |tcp, status| {
            status.unwrap();
            for _ in 0..NUM_WRITE_REQS {
                tcp.write(WRITE_REQ_DATA, batch_write_cb).unwrap();
            }
            tcp.shutdown(batch_shutdown_cb).unwrap();
            add(&CONNECT_CB_CALLED, 1);
        })
        .unwrap();
    let start = Instant::now();
    lp.run(RunMode::Default).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(get(&CONNECT_CB_CALLED), 1);
    assert_eq!(get(&WRITE_CB_CALLED), NUM_WRITE_REQS);
    assert_eq!(get(&SHUTDOWN_CB_CALLED), 1);
    assert_eq!(get(&CLOSE_CB_CALLED), 1);
    println!(
        "{} write requests in {:.2}s.",
        NUM_WRITE_REQS,
        elapsed.as_secs_f64()
    );
    drop(tcp_client);
    lp.close().unwrap();
}

fn batch_write_cb(_: &Tcp, status: Result<()>) {
    status.unwrap();
    add(&WRITE_CB_CALLED, 1);
}

fn batch_shutdown_cb(tcp: &Tcp, _: Result<()>) {
    assert_eq!(tcp.write_queue_size(), 0);
    tcp.close_with(|| add(&CLOSE_CB_CALLED, 1)).unwrap();
    add(&SHUTDOWN_CB_CALLED, 1);
}

// ---- tcp4_blackhole_server (blackhole-server.c) ----

pub fn tcp4_blackhole_server() {
    let lp = Loop::new().unwrap();
    let server = Tcp::new(&lp).unwrap();
    server.bind(test_addr()).unwrap();
    server
        .listen(128, |server, status| {
            status.unwrap();
            let conn = server.accept().unwrap();
            conn.read_start(blackhole_read_cb).unwrap();
            conn.detach();
        })
        .unwrap();
    notify_parent_process();
    lp.run(RunMode::Default).unwrap();
    panic!("Blackhole server dropped out of event loop.");
}

fn blackhole_read_cb(stream: &Tcp, nread: Result<&[u8]>) {
    let Err(e) = nread else { return };
    assert_eq!(e, Error::EOF);
    stream.shutdown(|conn, _| conn.close()).unwrap();
}

// ---- ping_udp1 (benchmark-ping-udp.c) ----

/// `pingers` sockets, each bound to the address it sends to: `PING\n` to itself with
/// `try_send`, again on each datagram received, for `TIME` ms.
pub fn ping_udp(pingers: u32) {
    let lp = Loop::new().unwrap();
    let start_time = lp.now();
    for _ in 0..pingers {
        udp_pinger_new(&lp, start_time);
    }
    lp.run(RunMode::Default).unwrap();
    assert!(get(&COMPLETED_PINGERS) >= 1);
    eprintln!(
        "ping_pongs: {} pingers, ~ {} roundtrips/s",
        get(&COMPLETED_PINGERS),
        get(&COMPLETED_PINGS) / (TIME / 1000)
    );
    lp.close().unwrap();
}

fn udp_pinger_write_ping(udp: &Udp, server_addr: SocketAddr) {
    if udp.try_send(PING, Some(server_addr)).is_err() {
        panic!("uv_udp_send failed");
    }
}

fn udp_pinger_new(lp: &LoopHandle, start_time: u64) {
    let server_addr = test_addr();
    let udp = Udp::new(lp).unwrap();
    udp.bind(server_addr).unwrap();
    let lh = lp.clone();
    let (mut state, mut pongs) = (0usize, 0u64);
    let read_cb = move |udp: &Udp, dgram: Result<rsuv::Datagram<'_>>| {
        // No data here means something went wrong
        let buf = dgram.unwrap().data;
        assert!(!buf.is_empty());
        for &byte in buf {
            assert_eq!(byte, PING[state]);
            state = (state + 1) % PING.len();
            if state == 0 {
                pongs += 1;
                if lh.now() - start_time > TIME {
                    let pongs = pongs;
                    udp.close_with(move || {
                        add(&COMPLETED_PINGS, pongs);
                        add(&COMPLETED_PINGERS, 1);
                    })
                    .unwrap();
                    break;
                }
                udp_pinger_write_ping(udp, server_addr);
            }
        }
    };
    if udp.recv_start(read_cb).is_err() {
        panic!("uv_udp_read_start failed");
    }
    udp_pinger_write_ping(&udp, server_addr);
    udp.detach();
}
