//! [`spawn_blocking`]: a closure on libuv's threadpool, its result back on the loop thread.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::oneshot;

use crate::uv::{Work, WorkError};

use super::executor::current;
use super::task::JoinError;

type Outcome<T> = std::result::Result<T, WorkError>;

/// Runs `f` on libuv's threadpool (a uv `Work` request); the handle yields its result on the
/// loop thread.
///
/// The job is queued at once (not when the handle is first polled). A panic in `f` is caught
/// on the pool thread and comes out of the handle as [`JoinError::Panic`], with its payload.
///
/// # The threadpool
///
/// libuv has one threadpool per process, shared by every loop and by libuv's own filesystem
/// and DNS requests ([`lookup_host`](super::lookup_host) uses it too). Its size comes from the
/// environment variable `UV_THREADPOOL_SIZE`, read once when the first job is queued: 4 threads
/// by default, at most 1024. Set it before anything uses the pool (first thing in `main`). Jobs
/// beyond the pool's size wait in a queue; a job that blocks forever holds a thread for good,
/// and keeps its loop (and process exit, which joins the pool) waiting.
///
/// # Panics
///
/// Outside [`block_on`](super::block_on).
///
/// # Examples
///
/// ```
/// use rsuv::rt::{block_on, spawn_blocking};
///
/// let sum = block_on(async {
///     spawn_blocking(|| (1..=100u64).sum::<u64>()).await
/// })
/// .unwrap();
/// assert_eq!(sum, 5050);
/// ```
#[doc(alias = "uv_queue_work")]
pub fn spawn_blocking<F, T>(f: F) -> BlockingHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let ex = current().expect("spawn_blocking called outside block_on");
    let (tx, rx) = oneshot::channel::<Outcome<T>>();
    let done = move |outcome: Outcome<T>| {
        let _ = tx.send(outcome); // the handle may be gone: the result is dropped here
    };
    let work = Work::queue(&ex.lp, f, done).expect("the loop of a running block_on is open");
    BlockingHandle { work, rx }
}

/// The handle of a [`spawn_blocking`] job: a future of `Ok(result)`, or
/// [`JoinError::Panic`] if the job panicked, or [`JoinError::Cancelled`] if it was cancelled
/// before it started.
///
/// Dropping the handle cancels the job if no pool thread has started it yet (it is then
/// dropped on the loop thread, never run); a job already running runs to completion, and its
/// result is dropped on the loop thread.
///
/// # Cancel safety
///
/// Awaiting is cancel safe: dropping the `.await` (not the handle) leaves the job as it was.
///
/// # Examples
///
/// ```
/// use rsuv::rt::{block_on, spawn_blocking};
///
/// block_on(async {
///     let err = spawn_blocking(|| -> u32 { panic!("in the pool") }).await.unwrap_err();
///     assert!(err.is_panic());
/// });
/// ```
pub struct BlockingHandle<T> {
    work: Work,
    rx: oneshot::Receiver<Outcome<T>>,
}

impl<T> BlockingHandle<T> {
    /// Cancels the job if no pool thread has started it yet: awaiting the handle then gives
    /// [`JoinError::Cancelled`]. Whether it was: `false` if it had started (it runs on and its
    /// result comes through the handle as usual) or finished.
    #[doc(alias = "uv_cancel")]
    pub fn abort(&self) -> bool {
        self.work.cancel().is_ok()
    }

    /// Whether the job is over: its result (or panic, or cancellation) is back on the loop
    /// thread.
    pub fn is_finished(&self) -> bool {
        !self.work.is_pending()
    }
}

impl<T> Future for BlockingHandle<T> {
    type Output = std::result::Result<T, JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(outcome) => outcome,
        };
        Poll::Ready(match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(WorkError::Panicked(payload))) => Err(JoinError::Panic(payload)),
            // ECANCELED (cancelled while queued), or polled again after completion.
            Ok(Err(WorkError::Uv(_))) | Err(oneshot::Canceled) => Err(JoinError::Cancelled),
        })
    }
}

impl<T> Drop for BlockingHandle<T> {
    fn drop(&mut self) {
        let _ = self.work.cancel(); // EBUSY (running) or CLOSED (done): nothing to do
    }
}

impl<T> fmt::Debug for BlockingHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
