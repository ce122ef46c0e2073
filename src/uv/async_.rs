//! [`Async`]: wake the loop from any thread; [`AsyncSender`] is the `Send + Sync` side.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::handle::{Callback, Owned, State, dispatch, handle_methods};
use super::loop_::LoopHandle;

/// What the handle and its senders share: the `uv_async_t` itself (so a send touches one
/// allocation), and one word counting the sends in progress, with a CLOSED bit. The close
/// callback sets CLOSED and waits for the sends in progress; a send that sees CLOSED gives up.
/// So no `uv_async_send` runs once the handle is closed (after which the loop may be closed and
/// its wake-up descriptor reused), and the memory lives as long as any sender.
struct Shared {
    state: AtomicUsize,
    raw: UnsafeCell<MaybeUninit<uv_async_t>>,
}

const CLOSED: usize = 1 << (usize::BITS - 1);

// SAFETY: `raw` is only handed to libuv: uv_async_send is thread-safe, everything else happens
// on the loop thread; `state` is atomic.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    fn raw(&self) -> *mut uv_async_t {
        self.raw.get().cast()
    }

    fn close(&self) {
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        while self.state.load(Ordering::Acquire) != CLOSED {
            std::thread::yield_now(); // a send in progress finishes within a few instructions
        }
    }
}

pub(crate) struct AsyncState {
    cb: Callback<dyn FnMut(&Async)>,
    shared: Arc<Shared>,
}

impl State for AsyncState {
    type Raw = ();

    fn clear(&self) {
        self.shared.close();
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
            state: AtomicUsize::new(0),
            raw: UnsafeCell::new(MaybeUninit::uninit()),
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
        if shared.state.fetch_add(1, Ordering::Acquire) & CLOSED != 0 {
            shared.state.fetch_sub(1, Ordering::Release);
            return Err(Error::CLOSED);
        }
        // SAFETY: the handle is not closed (CLOSED is set only once no send is in progress, and
        // checked above), and `Shared` keeps its memory alive.
        let rc = unsafe { uv_async_send(shared.raw()) };
        shared.state.fetch_sub(1, Ordering::Release);
        check(rc).map(drop)
    }
}

impl std::fmt::Debug for AsyncSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSender").finish_non_exhaustive()
    }
}
