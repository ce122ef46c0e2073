//! [`FsEvent`] (the kernel's change notifications for a path: inotify on Linux) and
//! [`FsPoll`] (`stat` polling at an interval, for file systems that notify nothing).

use std::ffi::{CStr, CString, OsString};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::fs::{Stat, stat_from};
use super::handle::{Callback, Owned, State, dispatch, handle_methods};
use super::loop_::LoopHandle;

fn c_path(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::EINVAL)
}

/// The path a started watcher watches, through libuv's `*_getpath` (`None` when stopped).
fn getpath(get: impl Fn(*mut c_char, *mut usize) -> c_int) -> Option<PathBuf> {
    let mut buf = vec![0u8; 4096];
    let mut len = buf.len();
    if get(buf.as_mut_ptr().cast(), &mut len) != 0 {
        return None;
    }
    buf.truncate(len);
    Some(PathBuf::from(OsString::from_vec(buf)))
}

/// What an [`FsEvent`] reports: the name that changed (relative to a watched directory; the
/// file's own name when a file is watched) and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsChange {
    /// The entry's name, when the system gives one.
    pub name: Option<OsString>,
    /// The entry was renamed, created or deleted (`UV_RENAME`).
    pub rename: bool,
    /// The entry's contents or metadata changed (`UV_CHANGE`).
    pub change: bool,
}

type FsEventCb = dyn FnMut(&FsEvent, Result<FsChange>);

pub(crate) struct FsEventState {
    cb: Callback<FsEventCb>,
}

impl State for FsEventState {
    type Raw = uv_fs_event_t;
    fn clear(&self) {
        self.cb.clear();
    }
}

/// Watches a file or a directory for changes (libuv's `uv_fs_event_t`).
///
/// # Examples
///
/// ```
/// use rsuv::{FsEvent, Loop, RunMode, Timer};
/// use std::{cell::RefCell, rc::Rc, time::Duration};
///
/// let lp = Loop::new()?;
/// let dir = rsuv::fs::mkdtemp("/tmp/rsuv-ev-XXXXXX").run(&lp)?;
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let ev = FsEvent::new(&lp)?;
/// let s = seen.clone();
/// ev.start(&dir, false, move |ev, change| {
///     s.borrow_mut().push(change.unwrap().name);
///     ev.close();
/// })?;
/// let path = dir.join("new.txt");
/// let t = Timer::new(&lp)?;
/// t.start(Duration::from_millis(10), Duration::ZERO, move |_| std::fs::write(&path, b"x").unwrap())?;
/// lp.run(RunMode::Default)?;
/// assert_eq!(seen.borrow()[0].as_deref(), Some("new.txt".as_ref()));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct FsEvent(Owned<FsEventState>);

handle_methods!(FsEvent);

unsafe extern "C" fn on_fs_event(
    raw: *mut uv_fs_event_t,
    filename: *const c_char,
    events: c_int,
    status: c_int,
) {
    let change = check(status).map(|_| FsChange {
        // SAFETY: libuv passes a NUL-terminated name, or null, valid during this call.
        name: (!filename.is_null())
            .then(|| OsString::from_vec(unsafe { CStr::from_ptr(filename) }.to_bytes().to_vec())),
        rename: events & uv_fs_event_UV_RENAME as c_int != 0,
        change: events & uv_fs_event_UV_CHANGE as c_int != 0,
    });
    // SAFETY: libuv calls this only for open handles made by `FsEvent::new`.
    unsafe {
        dispatch(raw.cast(), FsEvent, |h| {
            h.0.state().cb.call(h.0.core(), |f| f(h, change))
        })
    }
}

impl FsEvent {
    /// Creates a watcher on `lp` (not started).
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`] if the loop is closed.
    #[doc(alias = "uv_fs_event_init")]
    pub fn new(lp: &LoopHandle) -> Result<FsEvent> {
        let state = FsEventState {
            cb: Callback::empty(),
        };
        // SAFETY: `raw` is fresh memory of uv_handle_size(UV_FS_EVENT) bytes.
        let init = |l, raw: *mut uv_handle_t| unsafe { uv_fs_event_init(l, raw.cast()) };
        Owned::init(lp, uv_handle_type_UV_FS_EVENT, state, init).map(FsEvent)
    }

    /// Watches `path`; `cb` runs for each change. `recursive` asks for the whole tree under a
    /// directory, which Linux's inotify cannot give (libuv watches one level there).
    ///
    /// # Errors
    ///
    /// `ENOENT` and the like for the path, `EINVAL` for a NUL in it, [`Error::CLOSED`].
    #[doc(alias = "uv_fs_event_start")]
    pub fn start(
        &self,
        path: impl AsRef<Path>,
        recursive: bool,
        cb: impl FnMut(&FsEvent, Result<FsChange>) + 'static,
    ) -> Result<()> {
        let raw = self.0.raw::<uv_fs_event_t>()?;
        let p = c_path(path.as_ref())?;
        let flags = if recursive {
            uv_fs_event_flags_UV_FS_EVENT_RECURSIVE
        } else {
            0
        };
        // SAFETY: an open fs-event handle; libuv copies the path.
        check(unsafe { uv_fs_event_start(raw, Some(on_fs_event), p.as_ptr(), flags) })?;
        self.0.state().cb.set(Box::new(cb));
        Ok(())
    }

    /// Stops watching (the handle can be started again).
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`] if the handle is closing or closed.
    #[doc(alias = "uv_fs_event_stop")]
    pub fn stop(&self) -> Result<()> {
        // SAFETY: an open fs-event handle.
        check(unsafe { uv_fs_event_stop(self.0.raw()?) }).map(drop)
    }

    /// The watched path, while started.
    #[doc(alias = "uv_fs_event_getpath")]
    pub fn path(&self) -> Option<PathBuf> {
        let raw = self.0.raw::<uv_fs_event_t>().ok()?;
        // SAFETY: an open handle; libuv writes at most `*len` bytes into `buf`.
        getpath(|buf, len| unsafe { uv_fs_event_getpath(raw, buf, len) })
    }
}

type FsPollCb = dyn FnMut(&FsPoll, Result<(Stat, Stat)>);

pub(crate) struct FsPollState {
    cb: Callback<FsPollCb>,
}

impl State for FsPollState {
    type Raw = uv_fs_poll_t;
    fn clear(&self) {
        self.cb.clear();
    }
}

/// Polls a path with `stat` at an interval and reports changes (libuv's `uv_fs_poll_t`):
/// `cb` gets the previous and the current `Stat` when they differ, or the error `stat` gave
/// (once per new error: `ENOENT` when the file goes away).
///
/// # Examples
///
/// ```
/// use rsuv::{FsPoll, Loop, RunMode, Timer};
/// use std::{cell::Cell, rc::Rc, time::Duration};
///
/// let lp = Loop::new()?;
/// let dir = rsuv::fs::mkdtemp("/tmp/rsuv-poll-XXXXXX").run(&lp)?;
/// let path = dir.join("f");
/// std::fs::write(&path, b"1").unwrap();
/// let size = Rc::new(Cell::new(0));
/// let poll = FsPoll::new(&lp)?;
/// let s = size.clone();
/// poll.start(&path, 20, move |p, r| {
///     s.set(r.unwrap().1.size);
///     p.close();
/// })?;
/// let t = Timer::new(&lp)?;
/// let p2 = path.clone();
/// t.start(Duration::from_millis(50), Duration::ZERO, move |_| std::fs::write(&p2, b"1234").unwrap())?;
/// lp.run(RunMode::Default)?;
/// assert_eq!(size.get(), 4);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct FsPoll(Owned<FsPollState>);

handle_methods!(FsPoll);

unsafe extern "C" fn on_fs_poll(
    raw: *mut uv_fs_poll_t,
    status: c_int,
    prev: *const uv_stat_t,
    curr: *const uv_stat_t,
) {
    // SAFETY: libuv passes two valid stat buffers for this call (zeroed ones on an error).
    let r = check(status).map(|_| unsafe { (stat_from(&*prev), stat_from(&*curr)) });
    // SAFETY: libuv calls this only for open handles made by `FsPoll::new`.
    unsafe {
        dispatch(raw.cast(), FsPoll, |h| {
            h.0.state().cb.call(h.0.core(), |f| f(h, r))
        })
    }
}

impl FsPoll {
    /// Creates a poller on `lp` (not started).
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`] if the loop is closed.
    #[doc(alias = "uv_fs_poll_init")]
    pub fn new(lp: &LoopHandle) -> Result<FsPoll> {
        let state = FsPollState {
            cb: Callback::empty(),
        };
        // SAFETY: `raw` is fresh memory of uv_handle_size(UV_FS_POLL) bytes.
        let init = |l, raw: *mut uv_handle_t| unsafe { uv_fs_poll_init(l, raw.cast()) };
        Owned::init(lp, uv_handle_type_UV_FS_POLL, state, init).map(FsPoll)
    }

    /// Polls `path` every `interval_ms` milliseconds.
    ///
    /// # Errors
    ///
    /// `EINVAL` for a NUL in the path; [`Error::CLOSED`].
    #[doc(alias = "uv_fs_poll_start")]
    pub fn start(
        &self,
        path: impl AsRef<Path>,
        interval_ms: u32,
        cb: impl FnMut(&FsPoll, Result<(Stat, Stat)>) + 'static,
    ) -> Result<()> {
        let raw = self.0.raw::<uv_fs_poll_t>()?;
        let p = c_path(path.as_ref())?;
        // SAFETY: an open fs-poll handle; libuv copies the path.
        check(unsafe { uv_fs_poll_start(raw, Some(on_fs_poll), p.as_ptr(), interval_ms) })?;
        self.0.state().cb.set(Box::new(cb));
        Ok(())
    }

    /// Stops polling.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`] if the handle is closing or closed.
    #[doc(alias = "uv_fs_poll_stop")]
    pub fn stop(&self) -> Result<()> {
        // SAFETY: an open fs-poll handle.
        check(unsafe { uv_fs_poll_stop(self.0.raw()?) }).map(drop)
    }

    /// The polled path, while started.
    #[doc(alias = "uv_fs_poll_getpath")]
    pub fn path(&self) -> Option<PathBuf> {
        let raw = self.0.raw::<uv_fs_poll_t>().ok()?;
        // SAFETY: an open handle; libuv writes at most `*len` bytes into `buf`.
        getpath(|buf, len| unsafe { uv_fs_poll_getpath(raw, buf, len) })
    }
}
