//! Safe wrappers over libuv: the only module with libuv `unsafe`.

mod addr;
mod async_;
pub(crate) mod buf;
mod dns;
mod error;
mod fd;
mod fdwatch;
pub mod fs;
mod fs_watch;
mod handle;
mod loop_;
mod pipe;
mod poll;
mod process;
mod req;
mod req_pool;
mod signal;
pub(crate) mod stream;
mod sync;
mod sysinfo;
pub(crate) mod tcp;
mod timer;
mod tty;
mod udp;
mod watcher;
mod work;

pub use async_::{Async, AsyncSender};
pub use buf::{BufHome, Recycled, WriteBuf};
pub use dns::{
    AddrInfo, AddrInfoHints, DnsRequest, gai_error, getaddrinfo, getaddrinfo_blocking, getnameinfo,
    getnameinfo_blocking,
};
pub use error::{Error, Result, check};
pub use fd::dup_fd;
pub use fdwatch::FdWatch;
pub use fs_watch::{FsChange, FsEvent, FsPoll};
pub use loop_::{Loop, LoopHandle, RunMode};
pub use pipe::{PendingHandle, Pipe, PipeName, SendHandle};
pub use poll::{Poll, PollEvents};
pub use process::{ExitStatus, Process, ProcessOptions, Stdio, disable_stdio_inheritance, kill};
pub use signal::Signal;
pub use stream::ReadSink;
pub use sync::{
    Barrier, Condvar, Mutex, MutexGuard, Once, RwLock, RwLockReadGuard, RwLockWriteGuard,
    Semaphore, WaitTimeoutResult,
};
pub use sysinfo::{
    CpuInfo, CpuTimes, InterfaceAddress, Rusage, cpu_info, free_memory, getrusage, guess_handle,
    interface_addresses, loadavg, resident_set_memory, total_memory, uptime,
};
pub use tcp::{Tcp, TcpBindFlags};
pub use timer::Timer;
pub use tty::{Tty, TtyMode, reset_tty_mode};
pub use udp::{Datagram, Udp, UdpBindFlags};
pub use watcher::{Check, Idle, Prepare};
pub use work::{Work, WorkError};

/// The version of the linked libuv, as `(major, minor, patch)`.
///
/// rsuv always links the libuv source bundled in `libuv-sys2`, compiled statically.
///
/// # Examples
///
/// ```
/// assert_eq!(rsuv::version(), (1, 53, 0));
/// ```
#[doc(alias = "uv_version")]
pub fn version() -> (u32, u32, u32) {
    // SAFETY: uv_version has no preconditions.
    let v = unsafe { libuv_sys2::uv_version() };
    (v >> 16, (v >> 8) & 0xff, v & 0xff)
}

/// The version of the linked libuv as a string, such as `"1.53.0"`.
#[doc(alias = "uv_version_string")]
pub fn version_string() -> String {
    // SAFETY: uv_version_string returns a static NUL-terminated string.
    let s = unsafe { std::ffi::CStr::from_ptr(libuv_sys2::uv_version_string()) };
    s.to_string_lossy().into_owned()
}

/// libuv's high-resolution clock: nanoseconds of `CLOCK_MONOTONIC` on Linux, the clock of
/// Python's `time.monotonic()`.
///
/// # Examples
///
/// ```
/// let a = rsuv::hrtime();
/// assert!(rsuv::hrtime() >= a);
/// ```
#[doc(alias = "uv_hrtime")]
pub fn hrtime() -> u64 {
    // SAFETY: uv_hrtime has no preconditions.
    unsafe { libuv_sys2::uv_hrtime() }
}

/// Waits until `fd` is readable or `timeout` passes (`None`: no limit), for a program that
/// drives a loop from outside: wait on [`LoopHandle::backend_fd`] (with its locks released),
/// then run the loop with [`RunMode::NoWait`]. Returns whether `fd` became readable; `false`
/// on a timeout and when a signal interrupted the wait (`EINTR`).
///
/// # Errors
///
/// What `ppoll` reports other than `EINTR`.
///
/// # Examples
///
/// ```
/// use rsuv::{Loop, wait_readable};
/// use std::time::Duration;
/// let lp = Loop::new()?;
/// // Nothing is pending: the wait times out.
/// assert!(!wait_readable(lp.backend_fd()?, Some(Duration::from_millis(1)))?);
/// # Ok::<(), rsuv::Error>(())
/// ```
pub fn wait_readable(fd: std::os::fd::RawFd, timeout: Option<std::time::Duration>) -> Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: one valid pollfd; `tsp` is null or points at a live timespec; no signal mask.
    let rc = unsafe { libc::ppoll(&mut pfd, 1, tsp, std::ptr::null()) };
    if rc < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if errno == libc::EINTR {
            return Ok(false);
        }
        return Err(Error::from_raw(-errno));
    }
    Ok(rc > 0)
}
