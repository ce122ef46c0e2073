//! rsuv's sync primitives (on libuv's `uv_mutex_t`, `uv_rwlock_t`, `uv_cond_t`, `uv_sem_t`)
//! against `std::sync`. Not a libuv benchmark: there is no C counterpart.
//!
//! `rsuv-bench sync TEST IMPL` runs one test with one implementation (`rsuv` or `std`) and
//! prints `sync TEST IMPL: N ns/op`; the driver alternates the two and takes medians.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

pub const TESTS: &[&str] = &[
    "mutex_uncontended",
    "mutex_contended",
    "rwlock_read_uncontended",
    "condvar_pingpong",
    "sem_uncontended",
    "sem_pingpong",
];

/// Lock/unlock pairs on one thread.
const UNCONTENDED_OPS: u64 = 10_000_000;
/// Increments per thread, two threads.
const CONTENDED_OPS: u64 = 2_000_000;
/// Round trips between two threads.
const PINGPONGS: u64 = 50_000;

/// A mutex protecting a `u64`, as both implementations offer it.
trait Lock: Send + Sync + 'static {
    fn make() -> Self;
    fn add(&self, n: u64);
}

impl Lock for rsuv::Mutex<u64> {
    fn make() -> Self {
        rsuv::Mutex::new(0).unwrap()
    }
    #[inline]
    fn add(&self, n: u64) {
        *self.lock() += n;
    }
}

impl Lock for std::sync::Mutex<u64> {
    fn make() -> Self {
        std::sync::Mutex::new(0)
    }
    #[inline]
    fn add(&self, n: u64) {
        *self.lock().unwrap() += n;
    }
}

trait ReadLock: Send + Sync + 'static {
    fn make() -> Self;
    fn get(&self) -> u64;
}

impl ReadLock for rsuv::RwLock<u64> {
    fn make() -> Self {
        rsuv::RwLock::new(1).unwrap()
    }
    #[inline]
    fn get(&self) -> u64 {
        *self.read()
    }
}

impl ReadLock for std::sync::RwLock<u64> {
    fn make() -> Self {
        std::sync::RwLock::new(1)
    }
    #[inline]
    fn get(&self) -> u64 {
        *self.read().unwrap()
    }
}

/// A counting semaphore: rsuv's, or the classic `Mutex` + `Condvar` one on std.
trait Sem: Send + Sync + 'static {
    fn make() -> Self;
    fn post(&self);
    fn wait(&self);
}

impl Sem for rsuv::Semaphore {
    fn make() -> Self {
        rsuv::Semaphore::new(0).unwrap()
    }
    #[inline]
    fn post(&self) {
        rsuv::Semaphore::post(self).unwrap();
    }
    #[inline]
    fn wait(&self) {
        rsuv::Semaphore::wait(self);
    }
}

struct StdSem {
    count: std::sync::Mutex<u32>,
    cv: std::sync::Condvar,
}

impl Sem for StdSem {
    fn make() -> Self {
        StdSem {
            count: std::sync::Mutex::new(0),
            cv: std::sync::Condvar::new(),
        }
    }
    #[inline]
    fn post(&self) {
        *self.count.lock().unwrap() += 1;
        self.cv.notify_one();
    }
    #[inline]
    fn wait(&self) {
        let mut count = self.count.lock().unwrap();
        while *count == 0 {
            count = self.cv.wait(count).unwrap();
        }
        *count -= 1;
    }
}

/// Runs `f(ops)` once as a warm-up (a tenth of the operations), then measures it.
fn measure(ops: u64, f: impl Fn(u64)) -> f64 {
    f(ops / 10);
    let start = Instant::now();
    f(ops);
    start.elapsed().as_nanos() as f64 / ops as f64
}

fn mutex_uncontended<L: Lock>() -> f64 {
    let m = L::make();
    measure(UNCONTENDED_OPS, |ops| {
        for _ in 0..ops {
            m.add(black_box(1));
        }
    })
}

/// Two threads incrementing one counter: ns per increment (all threads together).
fn mutex_contended<L: Lock>() -> f64 {
    let m = Arc::new(L::make());
    let per_op = measure(CONTENDED_OPS, |ops| {
        let start = Arc::new(Barrier::new(2));
        let (m2, s2) = (m.clone(), start.clone());
        let other = thread::spawn(move || {
            s2.wait();
            for _ in 0..ops {
                m2.add(black_box(1));
            }
        });
        start.wait();
        for _ in 0..ops {
            m.add(black_box(1));
        }
        other.join().unwrap();
    });
    per_op / 2.0
}

fn rwlock_read_uncontended<L: ReadLock>() -> f64 {
    let l = L::make();
    measure(UNCONTENDED_OPS, |ops| {
        let mut sum = 0;
        for _ in 0..ops {
            sum += black_box(&l).get();
        }
        assert_eq!(sum, ops);
    })
}

fn sem_uncontended<S: Sem>() -> f64 {
    let s = S::make();
    measure(UNCONTENDED_OPS, |ops| {
        for _ in 0..ops {
            s.post();
            s.wait();
        }
    })
}

/// Two threads handing a token back and forth through two semaphores: ns per round trip.
fn sem_pingpong<S: Sem>() -> f64 {
    let pair = Arc::new((S::make(), S::make()));
    measure(PINGPONGS, |ops| {
        let p = pair.clone();
        let other = thread::spawn(move || {
            for _ in 0..ops {
                p.0.wait();
                p.1.post();
            }
        });
        for _ in 0..ops {
            pair.0.post();
            pair.1.wait();
        }
        other.join().unwrap();
    })
}

/// Two threads taking turns on a counter under a mutex, waking each other with a condition
/// variable: ns per round trip.
macro_rules! condvar_pingpong {
    ($mutex:ty, $condvar:ty, $make_m:expr, $make_cv:expr, $unwrap:ident) => {{
        let pair: Arc<($mutex, $condvar)> = Arc::new(($make_m, $make_cv));
        measure(PINGPONGS, |ops| {
            *pair.0.lock().$unwrap() = 0;
            let p = pair.clone();
            let turn = move |odd: u64| {
                for _ in 0..ops {
                    let mut g = p.0.lock().$unwrap();
                    while *g % 2 != odd {
                        g = p.1.wait(g).$unwrap();
                    }
                    *g += 1;
                    drop(g);
                    p.1.notify_one();
                }
            };
            let worker = turn.clone();
            let other = thread::spawn(move || worker(1));
            turn(0);
            other.join().unwrap();
            assert_eq!(*pair.0.lock().$unwrap(), 2 * ops);
        })
    }};
}

/// `Result::unwrap` for std's poisoning results; the identity for rsuv's guards.
trait Id: Sized {
    fn id(self) -> Self {
        self
    }
}
impl<T> Id for T {}

pub fn run(test: &str, imp: &str) {
    let ns = match (test, imp) {
        ("mutex_uncontended", "rsuv") => mutex_uncontended::<rsuv::Mutex<u64>>(),
        ("mutex_uncontended", "std") => mutex_uncontended::<std::sync::Mutex<u64>>(),
        ("mutex_contended", "rsuv") => mutex_contended::<rsuv::Mutex<u64>>(),
        ("mutex_contended", "std") => mutex_contended::<std::sync::Mutex<u64>>(),
        ("rwlock_read_uncontended", "rsuv") => rwlock_read_uncontended::<rsuv::RwLock<u64>>(),
        ("rwlock_read_uncontended", "std") => rwlock_read_uncontended::<std::sync::RwLock<u64>>(),
        ("sem_uncontended", "rsuv") => sem_uncontended::<rsuv::Semaphore>(),
        ("sem_uncontended", "std") => sem_uncontended::<StdSem>(),
        ("sem_pingpong", "rsuv") => sem_pingpong::<rsuv::Semaphore>(),
        ("sem_pingpong", "std") => sem_pingpong::<StdSem>(),
        ("condvar_pingpong", "rsuv") => condvar_pingpong!(
            rsuv::Mutex<u64>,
            rsuv::Condvar,
            rsuv::Mutex::new(0).unwrap(),
            rsuv::Condvar::new().unwrap(),
            id
        ),
        ("condvar_pingpong", "std") => condvar_pingpong!(
            std::sync::Mutex<u64>,
            std::sync::Condvar,
            std::sync::Mutex::new(0),
            std::sync::Condvar::new(),
            unwrap
        ),
        _ => {
            eprintln!(
                "usage: rsuv-bench sync TEST rsuv|std; tests: {}",
                TESTS.join(" ")
            );
            std::process::exit(2);
        }
    };
    println!("sync {test} {imp}: {ns:.2} ns/op");
}
