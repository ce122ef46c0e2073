//! `pyuv.thread`: libuv's locks for Python threads. Each releases the GIL while it blocks
//! (after a non-blocking try, so an uncontended lock never does), and misuse that libuv
//! would turn into an abort or silent corruption raises `RuntimeError`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::errors::{ErrKind, uv_err};
use crate::uv;

/// A number for the calling thread, never 0.
fn me() -> u64 {
    thread_local!(static ID: u8 = const { 0 });
    ID.with(|b| b as *const u8 as u64)
}

fn not_held(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!("{what} is not held by this thread"))
}

/// A mutex: `lock()`/`unlock()`, `trylock()`, and a context manager.
#[pyclass(
    module = "pyuv.thread",
    name = "Mutex",
    subclass,
    frozen,
    weakref,
    dict
)]
pub struct Mutex {
    m: uv::Mutex<()>,
    owner: AtomicU64,
}

impl Mutex {
    fn held_here(&self) -> bool {
        self.owner.load(Ordering::Relaxed) == me()
    }

    fn lock_now(&self, py: Python<'_>) -> PyResult<()> {
        if self.held_here() {
            return Err(PyRuntimeError::new_err(
                "Mutex already held by this thread (deadlock)",
            ));
        }
        self.acquire(py);
        self.owner.store(me(), Ordering::Relaxed);
        Ok(())
    }

    /// Takes the lock with the GIL held. When it is busy, waits for it to be free without
    /// the GIL and lets go again before taking the GIL back: a thread never holds the
    /// mutex while it queues for the GIL, which would stall the GIL's holder on the
    /// mutex in turn (a convoy that costs a futex hand-off per operation).
    fn acquire(&self, py: Python<'_>) {
        loop {
            if let Some(g) = self.m.try_lock() {
                std::mem::forget(g);
                return;
            }
            py.detach(|| drop(self.m.lock()));
        }
    }

    fn unlock_now(&self) -> PyResult<()> {
        if !self.held_here() {
            return Err(not_held("Mutex"));
        }
        self.owner.store(0, Ordering::Relaxed);
        // SAFETY: this thread holds the lock (its owner mark, set only after locking and
        // cleared here), taken through a guard it forgot.
        unsafe { self.m.force_unlock() };
        Ok(())
    }
}

#[pymethods]
impl Mutex {
    #[new]
    #[pyo3(signature = (*_a))]
    fn new(_a: &Bound<'_, PyTuple>) -> PyResult<Mutex> {
        Ok(Mutex {
            m: uv::Mutex::new(()).map_err(|e| uv_err(ErrKind::Thread, e))?,
            owner: AtomicU64::new(0),
        })
    }

    fn lock(&self, py: Python<'_>) -> PyResult<()> {
        self.lock_now(py)
    }

    fn unlock(&self) -> PyResult<()> {
        self.unlock_now()
    }

    fn trylock(&self) -> bool {
        if self.held_here() {
            return false;
        }
        match self.m.try_lock() {
            Some(g) => {
                std::mem::forget(g);
                self.owner.store(me(), Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    fn __enter__(slf: &Bound<'_, Self>) -> PyResult<Py<Self>> {
        slf.get().lock_now(slf.py())?;
        Ok(slf.clone().unbind())
    }

    #[pyo3(signature = (*_a))]
    fn __exit__(&self, _a: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.unlock_now()?;
        Ok(false)
    }
}

/// A condition variable over a `Mutex` (`Condition(*ignored)`, as pyuv's source has it).
#[pyclass(
    module = "pyuv.thread",
    name = "Condition",
    subclass,
    frozen,
    weakref,
    dict
)]
pub struct Condition {
    cv: uv::Condvar,
    /// The mutex it waits with (libuv allows one), by address.
    bound: AtomicUsize,
}

impl Condition {
    fn check(&self, mutex: &Mutex) -> PyResult<()> {
        if !mutex.held_here() {
            return Err(not_held("the Mutex given to Condition.wait"));
        }
        let addr = mutex as *const Mutex as usize;
        match self
            .bound
            .compare_exchange(0, addr, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => Ok(()),
            Err(a) if a == addr => Ok(()),
            Err(_) => Err(PyRuntimeError::new_err(
                "a Condition waits with one Mutex only (libuv's rule)",
            )),
        }
    }

    /// Waits, the GIL released; `false` if `timeout` passed first.
    fn wait_on(&self, py: Python<'_>, mutex: &Mutex, timeout: Option<Duration>) -> PyResult<bool> {
        self.check(mutex)?;
        mutex.owner.store(0, Ordering::Relaxed);
        let woke = py.detach(|| {
            // SAFETY: this thread holds the mutex (checked above), taken through a guard it
            // forgot; the guard made here is the only one. Woken, it is dropped, letting
            // the mutex go at once, and `acquire` takes it back with the GIL (for the
            // reason `acquire` gives).
            let g = unsafe { mutex.m.make_guard_unchecked() };
            match timeout {
                None => {
                    drop(self.cv.wait(g));
                    true
                }
                Some(t) => {
                    let (g, r) = self.cv.wait_timeout(g, t);
                    drop(g);
                    !r.timed_out()
                }
            }
        });
        mutex.acquire(py);
        mutex.owner.store(me(), Ordering::Relaxed);
        Ok(woke)
    }
}

#[pymethods]
impl Condition {
    #[new]
    #[pyo3(signature = (*_a))]
    fn new(_a: &Bound<'_, PyTuple>) -> PyResult<Condition> {
        Ok(Condition {
            cv: uv::Condvar::new().map_err(|e| uv_err(ErrKind::Thread, e))?,
            bound: AtomicUsize::new(0),
        })
    }

    fn signal(&self) {
        self.cv.notify_one();
    }

    fn broadcast(&self) {
        self.cv.notify_all();
    }

    fn wait(&self, py: Python<'_>, mutex: PyRef<'_, Mutex>) -> PyResult<()> {
        self.wait_on(py, &mutex, None).map(drop)
    }

    /// `False` if `timeout` seconds passed without a signal.
    fn timedwait(&self, py: Python<'_>, mutex: PyRef<'_, Mutex>, timeout: f64) -> PyResult<bool> {
        if timeout.is_nan() || timeout < 0.0 {
            return Err(PyValueError::new_err("timeout must be >= 0"));
        }
        let t = Duration::from_secs_f64(timeout.min(1e9));
        self.wait_on(py, &mutex, Some(t))
    }
}

/// A readers-writer lock.
#[pyclass(
    module = "pyuv.thread",
    name = "RWLock",
    subclass,
    frozen,
    weakref,
    dict
)]
pub struct RWLock {
    l: uv::RwLock<()>,
    writer: AtomicU64,
    readers: AtomicUsize,
}

impl RWLock {
    fn not_writer(&self) -> PyResult<()> {
        if self.writer.load(Ordering::Relaxed) == me() {
            return Err(PyRuntimeError::new_err(
                "RWLock write-held by this thread (deadlock)",
            ));
        }
        Ok(())
    }
}

#[pymethods]
impl RWLock {
    #[new]
    fn new() -> PyResult<RWLock> {
        Ok(RWLock {
            l: uv::RwLock::new(()).map_err(|e| uv_err(ErrKind::Thread, e))?,
            writer: AtomicU64::new(0),
            readers: AtomicUsize::new(0),
        })
    }

    fn rdlock(&self, py: Python<'_>) -> PyResult<()> {
        self.not_writer()?;
        match self.l.try_read() {
            Some(g) => std::mem::forget(g),
            None => py.detach(|| std::mem::forget(self.l.read())),
        }
        self.readers.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn tryrdlock(&self) -> bool {
        if self.writer.load(Ordering::Relaxed) == me() {
            return false;
        }
        self.l.try_read().map(std::mem::forget).is_some() && {
            self.readers.fetch_add(1, Ordering::Relaxed);
            true
        }
    }

    fn rdunlock(&self) -> PyResult<()> {
        let taken = self
            .readers
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if taken.is_err() {
            return Err(PyRuntimeError::new_err("RWLock is not read-held"));
        }
        // SAFETY: a read lock is held (the count of read locks taken and not released was
        // above 0), through a guard forgotten by `rdlock`/`tryrdlock`.
        unsafe { self.l.force_unlock_read() };
        Ok(())
    }

    fn wrlock(&self, py: Python<'_>) -> PyResult<()> {
        self.not_writer()?;
        match self.l.try_write() {
            Some(g) => std::mem::forget(g),
            None => py.detach(|| std::mem::forget(self.l.write())),
        }
        self.writer.store(me(), Ordering::Relaxed);
        Ok(())
    }

    fn trywrlock(&self) -> bool {
        if self.writer.load(Ordering::Relaxed) == me() {
            return false;
        }
        self.l.try_write().map(std::mem::forget).is_some() && {
            self.writer.store(me(), Ordering::Relaxed);
            true
        }
    }

    fn wrunlock(&self) -> PyResult<()> {
        if self.writer.load(Ordering::Relaxed) != me() {
            return Err(not_held("RWLock's write lock"));
        }
        self.writer.store(0, Ordering::Relaxed);
        // SAFETY: this thread holds the write lock (its mark), through a forgotten guard.
        unsafe { self.l.force_unlock_write() };
        Ok(())
    }
}

/// A counting semaphore (`Semaphore(value=1)`), also a context manager.
#[pyclass(
    module = "pyuv.thread",
    name = "Semaphore",
    subclass,
    frozen,
    weakref,
    dict
)]
pub struct Semaphore {
    s: uv::Semaphore,
}

#[pymethods]
impl Semaphore {
    #[new]
    #[pyo3(signature = (value = 1))]
    fn new(value: i64) -> PyResult<Semaphore> {
        let v = u32::try_from(value).map_err(|_| PyValueError::new_err("value must be >= 0"))?;
        Ok(Semaphore {
            s: uv::Semaphore::new(v).map_err(|e| uv_err(ErrKind::Thread, e))?,
        })
    }

    fn post(&self) -> PyResult<()> {
        self.s.post().map_err(|e| uv_err(ErrKind::Thread, e))
    }

    fn wait(&self, py: Python<'_>) {
        if !self.s.try_wait() {
            py.detach(|| self.s.wait());
        }
    }

    fn trywait(&self) -> bool {
        self.s.try_wait()
    }

    fn __enter__(slf: &Bound<'_, Self>) -> Py<Self> {
        slf.get().wait(slf.py());
        slf.clone().unbind()
    }

    #[pyo3(signature = (*_a))]
    fn __exit__(&self, _a: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.post()?;
        Ok(false)
    }
}

/// A barrier for `count` threads; `wait()` is `True` in exactly one of them.
#[pyclass(
    module = "pyuv.thread",
    name = "Barrier",
    subclass,
    frozen,
    weakref,
    dict
)]
pub struct Barrier {
    b: uv::Barrier,
}

#[pymethods]
impl Barrier {
    #[new]
    fn new(count: i64) -> PyResult<Barrier> {
        let n = u32::try_from(count)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| PyRuntimeError::new_err("a Barrier needs a count of at least 1"))?;
        Ok(Barrier {
            b: uv::Barrier::new(n).map_err(|e| uv_err(ErrKind::Thread, e))?,
        })
    }

    fn wait(&self, py: Python<'_>) -> bool {
        py.detach(|| self.b.wait())
    }
}

/// Fills `pyuv.thread`.
pub(crate) fn thread_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Mutex>()?;
    m.add_class::<Condition>()?;
    m.add_class::<RWLock>()?;
    m.add_class::<Semaphore>()?;
    m.add_class::<Barrier>()?;
    Ok(())
}
