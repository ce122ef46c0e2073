//! Request memory: a libuv request struct (`uv_write_t`, `uv_connect_t`, ...) sized by
//! `uv_req_size`, owned by the Rust object that carries the request's buffers and callback.
//!
//! The owner is leaked into the request's `data` pointer while libuv holds the request
//! ([`into_data`]) and recovered exactly once in the request's callback ([`from_data`]), so
//! buffers and callbacks stay alive until libuv is done, including the `ECANCELED` case.

use std::alloc::{self, Layout};
use std::os::raw::c_void;

use libuv_sys2::*;

/// Heap memory for one libuv request of a given type. Freed on drop.
pub(crate) struct ReqMem {
    raw: *mut uv_req_t,
    layout: Layout,
}

impl ReqMem {
    pub(crate) fn new(ty: uv_req_type) -> ReqMem {
        // SAFETY: uv_req_size has no preconditions.
        let size = unsafe { uv_req_size(ty) };
        let layout = Layout::from_size_align(size, 16).expect("request layout");
        // SAFETY: non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) }.cast::<uv_req_t>();
        if raw.is_null() {
            alloc::handle_alloc_error(layout);
        }
        ReqMem { raw, layout }
    }
}

impl Drop for ReqMem {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; owners drop it only once libuv has called
        // the request back (or never saw it).
        unsafe { alloc::dealloc(self.raw.cast(), self.layout) };
    }
}

/// Something that owns a [`ReqMem`].
pub(crate) trait Request: Sized {
    fn mem(&self) -> &ReqMem;
}

/// Hands `owner` to libuv: stores it in the request's `data` and returns the request pointer.
pub(crate) fn into_data<R: Request, T>(owner: Box<R>) -> *mut T {
    let raw = owner.mem().raw;
    // SAFETY: `raw` is a live request allocation; data is ours to set.
    unsafe { uv_req_set_data(raw, Box::into_raw(owner).cast::<c_void>()) };
    raw.cast()
}

/// Takes back the owner stored by [`into_data`].
///
/// # Safety
///
/// `req` must be a request whose `data` was set by `into_data::<R>` and not yet taken back.
pub(crate) unsafe fn from_data<R: Request, T>(req: *mut T) -> Box<R> {
    // SAFETY: per the contract, data is a `Box<R>` leaked by `into_data`.
    unsafe { Box::from_raw(uv_req_get_data(req.cast()).cast::<R>()) }
}
