//! Tty on a pseudo-terminal: window size, writing, reading a line, raw mode, ENOTTY.

mod support;

use rsuv::{Error, Loop, RunMode, Tty, TtyMode};
use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;

/// A pseudo-terminal pair (master, slave) with a 100x40 window.
fn pty() -> (File, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    let ws = libc::winsize {
        ws_row: 40,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: valid out-pointers; null name and termios are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    assert_eq!(rc, 0);
    // SAFETY: openpty returned two fresh descriptors we now own.
    unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

#[test]
fn a_pseudo_terminal() {
    let lp = Loop::new().unwrap();
    let dog = support::watchdog(&lp, 30);
    let (mut master, slave) = pty();
    let tty = Tty::new(&lp, slave).unwrap();
    assert_eq!(tty.winsize().unwrap(), (100, 40));
    assert!(tty.is_readable() && tty.is_writable());
    // Written through the handle, read on the master side.
    tty.write(b"from rsuv\n", |_, r| r.unwrap()).unwrap();
    // A line typed on the master side, read by the handle.
    master.write_all(b"typed line\n").unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    tty.read_start(move |t, data| {
        g.borrow_mut().extend_from_slice(data.unwrap());
        if g.borrow().ends_with(b"\n") {
            t.read_stop().unwrap();
        }
    })
    .unwrap();
    lp.run(RunMode::NoWait).unwrap();
    while !got.borrow().ends_with(b"\n") {
        lp.run(RunMode::Once).unwrap();
    }
    assert_eq!(&*got.borrow(), b"typed line\n");
    tty.set_mode(TtyMode::Raw).unwrap();
    tty.set_mode(TtyMode::Normal).unwrap();
    rsuv::reset_tty_mode().unwrap();
    drop((tty, dog));
    support::finish(lp);
    // The master saw our write (after the echo of the typed line, in some order).
    let mut buf = vec![0u8; 256];
    let n = master.read(&mut buf).unwrap();
    let seen = String::from_utf8_lossy(&buf[..n]);
    assert!(seen.contains("from rsuv"), "{seen:?}");
}

#[test]
fn not_a_terminal() {
    let lp = Loop::new().unwrap();
    let file = File::open("/proc/self/exe").unwrap();
    assert_eq!(Tty::new(&lp, file.into()).err(), Some(Error::ENOTTY));
    let (_m, slave) = pty();
    let tty = Tty::new(&lp, slave).unwrap();
    assert_eq!(tty.accept().err(), Some(Error::ENOTSUP));
    tty.close();
    assert_eq!(tty.winsize(), Err(Error::CLOSED));
    assert_eq!(tty.set_mode(TtyMode::Raw), Err(Error::CLOSED));
    support::finish(lp);
}
