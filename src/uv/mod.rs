//! Safe wrappers over libuv: the only module with libuv `unsafe`.

mod addr;
mod async_;
mod buf;
mod dns;
mod error;
mod fd;
mod handle;
mod loop_;
mod pipe;
mod poll;
mod process;
mod req;
mod signal;
pub(crate) mod stream;
mod sync;
mod tcp;
mod timer;
mod tty;
mod udp;
mod watcher;
mod work;

pub use async_::{Async, AsyncSender};
pub use buf::WriteBuf;
pub use dns::{AddrInfo, AddrInfoHints, DnsRequest, getaddrinfo, getnameinfo};
pub use error::{Error, Result, check};
pub use loop_::{Loop, LoopHandle, RunMode};
pub use pipe::{PendingHandle, Pipe, PipeName, SendHandle};
pub use poll::{Poll, PollEvents};
pub use process::{ExitStatus, Process, ProcessOptions, Stdio, kill};
pub use signal::Signal;
pub use sync::{
    Barrier, Condvar, Mutex, MutexGuard, Once, RwLock, RwLockReadGuard, RwLockWriteGuard,
    Semaphore, WaitTimeoutResult,
};
pub use tcp::{Tcp, TcpBindFlags};
pub use timer::Timer;
pub use tty::{Tty, TtyMode, reset_tty_mode};
pub use udp::{Datagram, Udp, UdpBindFlags};
pub use watcher::{Check, Idle, Prepare};
pub use work::Work;

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
