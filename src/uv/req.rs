//! The request model shared by threadpool work and DNS.
//!
//! A request is a one-shot operation. Like a handle it is two allocations:
//! - the libuv struct (`uv_work_t`, `uv_getaddrinfo_t`, ...), sized by `uv_req_size`, which
//!   never moves;
//! - a `Box<Request<S>>` with the Rust state (the user's closures, the job's result), to which
//!   libuv's `data` pointer points.
//!
//! Both belong to the request from submission until its completion callback, which libuv calls
//! exactly once for every submitted request: when it is done, when it was cancelled
//! (`UV_ECANCELED`), and also when the loop is dropped (teardown runs the loop until no request
//! is left). The completion callback takes the state back ([`Request::complete`]), frees the libuv
//! struct and runs the user's callback inside the loop's guard ([`Request::finish`]).
//!
//! The user's value ([`Pending`]) owns nothing of the request: it shares a small [`Slot`] with
//! the address of the libuv struct, which the completion callback clears before the memory is
//! freed. Dropping it changes nothing; cancelling after completion answers `CLOSED` without
//! touching freed memory.

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::fmt;
use std::os::raw::c_int;
use std::ptr;
use std::rc::Rc;

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::loop_::{LoopHandle, LoopInner};

/// What a request and its user-side value share: the libuv struct's address while the request
/// is pending (null once its completion callback has started), and whether it was cancelled.
struct Slot {
    raw: Cell<*mut uv_req_t>,
    cancelled: Cell<bool>,
}

/// The libuv struct of a request: allocated zeroed, freed on drop. Also used directly by the
/// stream and UDP requests (write, connect, shutdown, send), whose owners go through
/// [`into_data`] and [`from_data`].
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

/// A request in flight: what libuv's `data` points at, from submission to completion.
pub(crate) struct Request<S> {
    mem: ReqMem,
    slot: Rc<Slot>,
    lp: Rc<LoopInner>,
    pub(crate) state: S,
}

/// Allocates a request of type `ty` carrying `state` and starts it with `start` (the
/// `uv_queue_work`, `uv_getaddrinfo`, ... call), which gets the raw loop and request.
///
/// If `start` fails, libuv keeps nothing: both allocations are freed and `state` (with the
/// user's callbacks) is dropped here, uncalled.
pub(crate) fn submit<S>(
    lp: &LoopHandle,
    ty: uv_req_type,
    state: S,
    start: impl FnOnce(*mut uv_loop_t, *mut uv_req_t) -> c_int,
) -> Result<Pending> {
    let loop_raw = lp.0.raw()?;
    let mem = ReqMem::new(ty);
    let raw = mem.raw;
    let slot = Rc::new(Slot {
        raw: Cell::new(raw),
        cancelled: Cell::new(false),
    });
    let lp = lp.0.clone();
    let req = Box::into_raw(Box::new(Request {
        mem,
        slot: slot.clone(),
        lp,
        state,
    }));
    // SAFETY: `raw` is fresh request memory; libuv's submit functions leave `data` alone, and
    // the box is taken back either below or in the completion callback, never both.
    unsafe { uv_req_set_data(raw, req.cast()) };
    if let Err(e) = check(start(loop_raw, raw)) {
        // SAFETY: libuv refused the request and holds no reference to it.
        drop(unsafe { Box::from_raw(req) });
        return Err(e);
    }
    Ok(Pending(slot))
}

impl<S> Request<S> {
    /// The state of the pending request behind `raw`, for the threadpool side.
    ///
    /// # Safety
    ///
    /// `raw` must have been submitted by [`submit`] with this `S` and not be completed yet.
    /// The caller must only touch fields of the state that nothing else touches meanwhile.
    pub(crate) unsafe fn state_ptr(raw: *mut uv_req_t) -> *mut S {
        // SAFETY: `data` is the box made by `submit`, alive until the completion callback.
        let req = unsafe { uv_req_get_data(raw) }.cast::<Request<S>>();
        // SAFETY: as above; this only computes a field address, making no reference.
        unsafe { &raw mut (*req).state }
    }

    /// Takes the request back in its completion callback. From now on the user's [`Pending`]
    /// says `CLOSED`. The libuv struct stays allocated until [`Request::finish`].
    ///
    /// # Safety
    ///
    /// `raw` must have been submitted by [`submit`] with this `S`, and this must be its
    /// completion callback (libuv calls it once).
    pub(crate) unsafe fn complete(raw: *mut uv_req_t) -> Request<S> {
        // SAFETY: `data` is the box made by `submit`, released only here.
        let req = *unsafe { Box::from_raw(uv_req_get_data(raw).cast::<Request<S>>()) };
        req.slot.raw.set(ptr::null_mut());
        req
    }

    /// Frees the libuv struct, then runs `f` with the state (which it consumes, so the user's
    /// callbacks are dropped there too) inside the loop's guard.
    pub(crate) fn finish(self, f: impl FnOnce(S)) {
        let Request { mem, lp, state, .. } = self;
        drop(mem);
        lp.guard(|| f(state));
    }
}

/// The user's side of a request: cancels it while it is still queued. Owns nothing of the
/// request, so dropping it changes nothing.
pub(crate) struct Pending(Rc<Slot>);

impl Pending {
    /// Cancels the request if libuv has not started it yet. See `Work::cancel` for the
    /// contract.
    pub(crate) fn cancel(&self) -> Result<()> {
        let raw = self.0.raw.get();
        if raw.is_null() {
            return Err(Error::CLOSED);
        }
        if self.0.cancelled.get() {
            return Ok(());
        }
        // SAFETY: a non-null address is a submitted request whose completion callback has not
        // started, so libuv still owns it and its memory is valid; uv_cancel takes the
        // threadpool's locks and only moves a request that no thread has picked up.
        check(unsafe { uv_cancel(raw) })?;
        self.0.cancelled.set(true);
        Ok(())
    }

    /// Whether the completion callback has not started yet.
    pub(crate) fn is_pending(&self) -> bool {
        !self.0.raw.get().is_null()
    }
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("pending", &self.is_pending())
            .field("cancelled", &self.0.cancelled.get())
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
