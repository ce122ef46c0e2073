//! The handle model shared by every handle type.
//!
//! A handle is one allocation, an `Rc<Inner<S>>`: the type-independent [`Core`], the Rust state
//! `S` (callbacks), and the libuv struct (`uv_timer_t`, ...) itself, which never moves (an `Rc`
//! allocation does not). libuv's `data` pointer holds one strong reference, released in the
//! close callback; the user-facing value ([`Owned`]) holds another. So the memory is freed when
//! both are gone: never before libuv's close callback, and never while a user value remains.
//!
//! Dropping the user-facing value calls `uv_close`.
//! A trampoline hands the user's callback a borrowed view of the handle (a `ManuallyDrop` over
//! libuv's reference), so a callback may close, restart or drop its own handle safely.

use std::cell::{Cell, UnsafeCell};
use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::raw::{c_int, c_void};
use std::ptr;
use std::rc::Rc;

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::loop_::{LoopHandle, LoopInner};

/// Per-type Rust state of a handle.
pub(crate) trait State: Sized + 'static {
    /// The libuv struct (`uv_timer_t`, ...), stored inline in the handle's allocation.
    type Raw;

    /// Drops the user's callbacks and anything tied to the open handle. Runs in the close
    /// callback.
    fn clear(&self);

    /// Where the libuv struct lives when not inline (`Async` keeps it beside its senders).
    fn external_raw(&self) -> Option<*mut uv_handle_t> {
        None
    }
}

/// The type-independent part of a handle; first field of [`Inner`] so that libuv's `data`
/// pointer can be read as a `*const Core` without knowing the state type.
pub(crate) struct Core {
    raw: Cell<*mut uv_handle_t>,
    closing: Cell<bool>,
    lp: Rc<LoopInner>,
    on_close: Cell<Option<Box<dyn FnOnce()>>>,
    release: unsafe fn(*const Core),
}

#[repr(C)]
pub(crate) struct Inner<S: State> {
    core: Core,
    pub(crate) state: S,
    raw: UnsafeCell<MaybeUninit<S::Raw>>,
}

impl Core {
    /// The raw handle, or `Error::CLOSED` once `close` has been called.
    pub(crate) fn raw(&self) -> Result<*mut uv_handle_t> {
        if self.closing.get() {
            Err(Error::CLOSED)
        } else {
            Ok(self.raw.get())
        }
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// Starts closing: idempotent. `on_close` runs from the close callback.
    pub(crate) fn close(&self, on_close: Option<Box<dyn FnOnce()>>) -> Result<()> {
        self.close_via(on_close, |raw, cb| {
            // SAFETY: `raw` is an open handle of ours (not yet closing); libuv calls `cb`
            // once it is done with the memory.
            unsafe { uv_close(raw, cb) };
            0
        })
    }

    /// Starts closing through `closer` (`uv_close`, or a variant such as
    /// `uv_tcp_close_reset`), which gets the raw handle and the close callback to pass on.
    pub(crate) fn close_via(
        &self,
        on_close: Option<Box<dyn FnOnce()>>,
        closer: impl FnOnce(*mut uv_handle_t, uv_close_cb) -> c_int,
    ) -> Result<()> {
        let raw = self.raw()?;
        check(closer(raw, Some(on_closed)))?;
        self.closing.set(true);
        self.on_close.set(on_close);
        Ok(())
    }
}

/// `uv_close` callback of every handle: drops the state and libuv's reference, runs `on_close`.
unsafe extern "C" fn on_closed(raw: *mut uv_handle_t) {
    // SAFETY: `data` is the Core of this handle, kept alive by libuv's strong reference, which
    // is released only below.
    let core = unsafe { &*((*raw).data as *const Core) };
    let lp = core.lp.clone();
    lp.note_closed(raw);
    let on_close = core.on_close.take();
    let release = core.release;
    core.raw.set(ptr::null_mut());
    // SAFETY: releases libuv's reference exactly once (libuv is done with the memory: the close
    // callback is its last use); neither `core` nor `raw` is used afterwards.
    lp.guard(|| unsafe { release(core) });
    if let Some(f) = on_close {
        lp.guard(f);
    }
}

/// Releases libuv's strong reference to an `Inner<S>`, clearing its state first.
///
/// # Safety
///
/// `core` must be the pointer stored in `data` by `Owned::<S>::init`, released only once.
unsafe fn release<S: State>(core: *const Core) {
    // SAFETY: per the contract, this is the reference made by `Rc::into_raw` in `init`.
    let inner = unsafe { Rc::from_raw(core.cast::<Inner<S>>()) };
    inner.state.clear();
}

/// Whether `target` is among the handles registered on `lp`.
///
/// # Safety
///
/// `lp` must be an open loop.
unsafe fn registered(lp: *mut uv_loop_t, target: *mut uv_handle_t) -> bool {
    unsafe extern "C" fn find(h: *mut uv_handle_t, arg: *mut c_void) {
        // SAFETY: `arg` is the `(target, found)` pair below, alive during uv_walk.
        let pair = unsafe { &mut *arg.cast::<(*mut uv_handle_t, bool)>() };
        pair.1 |= h == pair.0;
    }
    let mut pair = (target, false);
    // SAFETY: per the contract; `find` only compares pointers.
    unsafe { uv_walk(lp, Some(find), (&raw mut pair).cast()) };
    pair.1
}

/// The loop state of a handle of ours, from libuv's pointer to it.
///
/// # Safety
///
/// `raw` must be an open handle made by `Owned::init` (its `data` a live Core), and the
/// reference must not outlive it.
pub(crate) unsafe fn loop_inner_of<'a>(raw: *mut uv_handle_t) -> &'a LoopInner {
    // SAFETY: per the contract.
    unsafe { &(*((*raw).data as *const Core)).lp }
}

/// `uv_walk` callback used when a [`Loop`](super::Loop) is dropped with handles still open.
pub(crate) unsafe extern "C" fn close_for_teardown(raw: *mut uv_handle_t, _: *mut c_void) {
    // SAFETY: every non-internal handle on our loops was made by `Owned::init`, whose `data` is
    // a live Core until the close callback.
    let core = unsafe { &*((*raw).data as *const Core) };
    let _ = core.close(None);
}

/// The owning side of a handle: dropping it closes the handle.
pub(crate) struct Owned<S: State>(Rc<Inner<S>>);

impl<S: State> Owned<S> {
    /// Allocates a handle of type `ty`, runs `init` (the `uv_*_init` call) on it and links it to
    /// its state.
    pub(crate) fn init(
        lp: &LoopHandle,
        ty: uv_handle_type,
        state: S,
        init: impl FnOnce(*mut uv_loop_t, *mut uv_handle_t) -> c_int,
    ) -> Result<Owned<S>> {
        let loop_raw = lp.0.raw()?;
        let inner = Rc::new(Inner {
            core: Core {
                raw: Cell::new(ptr::null_mut()),
                closing: Cell::new(false),
                lp: lp.0.clone(),
                on_close: Cell::new(None),
                release: release::<S>,
            },
            state,
            raw: UnsafeCell::new(MaybeUninit::uninit()),
        });
        let raw = match inner.state.external_raw() {
            Some(raw) => raw,
            None => {
                // SAFETY: uv_handle_size has no preconditions.
                debug_assert!(size_of::<S::Raw>() >= unsafe { uv_handle_size(ty) });
                inner.raw.get().cast::<uv_handle_t>()
            }
        };
        inner.core.raw.set(raw);
        let rc = init(loop_raw, raw);
        // Most failed inits leave libuv without a reference to the memory; `uv_spawn` whose
        // exec failed leaves the handle registered on the loop, to be closed like any other.
        // SAFETY: `loop_raw` is open; `raw` is only compared, not read.
        if rc < 0 && !unsafe { registered(loop_raw, raw) } {
            return Err(Error::from_raw(rc)); // dropping `inner` frees the memory
        }
        let data = Rc::into_raw(inner.clone()) as *mut c_void;
        // SAFETY: `raw` is an initialized handle; `data` is released in `on_closed`.
        unsafe { (*raw).data = data };
        inner.core.lp.note_open(raw);
        let owned = Owned(inner);
        if rc < 0 {
            // A registered handle whose init failed: dropping it closes it.
            drop(owned);
            return Err(Error::from_raw(rc));
        }
        Ok(owned)
    }

    /// Borrows the handle behind `raw` for the duration of a callback.
    ///
    /// # Safety
    ///
    /// `raw` must be an open handle made by `Owned::<S>::init`, and the result must not outlive
    /// the callback it was made in.
    #[inline]
    pub(crate) unsafe fn borrow(raw: *mut uv_handle_t) -> ManuallyDrop<Owned<S>> {
        // SAFETY: `data` is libuv's strong reference, alive until the close callback; wrapping
        // it in ManuallyDrop borrows it without taking it.
        let data = unsafe { (*raw).data } as *const Inner<S>;
        // SAFETY: as above.
        ManuallyDrop::new(Owned(unsafe { Rc::from_raw(data) }))
    }

    /// Gives up the owning reference without closing: the handle lives on until it is closed
    /// (from one of its callbacks, or by the loop's teardown).
    pub(crate) fn detach(self) {
        let me = ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again, so the Rc is moved out exactly once.
        drop(unsafe { ptr::read(&me.0) });
    }

    pub(crate) fn core(&self) -> &Core {
        &self.0.core
    }

    pub(crate) fn state(&self) -> &S {
        &self.0.state
    }

    /// The raw handle cast to its concrete libuv type.
    pub(crate) fn raw<T>(&self) -> Result<*mut T> {
        self.0.core.raw().map(|p| p.cast())
    }

    pub(crate) fn loop_inner(&self) -> &LoopInner {
        &self.0.core.lp
    }

    pub(crate) fn loop_handle(&self) -> LoopHandle {
        LoopHandle(self.0.core.lp.clone())
    }

    pub(crate) fn is_active(&self) -> bool {
        // SAFETY: the handle is open.
        self.raw()
            .is_ok_and(|raw| unsafe { uv_is_active(raw) } != 0)
    }

    pub(crate) fn set_ref(&self, on: bool) {
        if let Ok(raw) = self.raw() {
            // SAFETY: the handle is open.
            unsafe { if on { uv_ref(raw) } else { uv_unref(raw) } }
        }
    }

    pub(crate) fn has_ref(&self) -> bool {
        // SAFETY: the handle is open.
        self.raw().is_ok_and(|raw| unsafe { uv_has_ref(raw) } != 0)
    }
}

impl<S: State> Drop for Owned<S> {
    fn drop(&mut self) {
        let _ = self.0.core.close(None);
    }
}

/// A user callback stored in a handle. The trampoline takes it out before calling it and puts
/// it back only if the handle is still open and the callback did not install a new one.
pub(crate) struct Callback<F: ?Sized>(Cell<Option<Box<F>>>);

impl<F: ?Sized> Callback<F> {
    pub(crate) fn empty() -> Self {
        Callback(Cell::new(None))
    }

    pub(crate) fn set(&self, f: Box<F>) {
        drop(self.0.replace(Some(f)));
    }

    pub(crate) fn clear(&self) {
        drop(self.0.take());
    }

    /// Calls the stored callback (if any) through `run`.
    #[inline]
    pub(crate) fn call(&self, core: &Core, run: impl FnOnce(&mut F)) {
        let Some(mut f) = self.0.take() else { return };
        run(&mut f);
        if core.is_closing() {
            return;
        }
        // Put it back, unless the call installed a new one (which then stays).
        if let Some(newer) = self.0.replace(Some(f)) {
            drop(self.0.replace(Some(newer)));
        }
    }
}

/// Converts a handle's raw pointer in a trampoline to the public type and runs `f` on it,
/// catching panics.
///
/// # Safety
///
/// As for [`Owned::borrow`].
#[inline]
pub(crate) unsafe fn dispatch<S: State, H>(
    raw: *mut uv_handle_t,
    wrap: fn(Owned<S>) -> H,
    f: impl FnOnce(&H),
) {
    // SAFETY: forwarded from the caller.
    let owned = ManuallyDrop::into_inner(unsafe { Owned::<S>::borrow(raw) });
    let lp: *const LoopInner = &*owned.0.core.lp;
    let handle = ManuallyDrop::new(wrap(owned));
    // SAFETY: the handle's state holds an `Rc` of its loop, and stays alive through this call
    // (libuv's reference is released only in the close callback, which cannot run during it).
    unsafe { &*lp }.guard(|| f(&handle));
}

/// Adds the methods every handle has: close, is_active, is_closing, ref/unref, loop_handle.
macro_rules! handle_methods {
    ($ty:ident) => {
        impl $ty {
            /// Closes the handle: idempotent. No callback runs for it afterwards; its memory is
            /// freed once libuv calls back. Methods then return [`Error::CLOSED`](crate::Error::CLOSED).
            #[doc(alias = "uv_close")]
            pub fn close(&self) {
                let _ = self.0.core().close(None);
            }

            /// Closes the handle and runs `on_close` once libuv has finished closing it.
            ///
            /// # Errors
            ///
            /// [`Error::CLOSED`](crate::Error::CLOSED) if it was already closing; `on_close` is
            /// then dropped without being called.
            #[doc(alias = "uv_close")]
            pub fn close_with(&self, on_close: impl FnOnce() + 'static) -> crate::Result<()> {
                self.0.core().close(Some(Box::new(on_close)))
            }

            /// Lets the handle live on without an owner: it is no longer closed when a value is
            /// dropped, only when it is closed (from one of its callbacks, which receive it) or
            /// when its loop is dropped. For connections and timers that manage themselves.
            pub fn detach(self) {
                self.0.detach()
            }

            /// Whether the handle is active (what "active" means depends on the type).
            #[doc(alias = "uv_is_active")]
            pub fn is_active(&self) -> bool {
                self.0.is_active()
            }

            /// Whether the handle is closing or closed.
            #[doc(alias = "uv_is_closing")]
            pub fn is_closing(&self) -> bool {
                self.0.core().is_closing()
            }

            /// References the handle: an active, referenced handle keeps the loop alive.
            #[doc(alias = "uv_ref")]
            pub fn ref_(&self) {
                self.0.set_ref(true)
            }

            /// Unreferences the handle: the loop may stop while it is still active.
            #[doc(alias = "uv_unref")]
            pub fn unref(&self) {
                self.0.set_ref(false)
            }

            /// Whether the handle is referenced (`false` once closed).
            #[doc(alias = "uv_has_ref")]
            pub fn has_ref(&self) -> bool {
                self.0.has_ref()
            }

            /// The loop this handle belongs to.
            pub fn loop_handle(&self) -> $crate::LoopHandle {
                self.0.loop_handle()
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("active", &self.is_active())
                    .field("closing", &self.is_closing())
                    .finish()
            }
        }
    };
}
pub(crate) use handle_methods;
