//! The single-threaded executor driven by the uv loop: [`Runtime`], [`block_on`],
//! [`spawn_local`].
//!
//! Tasks live in a slab on the loop thread. A task's waker is an `Arc` (wakers must be
//! `Send + Sync`) holding the task's key and the executor's shared part: woken on the loop
//! thread it pushes the key on the local run queue (no lock, no system call); woken from
//! another thread it pushes the key on a mutex-protected remote queue and wakes the loop through
//! an `Async` handle. `block_on` alternates: poll what is ready, then let libuv run once (without
//! blocking while tasks are ready), where I/O and timer callbacks wake tasks.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::uv::{Async, AsyncSender, Loop, LoopHandle, Result, RunMode};

use super::task::{JoinHandle, Task};

/// How many ready tasks one turn polls before giving libuv a turn (fairness with I/O).
const BUDGET: usize = 128;

/// The part of an executor that wakers from any thread reach.
pub(crate) struct Shared {
    remote: Mutex<Vec<u64>>,
    sender: AsyncSender,
}

/// The executor state on the loop thread.
pub(crate) struct Executor {
    pub(crate) lp: LoopHandle,
    shared: Arc<Shared>,
    ready: RefCell<VecDeque<u64>>,
    tasks: RefCell<Slab>,
    /// The `block_on` future was woken.
    main_woken: Cell<bool>,
    _remote_wake: Async,
}

/// Key of the `block_on` future in wakers (never a slab key: those are below 2^63).
const MAIN: u64 = u64::MAX;

/// Tasks by key; a key is `generation << 32 | index`, so a stale waker finds nothing.
#[derive(Default)]
struct Slab {
    slots: Vec<(u32, Option<Rc<Task>>)>,
    free: Vec<u32>,
}

impl Slab {
    fn insert(&mut self, task: Rc<Task>) -> u64 {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push((0, None));
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.1 = Some(task);
        u64::from(slot.0) << 32 | u64::from(index)
    }

    fn get(&self, key: u64) -> Option<Rc<Task>> {
        let (generation, index) = ((key >> 32) as u32, key as u32);
        match self.slots.get(index as usize) {
            Some((g, Some(task))) if *g == generation => Some(task.clone()),
            _ => None,
        }
    }

    fn remove(&mut self, key: u64) -> Option<Rc<Task>> {
        let (generation, index) = ((key >> 32) as u32, key as u32);
        let slot = self.slots.get_mut(index as usize)?;
        if slot.0 != generation || slot.1.is_none() {
            return None;
        }
        slot.0 = slot.0.wrapping_add(1) & 0x7fff_ffff;
        self.free.push(index);
        slot.1.take()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Executor>>> = const { RefCell::new(None) };
}

/// The executor of the `block_on` running on this thread.
pub(crate) fn current() -> Option<Rc<Executor>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// A waker's payload: which task, and how to reach its executor.
struct TaskWaker {
    key: u64,
    shared: Arc<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // On the loop thread (its executor is this thread's current one): the local queue.
        let local = CURRENT.with(|c| match &*c.borrow() {
            Some(ex) if Arc::ptr_eq(&ex.shared, &self.shared) => {
                ex.schedule(self.key);
                true
            }
            _ => false,
        });
        if local {
            return;
        }
        self.shared
            .remote
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.key);
        let _ = self.shared.sender.send(); // CLOSED: the executor is gone, nothing to wake
    }
}

impl Executor {
    fn new(lp: &LoopHandle) -> Result<Rc<Executor>> {
        let remote_wake = Async::new(lp, |_| {
            if let Some(ex) = current() {
                ex.take_remote();
            }
        })?;
        let shared = Arc::new(Shared {
            remote: Mutex::default(),
            sender: remote_wake.sender(),
        });
        Ok(Rc::new(Executor {
            lp: lp.clone(),
            shared,
            ready: RefCell::default(),
            tasks: RefCell::default(),
            main_woken: Cell::new(true),
            _remote_wake: remote_wake,
        }))
    }

    fn take_remote(&self) {
        let keys =
            std::mem::take(&mut *self.shared.remote.lock().unwrap_or_else(|e| e.into_inner()));
        for key in keys {
            self.schedule(key);
        }
    }

    fn schedule(&self, key: u64) {
        if key == MAIN {
            self.main_woken.set(true);
        } else if let Some(task) = self.tasks.borrow().get(key) {
            if !task.scheduled.replace(true) {
                self.ready.borrow_mut().push_back(key);
            }
        }
    }

    pub(crate) fn waker(&self, key: u64) -> Waker {
        Waker::from(Arc::new(TaskWaker {
            key,
            shared: self.shared.clone(),
        }))
    }

    pub(crate) fn spawn(&self, task: Rc<Task>) -> u64 {
        let key = self.tasks.borrow_mut().insert(task.clone());
        task.key.set(key);
        task.scheduled.set(true);
        self.ready.borrow_mut().push_back(key);
        key
    }

    /// Drops a task's future (abort, or a dropped `JoinHandle`).
    pub(crate) fn cancel(&self, key: u64) {
        let task = self.tasks.borrow_mut().remove(key);
        drop(task); // outside the borrow: the future's drop may touch the executor
    }

    /// Polls up to `BUDGET` ready tasks; whether any is still ready.
    fn run_ready(&self) -> bool {
        for _ in 0..BUDGET {
            let Some(key) = self.ready.borrow_mut().pop_front() else {
                return false;
            };
            let Some(task) = self.tasks.borrow().get(key) else {
                continue;
            };
            task.scheduled.set(false);
            if task.poll(self) {
                self.cancel(key); // finished
            }
        }
        !self.ready.borrow().is_empty()
    }
}

/// Sets the thread's current executor for the duration of `block_on`.
/// Makes an executor the thread's current one until dropped; `clear` also drops its tasks then
/// (the end of a `block_on`).
struct Enter(Option<Rc<Executor>>, bool);

impl Enter {
    fn new(ex: &Rc<Executor>) -> Enter {
        Enter(CURRENT.with(|c| c.replace(Some(ex.clone()))), true)
    }

    fn keeping_tasks(ex: &Rc<Executor>) -> Enter {
        Enter(CURRENT.with(|c| c.replace(Some(ex.clone()))), false)
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let previous = self.0.take();
        let ex = CURRENT.with(|c| c.replace(previous));
        if let (Some(ex), true) = (ex, self.1) {
            // Drop what is left (tasks still pending when `block_on` returned), with the
            // executor no longer current.
            let tasks = std::mem::take(&mut *ex.tasks.borrow_mut());
            ex.ready.borrow_mut().clear();
            drop(tasks);
        }
    }
}

/// An async runtime on a uv loop: runs futures on the loop's thread, driven by the loop.
///
/// # Examples
///
/// ```
/// use rsuv::rt::{sleep, spawn_local, Runtime};
/// use std::time::Duration;
///
/// let rt = Runtime::new()?;
/// let answer = rt.block_on(async {
///     let task = spawn_local(async {
///         sleep(Duration::from_millis(1)).await;
///         21
///     });
///     task.await.unwrap() * 2
/// });
/// assert_eq!(answer, 42);
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Runtime {
    lp: Loop,
}

impl Runtime {
    /// A runtime on a new loop.
    ///
    /// # Errors
    ///
    /// What [`Loop::new`] reports.
    pub fn new() -> Result<Runtime> {
        Ok(Runtime { lp: Loop::new()? })
    }

    /// A runtime on an existing loop (which C or Python code may also use between calls).
    pub fn with_loop(lp: Loop) -> Runtime {
        Runtime { lp }
    }

    /// The loop.
    pub fn uv_loop(&self) -> &Loop {
        &self.lp
    }

    /// Gives the loop back.
    pub fn into_loop(self) -> Loop {
        self.lp
    }

    /// Runs `fut` to completion on this thread, with tasks spawned by [`spawn_local`] running
    /// alongside. Tasks still pending when it returns are dropped (cancelled). `block_on`
    /// returns only when `fut` completes: stopping the loop (`LoopHandle::stop`) does not end
    /// it; to stop on a signal, race `fut` against one.
    ///
    /// # Panics
    ///
    /// A panic in `fut` comes out of `block_on`; a panic in a loop callback too. Panics if
    /// called from inside another `block_on` on this thread, or if the loop cannot make the
    /// `Async` handle the wakers need (the loop's descriptor limit).
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        assert!(current().is_none(), "block_on called from inside block_on");
        let ex =
            Executor::new(&self.lp.handle()).expect("block_on: the loop could not create a handle");
        let _enter = Enter::new(&ex);
        let mut fut = std::pin::pin!(fut);
        let waker = ex.waker(MAIN);
        let mut cx = Context::from_waker(&waker);
        loop {
            if ex.main_woken.replace(false) {
                if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                    return out;
                }
            }
            let more = ex.run_ready();
            let busy = more || ex.main_woken.get();
            let mode = if busy { RunMode::NoWait } else { RunMode::Once };
            self.lp
                .run(mode)
                .expect("block_on: the loop is already running");
        }
    }
}

/// Runs `fut` to completion on a new loop (see [`Runtime::block_on`]).
///
/// # Panics
///
/// As for [`Runtime::block_on`], and if a loop cannot be created.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    Runtime::new()
        .expect("block_on: could not create a loop")
        .block_on(fut)
}

/// The loop of the `block_on` running on this thread, to make handles `rt` does not wrap
/// (a uv `Signal`, `Poll`, ...) from inside async code.
///
/// # Panics
///
/// Outside [`block_on`].
pub fn current_loop() -> LoopHandle {
    current()
        .expect("current_loop called outside block_on")
        .lp
        .clone()
}

/// Spawns a task on the current thread's executor; the `JoinHandle` yields its output.
/// Dropping the `JoinHandle` cancels the task (use [`JoinHandle::detach`] to let it run on).
///
/// # Panics
///
/// Outside [`block_on`].
#[must_use = "dropping the JoinHandle cancels the task: await it, or call .detach()"]
pub fn spawn_local<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let ex = current().expect("spawn_local called outside block_on");
    super::task::spawn(&ex, Box::pin(fut))
}

pub(crate) type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

/// Tasks on a loop that something else runs: the Python loop (`rsuv::python`), or a program
/// that calls `uv_run` itself. The driver calls [`LocalSet::run_ready`] on every iteration of
/// its loop and does not sleep while [`LocalSet::is_idle`] is false; wake-ups from other
/// threads reach it through an `Async` handle on the loop, which wakes a sleeping loop.
///
/// Inside a task, everything of `rt` works as inside [`block_on`] ([`spawn_local`], sockets,
/// timers).
///
/// # Examples
///
/// ```
/// use rsuv::rt::{LocalSet, sleep};
/// use rsuv::{Loop, RunMode};
/// use std::time::Duration;
///
/// let lp = Loop::new()?;
/// let set = LocalSet::new(&lp)?;
/// let task = set.spawn_local(async {
///     sleep(Duration::from_millis(1)).await;
///     7
/// });
/// let done = std::rc::Rc::new(std::cell::Cell::new(0));
/// let d = done.clone();
/// set.spawn_local(async move { d.set(task.await.unwrap()) }).detach();
/// // The driver's loop: run what is ready, then let libuv wait and dispatch.
/// while done.get() == 0 {
///     let more = set.run_ready();
///     lp.run(if more || !set.is_idle() { RunMode::NoWait } else { RunMode::Once })?;
/// }
/// assert_eq!(done.get(), 7);
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct LocalSet {
    ex: Rc<Executor>,
}

impl LocalSet {
    /// A set of tasks on `lp`.
    ///
    /// # Errors
    ///
    /// What the loop says when asked for the `Async` handle of wake-ups (`CLOSED`, `EMFILE`).
    pub fn new(lp: &LoopHandle) -> Result<LocalSet> {
        Ok(LocalSet {
            ex: Executor::new(lp)?,
        })
    }

    /// Spawns a task on this set; it first runs at the next [`run_ready`](Self::run_ready).
    #[must_use = "dropping the JoinHandle cancels the task: await it, or call .detach()"]
    pub fn spawn_local<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        super::task::spawn(&self.ex, Box::pin(fut))
    }

    /// Runs `f` with this set as the thread's current executor (so that `f` may call
    /// [`spawn_local`] and make `rt` sockets and timers).
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        let _enter = Enter::keeping_tasks(&self.ex);
        f()
    }

    /// Polls the tasks that are ready (at most 128, then the loop gets a turn); whether more
    /// are ready.
    pub fn run_ready(&self) -> bool {
        let _enter = Enter::keeping_tasks(&self.ex);
        self.ex.take_remote();
        self.ex.run_ready()
    }

    /// Whether no task is ready, here or woken from another thread.
    pub fn is_idle(&self) -> bool {
        self.ex.ready.borrow().is_empty()
            && self
                .ex
                .shared
                .remote
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
    }
}

impl Drop for LocalSet {
    /// Drops (cancels) every task still pending.
    fn drop(&mut self) {
        let tasks = std::mem::take(&mut *self.ex.tasks.borrow_mut());
        self.ex.ready.borrow_mut().clear();
        drop(tasks);
    }
}

impl std::fmt::Debug for LocalSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSet")
            .field("idle", &self.is_idle())
            .finish()
    }
}
