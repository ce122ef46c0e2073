//! [`Async`]: wake the loop from any thread; [`AsyncSender`] is the `Send + Sync` side.

use std::sync::{Arc, RwLock};

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::handle::{Callback, Owned, State, dispatch, handle_methods};
use super::loop_::LoopHandle;

/// The address of the open `uv_async_t`, or 0 once it is closed. Senders hold the read lock
/// while they call `uv_async_send`; the close callback takes the write lock to clear it before
/// the memory is freed, so no send can touch freed memory.
struct Shared {
    raw: RwLock<usize>,
}

pub(crate) struct AsyncState {
    cb: Callback<dyn FnMut(&Async)>,
    shared: Arc<Shared>,
}

impl State for AsyncState {
    fn clear(&self) {
        *self.shared.raw.write().unwrap_or_else(|e| e.into_inner()) = 0;
        self.cb.clear();
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
            raw: RwLock::new(0),
        });
        let state = AsyncState {
            cb: Callback::empty(),
            shared: shared.clone(),
        };
        state.cb.set(Box::new(cb));
        // SAFETY: `raw` is fresh memory of uv_handle_size(UV_ASYNC) bytes.
        let init =
            |l, raw: *mut uv_handle_t| unsafe { uv_async_init(l, raw.cast(), Some(on_async)) };
        let handle = Owned::init(lp, uv_handle_type_UV_ASYNC, state, init)?;
        *shared.raw.write().unwrap_or_else(|e| e.into_inner()) =
            handle.raw::<uv_async_t>()? as usize;
        Ok(Async(handle))
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
        let guard = self.shared.raw.read().unwrap_or_else(|e| e.into_inner());
        if *guard == 0 {
            return Err(Error::CLOSED);
        }
        // SAFETY: a non-zero address is an async handle whose memory is freed only after the
        // close callback has cleared it under the write lock, which waits for this read lock.
        check(unsafe { uv_async_send(*guard as *mut uv_async_t) }).map(drop)
    }
}

impl std::fmt::Debug for AsyncSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSender").finish_non_exhaustive()
    }
}
