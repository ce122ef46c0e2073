//! [`Work`]: run a closure on libuv's threadpool and get its result back on the loop thread.

use std::any::Any;
use std::fmt;
use std::mem;
use std::os::raw::c_int;
use std::panic::{self, AssertUnwindSafe};
use std::thread;

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::loop_::LoopHandle;
use super::req::{self, Pending, Request};

/// Why a [`Work`] job gave no value: libuv's status, or the job's panic.
///
/// # Examples
///
/// ```
/// use rsuv::{Loop, RunMode, Work, WorkError};
/// use std::{cell::RefCell, rc::Rc};
///
/// let lp = Loop::new()?;
/// let got = Rc::new(RefCell::new(None));
/// let g = got.clone();
/// Work::queue(&lp, || -> u8 { panic!("on the pool") }, move |r| *g.borrow_mut() = Some(r))?;
/// lp.run(RunMode::Default)?; // the panic does not come out of run: done has it
/// let err = got.take().unwrap().unwrap_err();
/// assert!(err.is_panic());
/// let payload = err.into_panic().unwrap();
/// assert_eq!(payload.downcast_ref::<&str>(), Some(&"on the pool"));
/// # Ok::<(), rsuv::Error>(())
/// ```
pub enum WorkError {
    /// libuv's status: `ECANCELED` when [`Work::cancel`] took the job off the queue before it
    /// ran.
    Uv(Error),
    /// The job panicked on the threadpool thread: its payload, for
    /// [`std::panic::resume_unwind`].
    Panicked(Box<dyn Any + Send + 'static>),
}

impl WorkError {
    /// Whether the job panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, WorkError::Panicked(_))
    }

    /// Whether the job was cancelled before it ran.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, WorkError::Uv(e) if *e == Error::ECANCELED)
    }

    /// The panic's payload, or the error back if the job did not panic.
    pub fn into_panic(self) -> std::result::Result<Box<dyn Any + Send + 'static>, WorkError> {
        match self {
            WorkError::Panicked(payload) => Ok(payload),
            other => Err(other),
        }
    }
}

/// The payload's text when it is a `&str` or a `String` (what `panic!` makes).
fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-string payload")
}

impl fmt::Debug for WorkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkError::Uv(e) => f.debug_tuple("Uv").field(e).finish(),
            WorkError::Panicked(p) => f.debug_tuple("Panicked").field(&panic_text(&**p)).finish(),
        }
    }
}

impl fmt::Display for WorkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkError::Uv(e) => write!(f, "{e}"),
            WorkError::Panicked(p) => write!(f, "the job panicked: {}", panic_text(&**p)),
        }
    }
}

impl std::error::Error for WorkError {}

/// Two errors are equal when they are the same libuv error; a panic equals nothing.
impl PartialEq for WorkError {
    fn eq(&self, other: &WorkError) -> bool {
        matches!((self, other), (WorkError::Uv(a), WorkError::Uv(b)) if a == b)
    }
}

impl From<Error> for WorkError {
    fn from(e: Error) -> WorkError {
        WorkError::Uv(e)
    }
}

/// The part of a work request the threadpool thread touches: the job `W` until it runs, then
/// its outcome (a panic is caught there and carried back to `done` as its payload).
enum Stage<T, W> {
    Queued(W),
    Running,
    Ran(thread::Result<T>),
}

/// The state of a work request: the job and the completion `D`, stored as they are (the
/// request is one allocation, with no box for either closure).
struct WorkState<T, W, D> {
    stage: Stage<T, W>,
    done: D,
}

type WorkReq<T, W, D> = Request<WorkState<T, W, D>, uv_work_t>;

/// A job queued on libuv's threadpool, seen from the loop thread: the handle to cancel it.
///
/// [`Work::queue`] runs a `Send` closure on a threadpool thread and hands its result to a
/// callback on the loop thread. The request owns its memory, the closures and the result until
/// that callback: dropping the `Work` value neither cancels nor frees anything, the job goes on.
/// A queued job keeps its loop alive ([`LoopHandle::alive`]); dropping the [`Loop`](crate::Loop)
/// waits for every queued and running job and calls their callbacks.
///
/// # The threadpool
///
/// libuv has one threadpool per process, shared by every loop and by libuv's own filesystem
/// and DNS requests. It starts when the first request is queued and reads the environment
/// variable `UV_THREADPOOL_SIZE` then, once: 4 threads by default, `0` counts as 1, at most
/// 1024. Set it before the first request (in `main`, before any other thread exists). DNS
/// lookups count as "slow I/O" and use at most half the threads (rounded up).
///
/// A job should not block forever: besides holding a thread, it keeps a dropped `Loop` waiting,
/// and at process exit libuv's library destructor joins the threadpool threads.
///
/// # Examples
///
/// ```
/// use rsuv::{Loop, RunMode, Work};
/// use std::{cell::Cell, rc::Rc};
///
/// let lp = Loop::new()?;
/// let sum = Rc::new(Cell::new(0));
/// let s = sum.clone();
/// Work::queue(&lp, || (1..=100u64).sum::<u64>(), move |r| s.set(r.unwrap()))?;
/// lp.run(RunMode::Default)?;
/// assert_eq!(sum.get(), 5050);
/// lp.close()?;
/// # Ok::<(), rsuv::Error>(())
/// ```
#[doc(alias = "uv_work_t")]
pub struct Work(Pending);

/// Runs on a threadpool thread. Never unwinds: a panic in the job is caught here.
unsafe extern "C" fn on_work<T, W, D>(raw: *mut uv_work_t)
where
    W: FnOnce() -> T + Send,
{
    // SAFETY: `raw` was submitted by `Work::queue` with this `T` and is not completed. Only this
    // thread touches `stage` until the after-work callback, which libuv runs on the loop thread
    // after this function returns (ordered by its queue mutex); `cancel` cannot move a request
    // a thread has picked up.
    let Some(state) = (unsafe { WorkReq::<T, W, D>::state_ptr(raw.cast()) }) else {
        return;
    };
    // SAFETY: as above: the state is this thread's until the after-work callback.
    let stage = unsafe { &mut (*state).stage };
    if let Stage::Queued(job) = mem::replace(stage, Stage::Running) {
        *stage = Stage::Ran(panic::catch_unwind(AssertUnwindSafe(job)));
    }
}

/// Runs on the loop thread once the job has run or was cancelled.
unsafe extern "C" fn after_work<T, W, D>(raw: *mut uv_work_t, status: c_int)
where
    D: FnOnce(std::result::Result<T, WorkError>),
{
    // SAFETY: `raw` was submitted by `Work::queue` with these types; this is its completion.
    if let Some(req) = unsafe { WorkReq::<T, W, D>::complete(raw.cast()) } {
        req.finish(|state| state.complete(status));
    }
}

impl<T, W, D: FnOnce(std::result::Result<T, WorkError>)> WorkState<T, W, D> {
    /// Hands the outcome to `done`: the value, the job's panic, or libuv's error.
    fn complete(self, status: c_int) {
        let WorkState { stage, done } = self;
        match (check(status), stage) {
            (Ok(_), Stage::Ran(Ok(value))) => done(Ok(value)),
            (Ok(_), Stage::Ran(Err(payload))) => done(Err(WorkError::Panicked(payload))),
            (Err(e), stage) => {
                drop(stage);
                done(Err(WorkError::Uv(e)))
            }
            (Ok(_), _) => unreachable!("libuv completed a job that did not run"),
        }
    }
}

impl Work {
    /// Queues `work` to run on the threadpool; `done` then runs on the loop thread with its
    /// result, during [`Loop::run`](crate::Loop::run) (or while the `Loop` is closed or
    /// dropped).
    ///
    /// `done` gets `Ok(value)`; [`WorkError::Panicked`] with the payload if `work` panicked (the
    /// panic is caught on the threadpool thread, and does not stop the loop); or
    /// `WorkError::Uv(Error::ECANCELED)` if [`Work::cancel`] took the job off the queue before it
    /// ran (`work` is then dropped on the loop thread, never called).
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`](crate::Error::CLOSED) if the loop is closed; `work` and `done` are
    /// dropped uncalled.
    ///
    /// # Panics
    ///
    /// A panic in `done`, like one in any other callback, stops the loop and comes out of
    /// [`Loop::run`](crate::Loop::run). A panic in `work` does not: `done` gets it.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsuv::{Loop, RunMode, Work};
    /// use std::thread;
    ///
    /// let lp = Loop::new()?;
    /// let loop_thread = thread::current().id();
    /// Work::queue(
    ///     &lp,
    ///     move || thread::current().id() != loop_thread,
    ///     move |on_pool| {
    ///         assert!(on_pool.unwrap());
    ///         assert_eq!(thread::current().id(), loop_thread);
    ///     },
    /// )?;
    /// lp.run(RunMode::Default)?;
    /// # Ok::<(), rsuv::Error>(())
    /// ```
    #[doc(alias = "uv_queue_work")]
    pub fn queue<T, W, D>(lp: &LoopHandle, work: W, done: D) -> Result<Work>
    where
        T: Send + 'static,
        W: FnOnce() -> T + Send + 'static,
        D: FnOnce(std::result::Result<T, WorkError>) + 'static,
    {
        let state = WorkState {
            stage: Stage::<T, W>::Queued(work),
            done,
        };
        // SAFETY: `raw` is fresh memory of uv_req_size(UV_WORK) bytes; both callbacks are
        // instantiated for this request's state type.
        let start = |l, raw: *mut uv_req_t| unsafe {
            uv_queue_work(
                l,
                raw.cast(),
                Some(on_work::<T, W, D>),
                Some(after_work::<T, W, D>),
            )
        };
        req::submit::<_, uv_work_t>(lp, state, start).map(Work)
    }

    /// Cancels the job if no threadpool thread has picked it up yet. Its `done` then runs with
    /// `WorkError::Uv(Error::ECANCELED)` on a later loop iteration (not from inside this call).
    ///
    /// # Errors
    ///
    /// - `EBUSY`: the job has started (it is running, or has finished and its `done` is about
    ///   to run); it cannot be cancelled and `done` gets its result.
    /// - [`Error::CLOSED`](crate::Error::CLOSED): the request is complete: its `done` has run
    ///   or is running (also after the loop was dropped, which completes every request).
    ///
    /// Cancelling again a job already cancelled returns `Ok(())`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsuv::{Error, Loop, RunMode, Work, WorkError};
    ///
    /// let lp = Loop::new()?;
    /// let job = Work::queue(&lp, || 42, |r| {
    ///     assert!(matches!(r, Ok(42) | Err(WorkError::Uv(Error::ECANCELED))));
    /// })?;
    /// match job.cancel() {
    ///     Ok(()) => println!("cancelled while queued"),
    ///     Err(e) => assert_eq!(e, Error::EBUSY, "a pool thread already took it"),
    /// }
    /// lp.run(RunMode::Default)?;
    /// assert_eq!(job.cancel(), Err(Error::CLOSED));
    /// # Ok::<(), rsuv::Error>(())
    /// ```
    #[doc(alias = "uv_cancel")]
    pub fn cancel(&self) -> Result<()> {
        self.0.cancel()
    }

    /// Whether the request is still pending: its `done` has not started yet.
    pub fn is_pending(&self) -> bool {
        self.0.is_pending()
    }
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work")
            .field("pending", &self.is_pending())
            .finish()
    }
}
