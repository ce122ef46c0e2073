//! The request model shared by threadpool work, DNS and file-system requests.
//!
//! A request is a one-shot operation, and one allocation: an `Rc<ReqCell<S, Raw>>` holding the
//! libuv struct `Raw` (`uv_work_t`, `uv_getaddrinfo_t`, ...), which never moves, and the Rust
//! state `S` (the user's closures, the job's result). libuv's `data` pointer holds one strong
//! reference from submission until the completion callback, which libuv calls exactly once for
//! every submitted request: when it is done, when it was cancelled (`UV_ECANCELED`), and also
//! when the loop is dropped (teardown runs the loop until no request is left). The completion
//! callback takes the state back ([`Request::complete`]) and runs the user's callback inside
//! the loop's guard ([`Request::finish`]).
//!
//! The user's value ([`Pending`]) holds the other reference: it keeps the memory (not the
//! state, which the completion takes) so that cancelling after completion answers `CLOSED`
//! from a flag, without touching freed memory. Dropping it changes nothing for the request.

use std::alloc::{self, Layout};
use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::mem::MaybeUninit;
use std::os::raw::c_int;
use std::rc::Rc;

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::loop_::{LoopHandle, LoopInner};

/// The libuv structs of the requests made by [`submit`], with their type.
pub(crate) trait ReqType: 'static {
    const TYPE: uv_req_type;
}

impl ReqType for uv_work_t {
    const TYPE: uv_req_type = uv_req_type_UV_WORK;
}
impl ReqType for uv_getaddrinfo_t {
    const TYPE: uv_req_type = uv_req_type_UV_GETADDRINFO;
}
impl ReqType for uv_getnameinfo_t {
    const TYPE: uv_req_type = uv_req_type_UV_GETNAMEINFO;
}
impl ReqType for uv_fs_t {
    const TYPE: uv_req_type = uv_req_type_UV_FS;
}

/// What a pending request holds besides its memory: its loop and its state, both taken by
/// the completion (so that a cancel handle kept afterwards holds only the memory).
struct Live<S> {
    lp: Rc<LoopInner>,
    state: S,
}

/// A request: the libuv struct, whether it is still pending (its completion callback has not
/// started) or was cancelled, and what it holds until then. `pending` is its own flag rather
/// than `live.is_some()` because a threadpool thread may hold `live` while the loop thread
/// reads it.
struct ReqCell<S, Raw> {
    raw: UnsafeCell<MaybeUninit<Raw>>,
    pending: Cell<bool>,
    cancelled: Cell<bool>,
    live: UnsafeCell<Option<Live<S>>>,
}

impl<S, Raw> ReqCell<S, Raw> {
    fn raw(&self) -> *mut uv_req_t {
        self.raw.get().cast()
    }

    /// Ends the request: not pending any more, its loop and state handed out.
    ///
    /// # Safety
    ///
    /// On the loop thread, with no threadpool thread using the state (a refused submission,
    /// or the completion callback).
    unsafe fn end(&self) -> Option<Live<S>> {
        self.pending.set(false);
        // SAFETY: per the contract, nothing else touches `live` now.
        unsafe { (*self.live.get()).take() }
    }
}

/// What [`Pending`] sees of a request of any type.
trait Status {
    fn pending(&self) -> bool;
    fn cancelled(&self) -> &Cell<bool>;
    fn raw_req(&self) -> *mut uv_req_t;
}

impl<S, Raw> Status for ReqCell<S, Raw> {
    fn pending(&self) -> bool {
        self.pending.get()
    }
    fn cancelled(&self) -> &Cell<bool> {
        &self.cancelled
    }
    fn raw_req(&self) -> *mut uv_req_t {
        self.raw()
    }
}

/// The libuv struct of a request run synchronously or owned elsewhere: allocated zeroed, freed
/// on drop. Used directly by the stream and UDP requests (connect, shutdown), whose owners go
/// through [`into_data`] and [`from_data`], and by the synchronous DNS and file-system forms.
pub(crate) struct ReqMem {
    raw: *mut uv_req_t,
    ty: uv_req_type,
}

fn layout(ty: uv_req_type) -> Layout {
    // SAFETY: uv_req_size has no preconditions.
    let size = unsafe { uv_req_size(ty) };
    Layout::from_size_align(size, 16).expect("request layout")
}

impl ReqMem {
    pub(crate) fn new(ty: uv_req_type) -> ReqMem {
        let layout = layout(ty);
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) }.cast::<uv_req_t>();
        if raw.is_null() {
            alloc::handle_alloc_error(layout);
        }
        ReqMem { raw, ty }
    }

    /// The libuv struct (for a request run synchronously, never handed to a callback).
    pub(crate) fn raw_ptr(&self) -> *mut uv_req_t {
        self.raw
    }
}

impl Drop for ReqMem {
    fn drop(&mut self) {
        // SAFETY: allocated in `ReqMem::new` with this layout; dropped only once libuv is done with
        // it (a refused submission, or after the completion callback has read what it needs).
        unsafe { alloc::dealloc(self.raw.cast(), layout(self.ty)) };
    }
}

/// A request taken back in its completion callback: the state, and libuv's reference to the
/// memory (the libuv struct stays valid until this is dropped).
pub(crate) struct Request<S, Raw> {
    cell: Rc<ReqCell<S, Raw>>,
    lp: Rc<LoopInner>,
    pub(crate) state: S,
}

/// Starts a request (whose libuv struct is `Raw`) carrying `state` with `start` (the
/// `uv_queue_work`, `uv_getaddrinfo`, ... call), which gets the raw loop and request.
///
/// If `start` fails, libuv keeps nothing: the memory is freed and `state` (with the user's
/// callbacks) is dropped here, uncalled.
pub(crate) fn submit<S: 'static, Raw: ReqType>(
    lp: &LoopHandle,
    state: S,
    start: impl FnOnce(*mut uv_loop_t, *mut uv_req_t) -> c_int,
) -> Result<Pending> {
    let loop_raw = lp.0.raw()?;
    // SAFETY: uv_req_size has no preconditions.
    debug_assert_eq!(size_of::<Raw>(), unsafe { uv_req_size(Raw::TYPE) });
    let cell = Rc::new(ReqCell::<S, Raw> {
        raw: UnsafeCell::new(MaybeUninit::zeroed()),
        pending: Cell::new(true),
        cancelled: Cell::new(false),
        live: UnsafeCell::new(Some(Live {
            lp: lp.0.clone(),
            state,
        })),
    });
    let raw = cell.raw();
    let data = Rc::into_raw(cell.clone()).cast_mut();
    // SAFETY: `raw` is fresh zeroed request memory; libuv's submit functions leave `data`
    // alone, and the reference is taken back either below or in the completion callback.
    unsafe { uv_req_set_data(raw, data.cast()) };
    if let Err(e) = check(start(loop_raw, raw)) {
        // SAFETY: libuv refused the request and holds no reference to it: this is the
        // reference made above, released once; no threadpool thread has the state.
        unsafe {
            drop(Rc::from_raw(data));
            drop(cell.end());
        }
        return Err(e);
    }
    Ok(Pending(cell))
}

impl<S, Raw> Request<S, Raw> {
    /// The state of the pending request behind `raw`, for the threadpool side (`None` only
    /// if libuv called back a request it had already completed).
    ///
    /// # Safety
    ///
    /// `raw` must have been submitted by [`submit`] with these `S` and `Raw` and not be
    /// completed yet. The caller must only touch fields of the state that nothing else touches
    /// meanwhile.
    pub(crate) unsafe fn state_ptr(raw: *mut uv_req_t) -> Option<*mut S> {
        // SAFETY: `data` is libuv's reference made by `submit`, alive until the completion
        // callback. Only addresses are computed, and the reference count is not touched
        // (this may run on a threadpool thread).
        unsafe {
            let cell = uv_req_get_data(raw).cast::<ReqCell<S, Raw>>();
            (*(*cell).live.get())
                .as_mut()
                .map(|live| &raw mut live.state)
        }
    }

    /// Takes the request back in its completion callback. From now on the user's [`Pending`]
    /// says `CLOSED`. `None` only if libuv called back a request it had already completed.
    ///
    /// # Safety
    ///
    /// `raw` must have been submitted by [`submit`] with these `S` and `Raw`, and this must be
    /// its completion callback (libuv calls it once).
    pub(crate) unsafe fn complete(raw: *mut uv_req_t) -> Option<Request<S, Raw>> {
        // SAFETY: `data` is libuv's reference made by `submit`, released only here; the
        // threadpool side is done with the state once libuv calls the completion.
        unsafe {
            let cell = Rc::from_raw(uv_req_get_data(raw).cast::<ReqCell<S, Raw>>());
            match cell.end() {
                Some(Live { lp, state }) => Some(Request { cell, lp, state }),
                None => {
                    // Called back twice: the first call released this reference.
                    std::mem::forget(cell);
                    None
                }
            }
        }
    }

    /// Runs `f` with the state (which it consumes, so the user's callbacks are dropped there
    /// too) inside the loop's guard, then releases libuv's reference to the memory.
    pub(crate) fn finish(self, f: impl FnOnce(S)) {
        let Request { cell, lp, state } = self;
        lp.guard(|| f(state));
        drop(cell);
    }
}

/// The user's side of a request: cancels it while it is still queued. Holds the request's
/// memory, not its state, so dropping it changes nothing for the request.
pub(crate) struct Pending(Rc<dyn Status>);

impl Pending {
    /// Cancels the request if libuv has not started it yet. See `Work::cancel` for the
    /// contract.
    pub(crate) fn cancel(&self) -> Result<()> {
        if !self.0.pending() {
            return Err(Error::CLOSED);
        }
        if self.0.cancelled().get() {
            return Ok(());
        }
        // SAFETY: a pending request is submitted and its completion callback has not started,
        // so libuv still owns it, and this value keeps its memory; uv_cancel takes the
        // threadpool's locks and only moves a request that no thread has picked up.
        check(unsafe { uv_cancel(self.0.raw_req()) })?;
        self.0.cancelled().set(true);
        Ok(())
    }

    /// Whether the completion callback has not started yet.
    pub(crate) fn is_pending(&self) -> bool {
        self.0.pending()
    }
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("pending", &self.is_pending())
            .field("cancelled", &self.0.cancelled().get())
            .finish()
    }
}

/// Something that owns a [`ReqMem`] and rides in the request's `data` while libuv holds it
/// (stream writes, connects, shutdowns, UDP sends).
pub(crate) trait ReqOwner: Sized {
    fn mem(&self) -> &ReqMem;
}

/// Hands `owner` to libuv: stores it in the request's `data` and returns the request pointer.
pub(crate) fn into_data<R: ReqOwner, T>(owner: Box<R>) -> *mut T {
    let raw = owner.mem().raw;
    // SAFETY: `raw` is a live request allocation; data is ours to set.
    unsafe { uv_req_set_data(raw, Box::into_raw(owner).cast()) };
    raw.cast()
}

/// Takes back the owner stored by [`into_data`].
///
/// # Safety
///
/// `req` must be a request whose `data` was set by `into_data::<R>` and not yet taken back.
pub(crate) unsafe fn from_data<R: ReqOwner, T>(req: *mut T) -> Box<R> {
    // SAFETY: per the contract, data is a `Box<R>` leaked by `into_data`.
    unsafe { Box::from_raw(uv_req_get_data(req.cast()).cast::<R>()) }
}
