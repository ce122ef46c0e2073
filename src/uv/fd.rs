//! Checks on descriptors handed to libuv, which aborts the process if epoll later refuses one.

use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::raw::c_int;

use super::error::{Error, Result, check};

fn last_error() -> Error {
    Error::from_raw(
        -io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL),
    )
}

/// `Ok` if epoll can watch `fd` (a socket, pipe, FIFO, terminal...); the errno epoll gives
/// otherwise (`EPERM` for a regular file or directory, `EBADF` for a closed descriptor). Uses
/// a throw-away epoll instance, as libuv's own `uv__io_check_fd` does with the loop's.
pub(crate) fn check_pollable(fd: RawFd) -> Result<()> {
    // SAFETY: plain system calls on descriptors we own (`ep`) or only inspect (`fd`).
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        if ep < 0 {
            return Err(last_error());
        }
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 0,
        };
        let rc = libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev);
        let err = (rc < 0).then(last_error);
        libc::close(ep);
        err.map_or(Ok(()), Err)
    }
}

/// Hands `fd` to libuv through `open` (`uv_tcp_open`, `uv_udp_open`, `uv_pipe_open`): on
/// success libuv owns it (and closes it with the handle); on failure it is closed here.
pub(crate) fn adopt(fd: OwnedFd, open: impl FnOnce(RawFd) -> c_int) -> Result<()> {
    let raw = fd.into_raw_fd();
    let rc = open(raw);
    if rc < 0 {
        // SAFETY: libuv did not adopt `raw`, so it is still ours to close.
        unsafe { libc::close(raw) };
    }
    check(rc).map(drop)
}

/// The `SO_TYPE` of a socket (`ENOTSOCK` for another kind of descriptor).
pub(crate) fn socket_type(fd: &OwnedFd) -> Result<c_int> {
    let mut ty: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: a valid descriptor and out-pointers of the right size.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&raw mut ty).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(last_error());
    }
    Ok(ty)
}

/// A new descriptor (close-on-exec) for the open file `fd` refers to, owned by the caller:
/// for a binding that must watch a descriptor it does not own (pyuv's `Poll(loop, fd)`)
/// without breaking if its owner closes it.
///
/// # Errors
///
/// `EBADF` if `fd` is not open; what `fcntl(F_DUPFD_CLOEXEC)` reports otherwise.
///
/// # Examples
///
/// ```
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// use std::os::fd::{AsRawFd};
/// let d = rsuv::dup_fd(a.as_raw_fd())?;
/// assert_ne!(d.as_raw_fd(), a.as_raw_fd());
/// assert!(rsuv::dup_fd(-1).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn dup_fd(fd: RawFd) -> Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC reads no memory; any integer is a valid argument (EBADF else).
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(last_error());
    }
    // SAFETY: `new` is a descriptor fcntl just made, owned by nobody else.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(new) })
}
