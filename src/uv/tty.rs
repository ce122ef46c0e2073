//! [`Tty`]: a terminal as a stream, with raw mode and window size.

use std::cell::Cell;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::handle::{Owned, handle_methods};
use super::loop_::LoopHandle;
use super::stream::{StreamExtra, StreamHandle, StreamState, stream_methods};

/// Terminal modes for [`Tty::set_mode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtyMode {
    /// Line-buffered, with echo: how the terminal was.
    Normal,
    /// Raw input: no line buffering, no echo, no signals from keys.
    Raw,
    /// Binary-safe I/O mode (for IPC over a terminal).
    Io,
}

/// A terminal, read and written as a stream.
///
/// # Examples
///
/// ```no_run
/// use rsuv::{Loop, Tty};
/// use std::os::fd::AsFd;
/// let lp = Loop::new()?;
/// let fd = std::io::stdout().as_fd().try_clone_to_owned().expect("dup");
/// let out = Tty::new(&lp, fd)?;
/// let (cols, rows) = out.winsize()?;
/// out.write(format!("{cols}x{rows}\n"), |t, _| t.close())?;
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Tty(Owned<StreamState<Tty>>);

handle_methods!(Tty);
stream_methods!(Tty);

/// What a terminal keeps: the descriptor it was opened on, when libuv reopened the device
/// instead of using it (closed once the handle is closed).
#[derive(Default)]
pub(crate) struct TtyExtra {
    keep_fd: Cell<Option<OwnedFd>>,
}

impl StreamExtra for TtyExtra {
    fn clear(&self) {
        drop(self.keep_fd.take());
    }
}

impl StreamHandle for Tty {
    type Raw = uv_tty_t;
    type Extra = TtyExtra;
    fn owned(&self) -> &Owned<StreamState<Tty>> {
        &self.0
    }
    fn wrap(owned: Owned<StreamState<Tty>>) -> Tty {
        Tty(owned)
    }
    fn into_owned(self) -> Owned<StreamState<Tty>> {
        self.0
    }
    fn new_peer(&self) -> Result<Tty> {
        Err(Error::ENOTSUP) // terminals do not listen
    }
}

impl Tty {
    /// Opens the terminal on `fd` (for example a duplicate of standard output), which the
    /// handle owns and closes after it is closed. libuv reopens the terminal device when it
    /// can, so reads and writes do not change the mode of the shared descriptor.
    ///
    /// # Errors
    ///
    /// `ENOTTY` when `fd` is not a terminal (it is closed then); [`Error::CLOSED`] if the loop
    /// is closed.
    #[doc(alias = "uv_tty_init")]
    pub fn new(lp: &LoopHandle, fd: OwnedFd) -> Result<Tty> {
        let raw_fd = fd.as_raw_fd();
        // SAFETY: `isatty` only inspects the descriptor.
        if unsafe { libc::isatty(raw_fd) } == 0 {
            return Err(Error::ENOTTY);
        }
        let state = StreamState::new(TtyExtra::default());
        // SAFETY: `raw` is fresh memory of uv_handle_size(UV_TTY) bytes; `fd` is a terminal
        // that stays open (owned below) for the handle's life.
        let init = |l, raw: *mut uv_handle_t| unsafe { uv_tty_init(l, raw.cast(), raw_fd, 0) };
        let tty = Tty(Owned::init(lp, uv_handle_type_UV_TTY, state, init)?);
        if tty.fileno() == Ok(raw_fd) {
            let _ = fd.into_raw_fd(); // libuv uses it as is, and closes it with the handle
        } else {
            tty.0.state().extra.keep_fd.set(Some(fd)); // libuv reopened the device: ours to close
        }
        Ok(tty)
    }

    /// Sets the terminal mode. [`reset_tty_mode`] restores the original one.
    ///
    /// # Errors
    ///
    /// What `tcsetattr` reports; [`Error::CLOSED`].
    #[doc(alias = "uv_tty_set_mode")]
    pub fn set_mode(&self, mode: TtyMode) -> Result<()> {
        let mode = match mode {
            TtyMode::Normal => uv_tty_mode_t_UV_TTY_MODE_NORMAL,
            TtyMode::Raw => uv_tty_mode_t_UV_TTY_MODE_RAW,
            TtyMode::Io => uv_tty_mode_t_UV_TTY_MODE_IO,
        };
        // SAFETY: the handle is open.
        check(unsafe { uv_tty_set_mode(self.0.raw()?, mode) }).map(drop)
    }

    /// The window size, as (columns, rows).
    ///
    /// # Errors
    ///
    /// What the `TIOCGWINSZ` ioctl reports; [`Error::CLOSED`].
    #[doc(alias = "uv_tty_get_winsize")]
    pub fn winsize(&self) -> Result<(u16, u16)> {
        let (mut w, mut h) = (0, 0);
        // SAFETY: the handle is open; the out-pointers are valid.
        check(unsafe { uv_tty_get_winsize(self.0.raw()?, &mut w, &mut h) })?;
        Ok((w as u16, h as u16))
    }
}

/// Restores the terminal mode saved before the first [`Tty::set_mode`] of this process (call
/// it before exiting after switching to raw mode). Safe from any thread.
///
/// # Errors
///
/// `EBUSY` if another thread is changing the mode right now.
#[doc(alias = "uv_tty_reset_mode")]
pub fn reset_tty_mode() -> Result<()> {
    // SAFETY: uv_tty_reset_mode is async-signal-safe and takes no arguments.
    check(unsafe { uv_tty_reset_mode() }).map(drop)
}
