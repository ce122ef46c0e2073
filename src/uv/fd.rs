//! Checks on descriptors handed to libuv, which aborts the process if epoll later refuses one.

use std::io;
use std::os::fd::RawFd;

use super::error::{Error, Result};

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
