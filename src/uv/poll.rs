//! [`Poll`]: readiness of a file descriptor (readable, writable, disconnect).

use std::cell::Cell;
use std::ops::{BitOr, BitOrAssign};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::raw::c_int;

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::handle::{Callback, Owned, State, dispatch, handle_methods};
use super::loop_::LoopHandle;

/// A set of readiness events.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
#[doc(alias = "uv_poll_event")]
pub struct PollEvents(pub(crate) u32);

impl PollEvents {
    /// No event.
    pub const NONE: PollEvents = PollEvents(0);
    /// The descriptor is readable.
    pub const READABLE: PollEvents = PollEvents(uv_poll_event_UV_READABLE);
    /// The descriptor is writable.
    pub const WRITABLE: PollEvents = PollEvents(uv_poll_event_UV_WRITABLE);
    /// The peer closed its side (`EPOLLRDHUP`); may arrive with `READABLE`.
    pub const DISCONNECT: PollEvents = PollEvents(uv_poll_event_UV_DISCONNECT);
    /// Urgent (out-of-band) data is readable.
    pub const PRIORITIZED: PollEvents = PollEvents(uv_poll_event_UV_PRIORITIZED);

    /// The events of libuv's bit mask `bits` (`UV_READABLE | ...`); unknown bits dropped.
    pub const fn from_bits(bits: u32) -> PollEvents {
        PollEvents(bits & 0xf)
    }

    /// libuv's bit mask.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every event in `other` is in `self`.
    pub fn contains(self, other: PollEvents) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for PollEvents {
    type Output = PollEvents;
    fn bitor(self, rhs: PollEvents) -> PollEvents {
        PollEvents(self.0 | rhs.0)
    }
}

impl BitOrAssign for PollEvents {
    fn bitor_assign(&mut self, rhs: PollEvents) {
        self.0 |= rhs.0;
    }
}

impl std::fmt::Debug for PollEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = [
            (Self::READABLE, "READABLE"),
            (Self::WRITABLE, "WRITABLE"),
            (Self::DISCONNECT, "DISCONNECT"),
            (Self::PRIORITIZED, "PRIORITIZED"),
        ];
        let set: Vec<_> = names
            .iter()
            .filter(|(e, _)| self.contains(*e))
            .map(|(_, n)| *n)
            .collect();
        write!(f, "PollEvents({})", set.join(" | "))
    }
}

type PollCb = dyn FnMut(&Poll, Result<PollEvents>);

pub(crate) struct PollState {
    cb: Callback<PollCb>,
    fd: RawFd,
    owned: Cell<Option<OwnedFd>>,
    lp: LoopHandle,
}

impl State for PollState {
    type Raw = uv_poll_t;

    fn clear(&self) {
        self.lp.0.release_poll_fd(self.fd);
        self.cb.clear();
        // The descriptor is closed only now that libuv no longer watches it.
        drop(self.owned.take());
    }
}

/// Watches a file descriptor for readiness, as `epoll` does.
///
/// The descriptor must stay open while the handle is open: libuv aborts the process if epoll
/// reports that a watched descriptor was closed. [`Poll::new`] makes that impossible by taking
/// ownership of the descriptor (closed after the handle is); [`Poll::new_borrowed`] leaves that
/// promise to the caller.
///
/// # Examples
///
/// ```
/// use rsuv::{Loop, Poll, PollEvents, RunMode};
/// use std::os::unix::net::UnixStream;
/// let lp = Loop::new()?;
/// let (a, _b) = UnixStream::pair().unwrap();
/// let poll = Poll::new(&lp, a.into())?;
/// poll.start(PollEvents::WRITABLE, |p, events| {
///     assert!(events.unwrap().contains(PollEvents::WRITABLE));
///     p.close();
/// })?;
/// lp.run(RunMode::Default)?;
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Poll(Owned<PollState>);

handle_methods!(Poll);

unsafe extern "C" fn on_poll(raw: *mut uv_poll_t, status: c_int, events: c_int) {
    let result = check(status).map(|_| PollEvents(events as u32));
    // SAFETY: libuv calls this only for open handles made by `Poll::new*`.
    unsafe {
        dispatch(raw.cast(), Poll, |h| {
            h.0.state().cb.call(h.0.core(), |f| f(h, result))
        })
    }
}

impl Poll {
    /// Watches `fd`, which the handle owns and closes after it is closed. The descriptor is
    /// switched to non-blocking mode.
    ///
    /// # Errors
    ///
    /// `EEXIST` if another poll handle on this loop has the descriptor (until that handle's
    /// close callback has run); `EPERM` for a
    /// descriptor epoll cannot watch (a regular file); [`Error::CLOSED`] if the loop is closed.
    #[doc(alias = "uv_poll_init")]
    pub fn new(lp: &LoopHandle, fd: OwnedFd) -> Result<Poll> {
        let raw_fd = fd.as_raw_fd();
        Self::init(lp, raw_fd, Some(fd))
    }

    /// Watches a descriptor the caller keeps ownership of.
    ///
    /// # Errors
    ///
    /// As for [`Poll::new`].
    ///
    /// # Safety
    ///
    /// `fd` must stay open until this handle is closed (its close callback has run, or its loop
    /// has been dropped); otherwise libuv may abort the process.
    #[doc(alias = "uv_poll_init")]
    pub unsafe fn new_borrowed(lp: &LoopHandle, fd: RawFd) -> Result<Poll> {
        Self::init(lp, fd, None)
    }

    fn init(lp: &LoopHandle, fd: RawFd, owned: Option<OwnedFd>) -> Result<Poll> {
        lp.0.raw()?;
        lp.0.claim_poll_fd(fd)?;
        let owned = Cell::new(owned);
        let state = PollState {
            cb: Callback::empty(),
            fd,
            owned,
            lp: lp.clone(),
        };
        // SAFETY: `raw` is fresh memory of uv_handle_size(UV_POLL) bytes.
        let init = |l, raw: *mut uv_handle_t| unsafe { uv_poll_init(l, raw.cast(), fd) };
        let poll = Owned::init(lp, uv_handle_type_UV_POLL, state, init);
        if poll.is_err() {
            lp.0.release_poll_fd(fd);
        }
        poll.map(Poll)
    }

    /// The watched descriptor.
    pub fn fd(&self) -> RawFd {
        self.0.state().fd
    }

    /// Starts watching for `events`; `cb` gets the events that are ready, or an error. Starting
    /// an active handle changes the events and callback.
    ///
    /// # Errors
    ///
    /// `EINVAL` for an empty event set; [`Error::CLOSED`] if the handle is closing or closed.
    #[doc(alias = "uv_poll_start")]
    pub fn start(
        &self,
        events: PollEvents,
        cb: impl FnMut(&Poll, Result<PollEvents>) + 'static,
    ) -> Result<()> {
        let raw = self.0.raw()?;
        if events.is_empty() {
            return Err(Error::EINVAL);
        }
        // SAFETY: `raw` is an open poll handle.
        check(unsafe { uv_poll_start(raw, events.0 as c_int, Some(on_poll)) })?;
        // Installed only once libuv accepted the start: a refused start keeps the old one.
        self.0.state().cb.set(Box::new(cb));
        Ok(())
    }

    /// Stops watching.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`] if the handle is closing or closed.
    #[doc(alias = "uv_poll_stop")]
    pub fn stop(&self) -> Result<()> {
        // SAFETY: the handle is open.
        check(unsafe { uv_poll_stop(self.0.raw()?) }).map(drop)
    }
}
