//! Tasks and [`JoinHandle`]s.

use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use super::executor::{Executor, LocalFuture};

/// A spawned task: its future (taken out while polled) and its scheduling state.
pub(crate) struct Task {
    pub(crate) key: Cell<u64>,
    pub(crate) scheduled: Cell<bool>,
    future: RefCell<Option<LocalFuture>>,
    /// Made on the first poll, lent to every poll after.
    waker: OnceCell<Waker>,
}

impl Task {
    /// Polls the task once; whether it finished.
    pub(crate) fn poll(&self, ex: &Executor) -> bool {
        let Some(mut fut) = self.future.borrow_mut().take() else {
            return true;
        };
        let waker = self.waker.get_or_init(|| ex.waker(self.key.get()));
        let done = fut
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_ready();
        if !done {
            *self.future.borrow_mut() = Some(fut);
        }
        done
    }
}

/// Why a task gave no output.
pub enum JoinError {
    /// The task was aborted, or its executor dropped it unfinished.
    Cancelled,
    /// The task panicked; the payload is kept.
    Panic(Box<dyn Any + Send>),
}

impl JoinError {
    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panic(_))
    }

    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// The panic payload, to resume with `std::panic::resume_unwind`.
    ///
    /// # Panics
    ///
    /// If the task was cancelled instead.
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        match self {
            JoinError::Panic(p) => p,
            JoinError::Cancelled => panic!("JoinError::into_panic on a cancelled task"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("JoinError::Cancelled"),
            JoinError::Panic(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .copied()
                    .or(p.downcast_ref::<String>().map(String::as_str));
                write!(f, "JoinError::Panic({:?})", msg.unwrap_or("..."))
            }
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled"),
            JoinError::Panic(_) => f.write_str("task panicked"),
        }
    }
}

impl std::error::Error for JoinError {}

/// What a task and its `JoinHandle` share.
struct JoinState<T> {
    result: RefCell<Option<Result<T, JoinError>>>,
    finished: Cell<bool>,
    waiter: RefCell<Option<Waker>>,
}

impl<T> JoinState<T> {
    fn finish(&self, result: Result<T, JoinError>) {
        if self.finished.replace(true) {
            return;
        }
        *self.result.borrow_mut() = Some(result);
        if let Some(w) = self.waiter.borrow_mut().take() {
            w.wake();
        }
    }
}

/// The future a task runs: the user's, with its output or panic handed to the `JoinHandle`.
struct Wrapper<F: Future> {
    fut: Pin<Box<F>>,
    state: Rc<JoinState<F::Output>>,
}

impl<F: Future> Future for Wrapper<F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match panic::catch_unwind(AssertUnwindSafe(|| this.fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => {
                this.state.finish(Ok(out));
                Poll::Ready(())
            }
            Err(payload) => {
                this.state.finish(Err(JoinError::Panic(payload)));
                Poll::Ready(())
            }
        }
    }
}

impl<F: Future> Drop for Wrapper<F> {
    fn drop(&mut self) {
        // Dropped unfinished: aborted, or left over when `block_on` returned.
        self.state.finish(Err(JoinError::Cancelled));
    }
}

/// An owned permission to await a task's output: `Ok(output)`, or a [`JoinError`] if it
/// panicked or was cancelled. Dropping it cancels the task, unless [`JoinHandle::detach`]ed.
///
/// # Cancel safety
///
/// Awaiting is cancel safe: dropping the `.await` (not the handle) leaves the task running.
#[must_use = "dropping a JoinHandle cancels its task: await it, or call .detach()"]
pub struct JoinHandle<T> {
    key: u64,
    state: Rc<JoinState<T>>,
    detached: bool,
    /// The executor, so that a handle dropped outside it (by a Python callback, say) still
    /// cancels its task.
    ex: Weak<Executor>,
}

pub(crate) fn spawn<F>(ex: &Rc<Executor>, fut: Pin<Box<F>>) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let state = Rc::new(JoinState {
        result: RefCell::new(None),
        finished: Cell::new(false),
        waiter: RefCell::new(None),
    });
    let wrapper: LocalFuture = Box::pin(Wrapper {
        fut,
        state: state.clone(),
    });
    let task = Rc::new(Task {
        key: Cell::new(0),
        scheduled: Cell::new(false),
        future: RefCell::new(Some(wrapper)),
        waker: OnceCell::new(),
    });
    let key = ex.spawn(task);
    JoinHandle {
        key,
        state,
        detached: false,
        ex: Rc::downgrade(ex),
    }
}

impl<T> JoinHandle<T> {
    /// Cancels the task: its future is dropped now; awaiting the handle gives
    /// `JoinError::Cancelled` (unless it had already finished).
    pub fn abort(&self) {
        if !self.state.finished.get() {
            if let Some(ex) = self.ex.upgrade() {
                ex.cancel(self.key);
            }
        }
    }

    /// Lets the task run to completion without this handle.
    pub fn detach(mut self) {
        self.detached = true;
    }

    /// Whether the task has finished (output ready, panicked, or cancelled).
    pub fn is_finished(&self) -> bool {
        self.state.finished.get()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(result) = self.state.result.borrow_mut().take() {
            return Poll::Ready(result);
        }
        if self.state.finished.get() {
            return Poll::Ready(Err(JoinError::Cancelled)); // the result was taken already
        }
        *self.state.waiter.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if !self.detached {
            self.abort();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
