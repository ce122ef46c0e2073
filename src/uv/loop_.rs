//! The event loop: [`Loop`] (the owner) and [`LoopHandle`] (a shared, non-owning reference).

use std::alloc::{self, Layout};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::os::raw::c_void;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;
use std::time::Duration;

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::handle::close_for_teardown;

/// How [`Loop::run`] runs the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[doc(alias = "uv_run_mode")]
pub enum RunMode {
    /// Run until there are no more active and referenced handles or requests, or until
    /// [`LoopHandle::stop`] is called.
    Default,
    /// Poll for I/O once, blocking if there are no pending callbacks.
    Once,
    /// Poll for I/O once, without blocking.
    NoWait,
}

/// What the loop and every handle on it share: the libuv loop memory and the panic slot.
pub(crate) struct LoopInner {
    raw: *mut uv_loop_t,
    closed: Cell<bool>,
    running: Cell<bool>,
    panic: Cell<Option<Box<dyn Any + Send>>>,
    now_at_close: Cell<u64>,
    /// Descriptors watched by a `Poll` handle on this loop: libuv does not support two.
    poll_fds: RefCell<HashSet<i32>>,
    /// The buffer every stream and UDP read on this loop lands in (see `read_buffer`):
    /// `READ_BUFFER_SIZE` bytes, allocated on the first read, freed with the loop.
    read_buf: Cell<*mut u8>,
    /// The read buffer is lent to a read callback right now.
    read_lent: Cell<bool>,
    /// `Some` for a loop that someone else owns (`Loop::from_raw`): the handles of ours open
    /// on it (as addresses), which are all that teardown may close there.
    foreign: Option<RefCell<HashSet<usize>>>,
}

/// Runs of a foreign loop at most, at teardown, for the close callbacks of our handles (one
/// is enough unless a close callback starts another close).
const FOREIGN_DRAIN_RUNS: usize = 8;

/// Size of the per-loop read buffer (as uvloop's): also room for several datagrams when UDP
/// uses recvmmsg.
pub(crate) const READ_BUFFER_SIZE: usize = 256 * 1024;

fn loop_layout() -> Layout {
    // SAFETY: uv_loop_size has no preconditions.
    let size = unsafe { uv_loop_size() };
    Layout::from_size_align(size, 16).expect("uv_loop_t layout")
}

impl LoopInner {
    /// The raw loop, or `Error::CLOSED` once the owning [`Loop`] has been dropped.
    pub(crate) fn raw(&self) -> Result<*mut uv_loop_t> {
        if self.closed.get() {
            Err(Error::CLOSED)
        } else {
            Ok(self.raw)
        }
    }

    /// Runs `f`; a panic inside it is kept (the first one wins) and stops the loop, to be
    /// resumed once control is back in [`Loop::run`].
    #[inline]
    pub(crate) fn guard(&self, f: impl FnOnce()) {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
            self.keep_panic(payload);
        }
    }

    #[cold]
    fn keep_panic(&self, payload: Box<dyn Any + Send>) {
        let first = self.panic.take();
        self.panic.set(Some(first.unwrap_or(payload)));
        // SAFETY: `raw` is valid until this LoopInner is dropped; uv_stop only sets a flag.
        unsafe { uv_stop(self.raw) };
    }
}

impl LoopInner {
    /// Notes a handle of ours opened on this loop (kept only for a foreign loop).
    pub(crate) fn note_open(&self, raw: *mut uv_handle_t) {
        if let Some(ours) = &self.foreign {
            ours.borrow_mut().insert(raw as usize);
        }
    }

    /// Notes a handle of ours closed (its close callback ran).
    pub(crate) fn note_closed(&self, raw: *mut uv_handle_t) {
        if let Some(ours) = &self.foreign {
            ours.borrow_mut().remove(&(raw as usize));
        }
    }

    /// Claims `fd` for a `Poll` handle: `EEXIST` if another one on this loop has it.
    pub(crate) fn claim_poll_fd(&self, fd: i32) -> Result<()> {
        if self.poll_fds.borrow_mut().insert(fd) {
            Ok(())
        } else {
            Err(Error::EEXIST)
        }
    }

    pub(crate) fn release_poll_fd(&self, fd: i32) {
        self.poll_fds.borrow_mut().remove(&fd);
    }

    /// The loop's read buffer, for a libuv alloc callback. Reads on one loop are sequential
    /// (libuv asks for a buffer, reads into it and calls the read callback before anything
    /// else runs), so one buffer serves every stream and UDP socket of the loop. Empty (libuv
    /// then reports `ENOBUFS`) in the impossible case of a read while it is lent.
    #[inline]
    pub(crate) fn read_buffer(&self) -> (*mut u8, usize) {
        if self.read_lent.get() {
            return (ptr::null_mut(), 0);
        }
        let mut buf = self.read_buf.get();
        if buf.is_null() {
            buf = Box::into_raw(vec![0u8; READ_BUFFER_SIZE].into_boxed_slice()).cast::<u8>();
            self.read_buf.set(buf);
        }
        (buf, READ_BUFFER_SIZE)
    }

    /// Lends the `n` bytes at `base` in the read buffer (filled by libuv since `read_buffer`;
    /// `base` is the start or, for recvmmsg, a datagram inside it) to `f`; a negative `n` is a
    /// libuv error code.
    #[inline]
    pub(crate) fn with_read_buffer(
        &self,
        base: *const u8,
        n: isize,
        f: impl FnOnce(Result<&[u8]>),
    ) {
        if n < 0 {
            return f(Err(Error::from_raw(n as i32)));
        }
        let start = (base as usize).wrapping_sub(self.read_buf.get() as usize);
        if self.read_buf.get().is_null() || start.saturating_add(n as usize) > READ_BUFFER_SIZE {
            return f(Err(Error::ENOBUFS));
        }
        // Marked lent while borrowed, so that nothing can reuse it under the borrow.
        self.read_lent.set(true);
        // SAFETY: `base..base + n` lies inside the buffer (checked above), which libuv filled;
        // it is not written while lent, and lives as long as the loop.
        let data = unsafe { std::slice::from_raw_parts(base, n as usize) };
        let _lent = LentGuard(&self.read_lent);
        f(Ok(data));
    }
}

/// Clears the "lent" mark when a read callback returns or unwinds.
struct LentGuard<'a>(&'a Cell<bool>);

impl Drop for LentGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// The alloc callback of every stream and UDP read: the loop's read buffer.
pub(crate) unsafe extern "C" fn alloc_read_buffer(
    raw: *mut uv_handle_t,
    _suggested: usize,
    buf: *mut uv_buf_t,
) {
    // SAFETY: libuv calls this for open handles of ours, whose loop state is alive.
    unsafe {
        let lp = super::handle::loop_inner_of(raw);
        let (base, len) = lp.read_buffer();
        *buf = uv_buf_t {
            base: base.cast(),
            len,
        };
    }
}

impl Drop for LoopInner {
    fn drop(&mut self) {
        let buf = self.read_buf.get();
        if !buf.is_null() {
            let slice = ptr::slice_from_raw_parts_mut(buf, READ_BUFFER_SIZE);
            // SAFETY: allocated in `read_buffer` as a boxed slice of this length.
            drop(unsafe { Box::from_raw(slice) });
        }
        if self.foreign.is_none() {
            // SAFETY: `raw` was allocated with `loop_layout()` in `Loop::new`, and the loop
            // was closed by `Loop::drop` (every handle holding this LoopInner is closed by
            // then). A foreign loop's memory is its owner's.
            unsafe { alloc::dealloc(self.raw.cast(), loop_layout()) };
        }
    }
}

/// A shared, non-owning reference to a loop: usable from callbacks to stop the loop or read
/// its clock, and to create new handles. Once the owning [`Loop`] is dropped, handle creation
/// fails with [`Error::CLOSED`] and the other methods do nothing.
#[derive(Clone)]
pub struct LoopHandle(pub(crate) Rc<LoopInner>);

/// An event loop, owning a `uv_loop_t`.
///
/// `Loop` is `!Send`: it and its handles stay on the thread that made them. Dropping a `Loop`
/// closes every handle still open on it, runs the loop until their close callbacks and any
/// pending requests are done, then closes the libuv loop; it never aborts and never leaks.
///
/// # Examples
///
/// ```
/// use rsuv::{Loop, RunMode, Timer};
/// use std::time::Duration;
///
/// let lp = Loop::new()?;
/// let timer = Timer::new(&lp)?;
/// timer.start(Duration::from_millis(1), Duration::ZERO, |t| {
///     println!("fired after {} ms of loop time", t.loop_handle().now());
/// })?;
/// assert!(!lp.run(RunMode::Default)?); // returns once nothing is left to do
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Loop {
    handle: LoopHandle,
}

impl Loop {
    /// Creates and initializes a new loop.
    ///
    /// # Errors
    ///
    /// What `uv_loop_init` reports (for example `EMFILE` when no descriptor is left).
    #[doc(alias = "uv_loop_init")]
    pub fn new() -> Result<Loop> {
        let layout = loop_layout();
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) }.cast::<uv_loop_t>();
        if raw.is_null() {
            alloc::handle_alloc_error(layout);
        }
        // SAFETY: `raw` is writable memory of uv_loop_size() bytes.
        if let Err(e) = check(unsafe { uv_loop_init(raw) }) {
            // SAFETY: allocated just above with the same layout; libuv freed what it made.
            unsafe { alloc::dealloc(raw.cast(), layout) };
            return Err(e);
        }
        Ok(Loop::with_inner(raw, None))
    }

    fn with_inner(raw: *mut uv_loop_t, foreign: Option<RefCell<HashSet<usize>>>) -> Loop {
        let inner = Rc::new(LoopInner {
            raw,
            closed: Cell::new(false),
            running: Cell::new(false),
            panic: Cell::new(None),
            now_at_close: Cell::new(0),
            poll_fds: RefCell::default(),
            read_buf: Cell::new(ptr::null_mut()),
            read_lent: Cell::new(false),
            foreign,
        });
        Loop {
            handle: LoopHandle(inner),
        }
    }

    /// A `Loop` on a libuv loop that someone else owns (a C program embedding this crate, or
    /// Python through a capsule): handles can be made on it and it can be run as any `Loop`.
    /// Dropping it closes only the handles made through it, runs the loop without waiting
    /// until their close callbacks have run, and leaves the libuv loop open: closing and
    /// freeing it stays its owner's job. The loop's `data` field is not touched.
    ///
    /// # Errors
    ///
    /// `EINVAL` for a null pointer.
    ///
    /// # Safety
    ///
    /// `raw` must point to an initialized `uv_loop_t` of the libuv this crate links (compare
    /// [`version`](crate::version)), used on this thread only, that stays valid (neither
    /// closed nor freed) while this `Loop` or any handle made on it exists. The loop must not
    /// be running (inside `uv_run`) when [`Loop::run`] is called or when this `Loop` is
    /// dropped, since libuv's `uv_run` cannot be nested.
    pub unsafe fn from_raw(raw: *mut c_void) -> Result<Loop> {
        if raw.is_null() {
            return Err(Error::EINVAL);
        }
        Ok(Loop::with_inner(raw.cast(), Some(RefCell::default())))
    }

    /// Whether this loop is someone else's (made by [`Loop::from_raw`]).
    pub fn is_foreign(&self) -> bool {
        self.handle.0.foreign.is_some()
    }

    /// Runs the loop in the given mode. Returns whether the loop is still alive (has active and
    /// referenced handles or requests): `false` means a `Default` run finished its work.
    ///
    /// # Errors
    ///
    /// [`Error::REENTRANT`] if the loop is already running (`run` called from a callback).
    ///
    /// # Panics
    ///
    /// A panic raised by a callback during this run is caught, stops the loop, and is resumed
    /// here once `uv_run` has returned.
    #[doc(alias = "uv_run")]
    pub fn run(&self, mode: RunMode) -> Result<bool> {
        let inner = &self.handle.0;
        if inner.running.replace(true) {
            return Err(Error::REENTRANT);
        }
        let mode = match mode {
            RunMode::Default => uv_run_mode_UV_RUN_DEFAULT,
            RunMode::Once => uv_run_mode_UV_RUN_ONCE,
            RunMode::NoWait => uv_run_mode_UV_RUN_NOWAIT,
        };
        // SAFETY: the loop is initialized and not running (checked above).
        let alive = unsafe { uv_run(inner.raw, mode) } != 0;
        inner.running.set(false);
        if let Some(payload) = inner.panic.take() {
            panic::resume_unwind(payload);
        }
        Ok(alive)
    }

    /// Closes the loop, proving that nothing was left open on it: runs the close callbacks of
    /// handles already closing (and lets their cancelled requests finish), then calls
    /// `uv_loop_close`.
    ///
    /// # Errors
    ///
    /// `EBUSY` if a handle was still open or a request still pending. They are then closed and
    /// drained as when a `Loop` is dropped, so nothing leaks either way.
    #[doc(alias = "uv_loop_close")]
    pub fn close(self) -> Result<()> {
        if self.is_foreign() {
            self.teardown(); // closes only ours; the loop itself is its owner's to close
            return Ok(());
        }
        let raw = self.handle.0.raw;
        let mut open = false;
        // SAFETY: the loop is initialized; `count_open` only reads each handle's state.
        unsafe { uv_walk(raw, Some(count_open), (&raw mut open).cast()) };
        if !open {
            // SAFETY: the loop is initialized and not running (`self` is held by value).
            unsafe { uv_run(raw, uv_run_mode_UV_RUN_DEFAULT) };
        }
        // SAFETY: as above.
        let rc = unsafe { uv_loop_close(raw) };
        if rc == 0 {
            let inner = &self.handle.0;
            inner.now_at_close.set(self.handle.now());
            inner.closed.set(true);
        }
        check(rc).map(drop)
    }

    /// A shared reference to this loop, for use in callbacks.
    pub fn handle(&self) -> LoopHandle {
        self.handle.clone()
    }

    /// Closes every handle, lets close callbacks and pending requests finish, closes the loop.
    fn teardown(&self) {
        let inner = &self.handle.0;
        if inner.closed.get() {
            return;
        }
        inner.running.set(true);
        if let Some(ours) = &inner.foreign {
            self.teardown_foreign(ours);
            return;
        }
        loop {
            // SAFETY: the loop is initialized; `close_for_teardown` only calls uv_close on
            // handles made by this crate (uv_walk skips libuv's internal handles).
            unsafe { uv_walk(inner.raw, Some(close_for_teardown), ptr::null_mut()) };
            // SAFETY: as above; the loop is not running (we hold the only owner, by value).
            unsafe { uv_run(inner.raw, uv_run_mode_UV_RUN_DEFAULT) };
            // SAFETY: as above.
            if unsafe { uv_loop_close(inner.raw) } == 0 {
                break;
            }
        }
        inner.now_at_close.set(self.handle.now());
        inner.closed.set(true);
    }
}

impl Loop {
    /// `teardown` of a foreign loop: closes the handles of ours, and runs the loop without
    /// waiting until their close callbacks have run.
    fn teardown_foreign(&self, ours: &RefCell<HashSet<usize>>) {
        let inner = &self.handle.0;
        for _ in 0..FOREIGN_DRAIN_RUNS {
            let open: Vec<usize> = ours.borrow().iter().copied().collect();
            if open.is_empty() {
                break;
            }
            for raw in open {
                // SAFETY: `raw` is a handle of ours still open or closing on this loop (the
                // close callback removes it from the set); closing one is idempotent.
                unsafe { close_for_teardown(raw as *mut uv_handle_t, ptr::null_mut()) };
            }
            // SAFETY: the loop is initialized and, by `from_raw`'s contract, not running.
            unsafe { uv_run(inner.raw, uv_run_mode_UV_RUN_NOWAIT) };
        }
        inner.now_at_close.set(self.handle.now());
        inner.closed.set(true);
    }
}

/// `uv_walk` callback: sets the `bool` behind `arg` if the handle is not closing.
unsafe extern "C" fn count_open(handle: *mut uv_handle_t, arg: *mut c_void) {
    // SAFETY: libuv passes a live handle; `arg` is the `bool` given to uv_walk in `close`.
    unsafe {
        if uv_is_closing(handle) == 0 {
            *arg.cast::<bool>() = true;
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        self.teardown();
        if let Some(payload) = self.handle.0.panic.take() {
            if !std::thread::panicking() {
                panic::resume_unwind(payload);
            }
        }
    }
}

impl std::ops::Deref for Loop {
    type Target = LoopHandle;
    fn deref(&self) -> &LoopHandle {
        &self.handle
    }
}

impl LoopHandle {
    /// Whether the owning [`Loop`] has been dropped (and the libuv loop closed).
    pub fn is_closed(&self) -> bool {
        self.0.closed.get()
    }

    /// Stops the loop: the current [`Loop::run`] returns after this iteration.
    #[doc(alias = "uv_stop")]
    pub fn stop(&self) {
        if let Ok(raw) = self.0.raw() {
            // SAFETY: the loop is open; uv_stop sets a flag.
            unsafe { uv_stop(raw) };
        }
    }

    /// Whether the loop has active and referenced handles or requests.
    #[doc(alias = "uv_loop_alive")]
    pub fn alive(&self) -> bool {
        // SAFETY: the loop is open.
        self.0
            .raw()
            .is_ok_and(|raw| unsafe { uv_loop_alive(raw) } != 0)
    }

    /// The loop's cached time in milliseconds, updated at the start of each iteration.
    #[doc(alias = "uv_now")]
    pub fn now(&self) -> u64 {
        match self.0.raw() {
            // SAFETY: the loop is open.
            Ok(raw) => unsafe { uv_now(raw) },
            Err(_) => self.0.now_at_close.get(),
        }
    }

    /// Refreshes the loop's cached time.
    #[doc(alias = "uv_update_time")]
    pub fn update_time(&self) {
        if let Ok(raw) = self.0.raw() {
            // SAFETY: the loop is open.
            unsafe { uv_update_time(raw) };
        }
    }

    /// The backend (epoll) file descriptor, for embedding this loop in another loop.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`] once the loop is closed.
    #[doc(alias = "uv_backend_fd")]
    pub fn backend_fd(&self) -> Result<i32> {
        // SAFETY: the loop is open.
        check(unsafe { uv_backend_fd(self.0.raw()?) })
    }

    /// The `uv_loop_t*` itself, for C code built against the same libuv (compare
    /// [`version`](crate::version)). It stays valid while the loop is open; C code must not
    /// close or free it, nor run it while [`Loop::run`] runs it.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`] once the loop is closed.
    pub fn as_raw(&self) -> Result<*mut c_void> {
        self.0.raw().map(|p| p.cast())
    }

    /// How long the next poll would block: `None` for "indefinitely".
    #[doc(alias = "uv_backend_timeout")]
    pub fn backend_timeout(&self) -> Option<Duration> {
        // SAFETY: the loop is open.
        let ms = unsafe { uv_backend_timeout(self.0.raw().ok()?) };
        u64::try_from(ms).ok().map(Duration::from_millis)
    }
}
