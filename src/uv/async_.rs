//! [`Async`]: wake the loop from any thread; [`AsyncSender`] is the `Send + Sync` side.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::handle::{Callback, Owned, State, dispatch, handle_methods};
use super::loop_::LoopHandle;

/// What the handle and its senders share: the `uv_async_t` itself (so a send touches one
/// allocation) and a flag set once the handle is closed, right after the `uv_async_t` so that a
/// send reads it from the cache line that holds libuv's `pending` word. The memory lives as long
/// as any sender.
///
/// libuv (1.53, pinned) itself keeps a send from reaching a closed handle's loop: `uv_close`
/// sets the handle's pending bit and waits until no `uv_async_send` is in progress (the busy
/// count in the same word, `uv__async_spin`), and nothing clears that bit afterwards, so a later
/// `uv_async_send` returns at its first compare-and-swap without touching the loop (which may
/// be closed by then, its wake-up descriptor reused).
#[repr(C)]
struct Shared {
    raw: UnsafeCell<MaybeUninit<uv_async_t>>,
    closed: AtomicBool,
}

// SAFETY: `raw` is only handed to libuv: uv_async_send is thread-safe, everything else happens
// on the loop thread; `closed` is atomic.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    fn raw(&self) -> *mut uv_async_t {
        self.raw.get().cast()
    }
}

pub(crate) struct AsyncState {
    cb: Callback<dyn FnMut(&Async)>,
    shared: Arc<Shared>,
}

impl State for AsyncState {
    type Raw = ();

    fn clear(&self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        self.cb.clear();
    }

    fn external_raw(&self) -> Option<*mut uv_handle_t> {
        Some(self.shared.raw().cast())
    }
}

/// A handle that wakes the loop: [`AsyncSender::send`] may be called from any thread, and the
/// callback runs on the loop thread. Several sends before the callback runs are coalesced
/// into one call; a send is never lost (the callback always runs after the last send).
///
/// # Examples
///
/// ```
/// use rsuv::{Async, Loop, RunMode};
/// let lp = Loop::new()?;
/// let wake = Async::new(&lp, |a| a.close())?;
/// let sender = wake.sender();
/// std::thread::spawn(move || sender.send().unwrap()).join().unwrap();
/// lp.run(RunMode::Default)?;
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Async(Owned<AsyncState>);

handle_methods!(Async);

/// The `Send + Sync` waking side of an [`Async`] handle.
#[derive(Clone)]
pub struct AsyncSender {
    shared: Arc<Shared>,
}

unsafe extern "C" fn on_async(raw: *mut uv_async_t) {
    // SAFETY: libuv calls this only for open handles made by `Async::new`.
    unsafe {
        dispatch(raw.cast(), Async, |h| {
            h.0.state().cb.call(h.0.core(), |f| f(h))
        })
    }
}

impl Async {
    /// Creates the handle on `lp`; it is active (keeps the loop alive) until closed.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`] if the loop is closed.
    #[doc(alias = "uv_async_init")]
    pub fn new(lp: &LoopHandle, cb: impl FnMut(&Async) + 'static) -> Result<Async> {
        let shared = Arc::new(Shared {
            raw: UnsafeCell::new(MaybeUninit::uninit()),
            closed: AtomicBool::new(false),
        });
        let state = AsyncState {
            cb: Callback::empty(),
            shared,
        };
        state.cb.set(Box::new(cb));
        // SAFETY: `raw` is the fresh `uv_async_t` inside `shared`.
        let init =
            |l, raw: *mut uv_handle_t| unsafe { uv_async_init(l, raw.cast(), Some(on_async)) };
        Owned::init(lp, uv_handle_type_UV_ASYNC, state, init).map(Async)
    }

    /// A sender usable from any thread.
    pub fn sender(&self) -> AsyncSender {
        AsyncSender {
            shared: self.0.state().shared.clone(),
        }
    }

    /// Wakes the loop (from the loop thread).
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`] if the handle is closing or closed.
    #[doc(alias = "uv_async_send")]
    pub fn send(&self) -> Result<()> {
        // SAFETY: the handle is open.
        check(unsafe { uv_async_send(self.0.raw()?) }).map(drop)
    }
}

impl AsyncSender {
    /// Wakes the loop; the handle's callback runs on the loop thread.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`] once the handle has been closed.
    #[doc(alias = "uv_async_send")]
    pub fn send(&self) -> Result<()> {
        let shared = &*self.shared;
        if shared.closed.load(Ordering::Relaxed) {
            return Err(Error::CLOSED);
        }
        // SAFETY: the `uv_async_t` was initialised before any sender existed, and `Shared`
        // keeps its memory alive; once the handle is closing, libuv's pending bit stays set and
        // the call returns without touching the loop (see `Shared`).
        check(unsafe { uv_async_send(shared.raw()) }).map(drop)
    }
}

impl std::fmt::Debug for AsyncSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSender").finish_non_exhaustive()
    }
}
