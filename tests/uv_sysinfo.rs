//! What libuv reports about the machine and the process (CPUs, interfaces, memory, load,
//! uptime, rusage, descriptor kinds) checked against what the kernel says through /proc and
//! libc, and `dup_fd`.

use rsuv::{
    cpu_info, dup_fd, free_memory, getrusage, guess_handle, interface_addresses, loadavg,
    resident_set_memory, total_memory, uptime,
};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;

#[test]
fn cpus_match_the_kernel() {
    let cpus = cpu_info().unwrap();
    let online = std::thread::available_parallelism().unwrap().get();
    assert!(cpus.len() >= online, "{} < {online}", cpus.len());
    for c in &cpus {
        assert!(!c.model.is_empty());
        assert!(c.times.user + c.times.sys + c.times.idle > 0, "{c:?}");
    }
}

#[test]
fn loopback_is_an_internal_interface() {
    let all = interface_addresses().unwrap();
    let lo = all
        .iter()
        .find(|a| a.address == IpAddr::V4(Ipv4Addr::LOCALHOST))
        .expect("127.0.0.1 listed");
    assert!(lo.is_internal);
    assert_eq!(lo.netmask, IpAddr::V4(Ipv4Addr::new(255, 0, 0, 0)));
    assert_eq!(lo.name, "lo");
}

#[test]
fn memory_load_and_uptime_are_the_kernels() {
    let (total, free) = (total_memory(), free_memory());
    assert!(total > 0 && free <= total, "{free} of {total}");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = meminfo
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(total, kib * 1024);
    let rss = resident_set_memory().unwrap();
    assert!(rss > 1 << 20, "{rss}");
    assert!(loadavg().iter().all(|l| *l >= 0.0));
    let proc_up: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let up = uptime().unwrap();
    assert!((up - proc_up).abs() < 2.0, "{up} vs {proc_up}");
}

#[test]
fn rusage_counts_this_process() {
    let before = getrusage().unwrap();
    let mut x = 0u64;
    let start = std::time::Instant::now();
    while start.elapsed().as_millis() < 50 {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
    let after = getrusage().unwrap();
    assert!(after.utime + after.stime > before.utime + before.stime);
    assert!(after.counts[0] > 0, "maxrss");
}

#[test]
fn guess_handle_names_each_kind() {
    // libuv's uv_handle_type numbers: UV_NAMED_PIPE 7, UV_TCP 12, UV_UDP 15, UV_FILE 17.
    let (a, _b) = UnixStream::pair().unwrap();
    assert_eq!(guess_handle(a.as_raw_fd()), 7);
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    assert_eq!(guess_handle(tcp.as_raw_fd()), 12);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_eq!(guess_handle(udp.as_raw_fd()), 15);
    let f = std::fs::File::open("/proc/self/exe").unwrap();
    assert_eq!(guess_handle(f.as_raw_fd()), 17);
    assert_eq!(guess_handle(-1), 0);
}

#[test]
fn dup_fd_is_an_independent_close_on_exec_copy() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let d = dup_fd(a.as_raw_fd()).unwrap();
    assert_ne!(d.as_raw_fd(), a.as_raw_fd());
    // SAFETY: fcntl(F_GETFD) reads no memory.
    let flags = unsafe { libc::fcntl(d.as_raw_fd(), libc::F_GETFD) };
    assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    drop(a); // the copy keeps the socket open
    // SAFETY: `d` is an owned descriptor, handed over to the UnixStream.
    let mut copy = unsafe { UnixStream::from_raw_fd(d.into_raw_fd()) };
    copy.write_all(b"through the copy").unwrap();
    drop(copy);
    let mut got = Vec::new();
    b.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"through the copy");
    assert_eq!(dup_fd(-1).err(), Some(rsuv::Error::EBADF));
}
