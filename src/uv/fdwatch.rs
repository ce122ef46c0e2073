//! [`FdWatch`]: readiness of descriptors that the caller keeps, and may close at any time.
//!
//! A [`Poll`] handle must not outlive its descriptor: libuv aborts the process if epoll finds
//! a watched descriptor closed. asyncio's `add_reader` cannot promise that (a program may
//! close a socket it still watches), so `FdWatch` keeps such descriptors in an epoll instance
//! of its own, and only that instance (which it owns) is watched by libuv. A descriptor closed
//! while watched simply drops out of the set; the kernel does that, nothing aborts.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use super::error::{Error, Result};
use super::loop_::LoopHandle;
use super::poll::{Poll, PollEvents};

/// The most events taken from the epoll instance per wake-up (more wait for the next one).
const BATCH: usize = 64;

/// Watches any number of borrowed descriptors for readability and writability, level
/// triggered (as `selectors.EpollSelector`), on one libuv loop.
///
/// The callback gets each ready descriptor with the events it is registered for that are
/// ready; an error or hang-up on the descriptor reports every registered event, so that the
/// reader or writer finds out by trying. It may change or remove any registration, this one
/// included.
///
/// # Examples
///
/// ```
/// use rsuv::{FdWatch, Loop, PollEvents, RunMode, Timer};
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::rc::Rc;
/// use std::cell::Cell;
///
/// let lp = Loop::new()?;
/// let (a, b) = UnixStream::pair().unwrap();
/// let seen = Rc::new(Cell::new(PollEvents::NONE));
/// let s = seen.clone();
/// let lh = lp.handle();
/// let watch = FdWatch::new(&lp, move |_fd, events| {
///     s.set(events);
///     lh.stop();
/// })?;
/// watch.set(a.as_raw_fd(), PollEvents::WRITABLE)?;
/// // The watcher does not keep the loop alive: a timer does, until the callback stops it.
/// let guard = Timer::new(&lp)?;
/// guard.start(std::time::Duration::from_secs(5), std::time::Duration::ZERO, |_| {})?;
/// lp.run(RunMode::Default)?;
/// assert_eq!(seen.get(), PollEvents::WRITABLE);
/// drop(b); // closing a watched descriptor is harmless
/// drop(a);
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct FdWatch {
    poll: Poll,
    shared: Rc<Shared>,
}

struct Shared {
    ep: OwnedFd,
    /// What each descriptor is watched for, and whether edge-triggered.
    registered: RefCell<HashMap<RawFd, (PollEvents, bool)>>,
}

fn os_error() -> Error {
    let errno = io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL);
    Error::from_raw(-errno)
}

fn epoll_bits(events: PollEvents) -> u32 {
    let mut bits = 0;
    if events.contains(PollEvents::READABLE) {
        bits |= libc::EPOLLIN as u32;
    }
    if events.contains(PollEvents::WRITABLE) {
        bits |= libc::EPOLLOUT as u32;
    }
    bits
}

impl Shared {
    fn ctl(&self, op: libc::c_int, fd: RawFd, events: PollEvents, edge: bool) -> Result<()> {
        let et = if edge { libc::EPOLLET as u32 } else { 0 };
        let mut ev = libc::epoll_event {
            events: epoll_bits(events) | et,
            u64: fd as u32 as u64,
        };
        // SAFETY: `ep` is our epoll instance; `fd` is only named to the kernel, which checks it.
        let rc = unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), op, fd, &mut ev) };
        if rc < 0 { Err(os_error()) } else { Ok(()) }
    }

    /// Takes what is ready (without blocking) as `(fd, events)` pairs.
    fn ready(&self, out: &mut Vec<(RawFd, PollEvents)>) {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
        // SAFETY: `evs` has room for BATCH events; a zero timeout never blocks.
        let n = unsafe {
            libc::epoll_wait(
                self.ep.as_raw_fd(),
                evs.as_mut_ptr(),
                BATCH as libc::c_int,
                0,
            )
        };
        for ev in evs.iter().take(n.max(0) as usize) {
            let bits = ev.events;
            let mut ready = PollEvents::NONE;
            // As selectors.EpollSelector: anything but "readable" wakes a writer, anything
            // but "writable" wakes a reader (errors and hang-ups wake both).
            if bits & !(libc::EPOLLIN as u32) != 0 {
                ready |= PollEvents::WRITABLE;
            }
            if bits & !(libc::EPOLLOUT as u32) != 0 {
                ready |= PollEvents::READABLE;
            }
            out.push((ev.u64 as u32 as RawFd, ready));
        }
    }

    fn intersect(&self, fd: RawFd, ready: PollEvents) -> PollEvents {
        let want = self
            .registered
            .borrow()
            .get(&fd)
            .map_or(PollEvents::NONE, |r| r.0);
        readable_writable(PollEvents(want.0 & ready.0))
    }
}

impl FdWatch {
    /// Creates the watcher on `lp`; `cb(fd, events)` runs for each ready descriptor. The
    /// watcher does not keep the loop alive.
    ///
    /// # Errors
    ///
    /// `EMFILE` when no descriptor is left for the epoll instance; [`Error::CLOSED`] if the
    /// loop is closed.
    pub fn new(lp: &LoopHandle, mut cb: impl FnMut(RawFd, PollEvents) + 'static) -> Result<Self> {
        // SAFETY: epoll_create1 has no preconditions.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if raw < 0 {
            return Err(os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let ep = unsafe { OwnedFd::from_raw_fd(raw) };
        let for_poll = ep.try_clone().map_err(|_| os_error())?;
        let shared = Rc::new(Shared {
            ep,
            registered: RefCell::default(),
        });
        let poll = Poll::new(lp, for_poll)?;
        poll.unref();
        let weak = Rc::downgrade(&shared);
        let mut batch = Vec::with_capacity(BATCH);
        poll.start(PollEvents::READABLE, move |_, _| {
            let Some(shared) = weak.upgrade() else { return };
            shared.ready(&mut batch);
            for (fd, ready) in batch.drain(..) {
                // Registrations may change under earlier callbacks of this batch.
                let events = shared.intersect(fd, ready);
                if !events.is_empty() {
                    cb(fd, events);
                }
            }
        })?;
        Ok(FdWatch { poll, shared })
    }

    /// Watches `fd` for `events` (replacing what it was watched for); an empty set stops
    /// watching it.
    ///
    /// # Errors
    ///
    /// What epoll says of the descriptor: `EPERM` for one it cannot watch (a regular file),
    /// `EBADF` for a closed one. Stopping never fails.
    pub fn set(&self, fd: RawFd, events: PollEvents) -> Result<()> {
        self.set_mode(fd, events, false)
    }

    /// Watches `fd` for `events` edge-triggered: the callback runs once each time one of
    /// them becomes ready (new data, room again), not for as long as it stays so. The owner
    /// must try its call first and wait only after the call said it would block. Such a
    /// registration may be left in place while nothing waits (a spurious event costs one
    /// wake-up); [`FdWatch::set`] turns it back to level-triggered.
    ///
    /// # Errors
    ///
    /// As [`FdWatch::set`].
    pub fn set_edge(&self, fd: RawFd, events: PollEvents) -> Result<()> {
        self.set_mode(fd, events, true)
    }

    /// Whether `fd` is watched edge-triggered ([`FdWatch::set_edge`]).
    pub fn is_edge(&self, fd: RawFd) -> bool {
        self.shared
            .registered
            .borrow()
            .get(&fd)
            .is_some_and(|r| r.1)
    }

    fn set_mode(&self, fd: RawFd, events: PollEvents, edge: bool) -> Result<()> {
        let events = readable_writable(events);
        let was = self.shared.registered.borrow().get(&fd).copied();
        if events.is_empty() {
            if was.is_some() {
                self.shared.registered.borrow_mut().remove(&fd);
                // ENOENT/EBADF: the descriptor was closed, and so already left the set.
                let _ = self.shared.ctl(libc::EPOLL_CTL_DEL, fd, events, false);
            }
            return Ok(());
        }
        let (first, second) = if was.is_some() {
            (libc::EPOLL_CTL_MOD, libc::EPOLL_CTL_ADD)
        } else {
            (libc::EPOLL_CTL_ADD, libc::EPOLL_CTL_MOD)
        };
        // A descriptor closed and reopened under the same number left the set (MOD says
        // ENOENT); one registered and still open answers ADD with EEXIST: try the other.
        match self.shared.ctl(first, fd, events, edge) {
            Err(e) if e == Error::ENOENT || e == Error::EEXIST => {
                self.shared.ctl(second, fd, events, edge)?
            }
            other => other?,
        }
        self.shared
            .registered
            .borrow_mut()
            .insert(fd, (events, edge));
        Ok(())
    }

    /// What `fd` is watched for (empty if it is not).
    pub fn get(&self, fd: RawFd) -> PollEvents {
        self.shared
            .registered
            .borrow()
            .get(&fd)
            .map_or(PollEvents::NONE, |r| r.0)
    }

    /// How many descriptors are watched.
    pub fn len(&self) -> usize {
        self.shared.registered.borrow().len()
    }

    /// Whether no descriptor is watched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops watching every descriptor and closes the watcher.
    pub fn close(&self) {
        self.shared.registered.borrow_mut().clear();
        self.poll.close();
    }
}

/// `events` less anything but `READABLE` and `WRITABLE`.
fn readable_writable(events: PollEvents) -> PollEvents {
    let mut ev = PollEvents::NONE;
    for e in [PollEvents::READABLE, PollEvents::WRITABLE] {
        if events.contains(e) {
            ev |= e;
        }
    }
    ev
}

impl std::fmt::Debug for FdWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FdWatch")
            .field("watched", &self.len())
            .finish()
    }
}
