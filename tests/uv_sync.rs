//! Thread synchronisation: Mutex, Condvar, RwLock, Barrier, Semaphore and Once from 8 threads
//! under contention. Every test runs under a deadline, so a deadlock or a lost wake-up fails
//! instead of hanging.

use rsuv::{Barrier, Condvar, Error, Mutex, Once, RwLock, Semaphore};
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

const THREADS: usize = 8;
/// Generous, for valgrind on a busy two-core machine.
const DEADLINE: Duration = Duration::from_secs(120);

/// Runs `f` on its own thread and returns its result, failing the test if it takes longer than
/// [`DEADLINE`] (the stuck thread is abandoned) and re-raising its panic if it panics.
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || tx.send(f()).unwrap());
    match rx.recv_timeout(DEADLINE) {
        Ok(v) => {
            worker.join().unwrap();
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(payload) => panic::resume_unwind(payload),
            Ok(()) => unreachable!("worker ended without a result"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("deadlock: still running after {DEADLINE:?}")
        }
    }
}

/// Spawns `THREADS` threads running `f(i)` and joins them all, re-raising the first panic.
fn on_threads<T: Send + 'static>(f: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let f = Arc::new(f);
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let f = f.clone();
            thread::spawn(move || f(i))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().unwrap_or_else(|p| panic::resume_unwind(p)))
        .collect()
}

/// The message of a caught panic.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn sync_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Mutex<Vec<u8>>>();
    send_sync::<RwLock<Vec<u8>>>();
    send_sync::<Condvar>();
    send_sync::<Barrier>();
    send_sync::<Semaphore>();
    send_sync::<Once>();
}

#[test]
fn mutex_counter_is_exact_under_contention() {
    const PER_THREAD: u64 = 10_000;
    let total = bounded(|| {
        let counter = Arc::new(Mutex::new(0u64).unwrap());
        let c = counter.clone();
        on_threads(move |_| {
            for _ in 0..PER_THREAD {
                // A read and a separate write: lost updates show if exclusion fails.
                let mut g = c.lock();
                let v = *g;
                *g = v + 1;
            }
        });
        let counter = Arc::try_unwrap(counter).unwrap();
        counter.into_inner()
    });
    assert_eq!(total, THREADS as u64 * PER_THREAD);
}

#[test]
fn mutex_try_lock_fails_while_held() {
    bounded(|| {
        let m = Arc::new(Mutex::new(5).unwrap());
        let guard = m.lock();
        assert!(m.try_lock().is_none(), "held by this thread");
        let m2 = m.clone();
        assert!(
            thread::spawn(move || m2.try_lock().is_none())
                .join()
                .unwrap()
        );
        drop(guard);
        let m2 = m.clone();
        assert_eq!(
            thread::spawn(move || *m2.try_lock().unwrap())
                .join()
                .unwrap(),
            5
        );
        let mut m = Arc::try_unwrap(m).unwrap();
        *m.get_mut() += 1;
        assert_eq!(format!("{m:?}"), "Mutex { data: 6, .. }");
    });
}

#[test]
fn condvar_producers_and_consumers_lose_no_notification() {
    const PER_PRODUCER: usize = 2_000;
    const PRODUCERS: usize = THREADS / 2;
    struct Queue {
        items: VecDeque<usize>,
        producers_left: usize,
    }
    let (count, sum) = bounded(|| {
        let shared = Arc::new((
            Mutex::new(Queue {
                items: VecDeque::new(),
                producers_left: PRODUCERS,
            })
            .unwrap(),
            Condvar::new().unwrap(),
        ));
        let results = on_threads(move |i| {
            let (queue, cv) = &*shared;
            if i < PRODUCERS {
                for n in 0..PER_PRODUCER {
                    queue.lock().items.push_back(i * PER_PRODUCER + n);
                    cv.notify_one();
                }
                queue.lock().producers_left -= 1;
                cv.notify_all();
                return (0, 0);
            }
            let (mut count, mut sum) = (0, 0);
            loop {
                let mut q =
                    cv.wait_while(queue.lock(), |q| q.items.is_empty() && q.producers_left > 0);
                match q.items.pop_front() {
                    Some(item) => (count, sum) = (count + 1, sum + item),
                    None => return (count, sum),
                }
            }
        });
        results
            .into_iter()
            .fold((0, 0), |(c, s), (dc, ds)| (c + dc, s + ds))
    });
    let n = PRODUCERS * PER_PRODUCER;
    assert_eq!(count, n);
    assert_eq!(sum, n * (n - 1) / 2);
}

#[test]
fn condvar_ping_pong_loses_no_wake_up() {
    const ROUNDS: usize = 2_000;
    let last = bounded(|| {
        let shared = Arc::new((Mutex::new(0usize).unwrap(), Condvar::new().unwrap()));
        let s = shared.clone();
        let other = thread::spawn(move || {
            let (turn, cv) = &*s;
            for round in 0..ROUNDS {
                let mut t = cv.wait_while(turn.lock(), |t| *t != 2 * round + 1);
                *t += 1;
                cv.notify_one();
            }
        });
        let (turn, cv) = &*shared;
        for round in 0..ROUNDS {
            let mut t = cv.wait_while(turn.lock(), |t| *t != 2 * round);
            *t += 1;
            cv.notify_one();
        }
        other.join().unwrap();
        *turn.lock()
    });
    assert_eq!(last, 2 * ROUNDS);
}

#[test]
fn condvar_wait_timeout_honours_the_timeout() {
    bounded(|| {
        let (m, cv) = (Mutex::new(()).unwrap(), Condvar::new().unwrap());
        let wait = Duration::from_millis(150);
        let start = Instant::now();
        let (guard, res) = cv.wait_timeout(m.lock(), wait);
        assert!(res.timed_out());
        assert!(
            start.elapsed() >= wait,
            "returned after {:?}",
            start.elapsed()
        );
        drop(guard);

        let start = Instant::now();
        let (guard, res) = cv.wait_timeout_while(m.lock(), wait, |()| true);
        assert!(res.timed_out());
        assert!(
            start.elapsed() >= wait,
            "returned after {:?}",
            start.elapsed()
        );
        drop(guard);

        let (_guard, res) = cv.wait_timeout(m.lock(), Duration::ZERO);
        assert!(res.timed_out());
    });
}

#[test]
fn condvar_wait_timeout_returns_early_when_notified() {
    bounded(|| {
        let shared = Arc::new((Mutex::new(false).unwrap(), Condvar::new().unwrap()));
        let s = shared.clone();
        let notifier = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            *s.0.lock() = true;
            s.1.notify_all();
        });
        let (flag, cv) = &*shared;
        let (guard, res) = cv.wait_timeout_while(flag.lock(), DEADLINE, |ready| !*ready);
        assert!(!res.timed_out());
        assert!(*guard);
        drop(guard);
        notifier.join().unwrap();
    });
}

#[test]
fn condvar_with_a_second_mutex_panics_and_unlocks() {
    bounded(|| {
        let (m1, m2, cv) = (
            Mutex::new(()).unwrap(),
            Mutex::new(()).unwrap(),
            Condvar::new().unwrap(),
        );
        let _ = cv.wait_timeout(m1.lock(), Duration::ZERO);
        let err = panic::catch_unwind(AssertUnwindSafe(|| {
            let _ = cv.wait_timeout(m2.lock(), Duration::from_millis(1));
        }))
        .unwrap_err();
        assert!(panic_message(&*err).contains("more than one Mutex"));
        assert!(
            m2.try_lock().is_some(),
            "the guard was released by the panic"
        );
        // The first mutex still works with it.
        let (_g, res) = cv.wait_timeout(m1.lock(), Duration::ZERO);
        assert!(res.timed_out());
    });
}

#[test]
fn rwlock_readers_hold_the_lock_together() {
    bounded(|| {
        let lock = Arc::new(RwLock::new(7).unwrap());
        // Every reader waits, guard in hand, until all readers hold one: this only finishes
        // if THREADS read guards are held at the same time.
        let all_in = Arc::new(std::sync::Barrier::new(THREADS));
        let l = lock.clone();
        let seen = on_threads(move |_| {
            let g = l.read();
            all_in.wait();
            assert!(l.try_write().is_none(), "a writer got in beside readers");
            *g
        });
        assert_eq!(seen, vec![7; THREADS]);
        assert!(lock.try_write().is_some());
    });
}

#[test]
fn rwlock_writers_exclude_everyone() {
    const WRITER: usize = 1 << 20;
    const ROUNDS: usize = 2_000;
    let (a, b) = bounded(|| {
        let lock = Arc::new(RwLock::new((0usize, 0usize)).unwrap());
        let active = Arc::new(AtomicUsize::new(0));
        let l = lock.clone();
        on_threads(move |i| {
            for _ in 0..ROUNDS {
                if i % 2 == 0 {
                    let mut g = l.write();
                    assert_eq!(active.fetch_add(WRITER, SeqCst), 0, "writer not alone");
                    g.0 += 1;
                    thread::yield_now();
                    g.1 += 1;
                    active.fetch_sub(WRITER, SeqCst);
                } else {
                    let g = l.read();
                    assert!(
                        active.fetch_add(1, SeqCst) < WRITER,
                        "reader beside a writer"
                    );
                    assert_eq!(g.0, g.1, "reader saw a half-done write");
                    active.fetch_sub(1, SeqCst);
                }
            }
        });
        Arc::try_unwrap(lock).unwrap().into_inner()
    });
    assert_eq!((a, b), (THREADS / 2 * ROUNDS, THREADS / 2 * ROUNDS));
}

#[test]
fn rwlock_try_variants_fail_when_contended() {
    bounded(|| {
        let lock = Arc::new(RwLock::new(1).unwrap());
        let from_other_thread = |lock: &Arc<RwLock<i32>>| {
            let l = lock.clone();
            thread::spawn(move || {
                // One at a time: each guard is dropped before the next attempt.
                let read = l.try_read().is_some();
                let write = l.try_write().is_some();
                (read, write)
            })
            .join()
            .unwrap()
        };
        let r = lock.read();
        assert_eq!(from_other_thread(&lock), (true, false));
        assert!(lock.try_write().is_none(), "same thread holds a read lock");
        drop(r);
        let mut w = lock.write();
        *w = 2;
        assert_eq!(from_other_thread(&lock), (false, false));
        assert!(
            lock.try_read().is_none(),
            "same thread holds the write lock"
        );
        assert_eq!(format!("{lock:?}"), "RwLock { data: <locked>, .. }");
        drop(w);
        assert_eq!(from_other_thread(&lock), (true, true));
        assert_eq!(*lock.try_read().unwrap(), 2);
    });
}

#[test]
fn rwlock_relocked_by_its_writer_panics_instead_of_aborting() {
    bounded(|| {
        let lock = RwLock::new(0).unwrap();
        for attempt in ["read", "write"] {
            let err = panic::catch_unwind(AssertUnwindSafe(|| {
                let _w = lock.write();
                match attempt {
                    "read" => drop(lock.read()),
                    _ => drop(lock.write()),
                }
            }))
            .unwrap_err();
            assert!(panic_message(&*err).contains("holding its write lock"));
            // The write guard was released while unwinding.
            assert!(lock.try_write().is_some());
        }
    });
}

#[test]
fn barrier_has_one_leader_per_round_and_is_reusable() {
    const ROUNDS: usize = 20;
    let leaders = bounded(|| {
        let barrier = Arc::new(Barrier::new(THREADS as u32).unwrap());
        let arrived: Arc<Vec<AtomicUsize>> = Arc::new((0..ROUNDS).map(|_| 0.into()).collect());
        let leaders: Arc<Vec<AtomicUsize>> = Arc::new((0..ROUNDS).map(|_| 0.into()).collect());
        let l = leaders.clone();
        on_threads(move |_| {
            for round in 0..ROUNDS {
                arrived[round].fetch_add(1, SeqCst);
                if barrier.wait() {
                    l[round].fetch_add(1, SeqCst);
                }
                assert_eq!(
                    arrived[round].load(SeqCst),
                    THREADS,
                    "left before all arrived"
                );
            }
        });
        leaders.iter().map(|n| n.load(SeqCst)).collect::<Vec<_>>()
    });
    assert_eq!(leaders, vec![1; ROUNDS]);
}

#[test]
fn barrier_of_zero_is_an_error_and_of_one_never_blocks() {
    assert_eq!(Barrier::new(0).unwrap_err(), Error::EINVAL);
    bounded(|| {
        let b = Barrier::new(1).unwrap();
        assert!((0..3).all(|_| b.wait()), "a lone thread leads every round");
    });
}

#[test]
fn semaphore_counts_exactly() {
    bounded(|| {
        let sem = Semaphore::new(3).unwrap();
        assert!((0..3).all(|_| sem.try_wait()));
        assert!(!sem.try_wait(), "count is zero");
        sem.post().unwrap();
        sem.post().unwrap();
        sem.wait();
        assert!(sem.try_wait());
        assert!(!sem.try_wait());
    });
}

#[test]
fn semaphore_counts_exactly_under_contention() {
    const PER_THREAD: usize = 2_000;
    bounded(|| {
        let sem = Arc::new(Semaphore::new(0).unwrap());
        let s = sem.clone();
        let posters = thread::spawn(move || {
            on_threads(move |_| (0..PER_THREAD).for_each(|_| s.post().unwrap()))
        });
        // Take every post, half blocking and half polling.
        for n in 0..THREADS * PER_THREAD {
            if n % 2 == 0 {
                sem.wait();
            } else {
                while !sem.try_wait() {
                    thread::yield_now();
                }
            }
        }
        posters.join().unwrap();
        assert!(!sem.try_wait(), "more posts than taken");
    });
}

#[test]
fn semaphore_of_one_excludes_like_a_mutex() {
    const ROUNDS: usize = 1_000;
    bounded(|| {
        let sem = Arc::new(Semaphore::new(1).unwrap());
        let inside = Arc::new(AtomicUsize::new(0));
        on_threads(move |_| {
            for _ in 0..ROUNDS {
                sem.wait();
                assert_eq!(inside.fetch_add(1, SeqCst), 0, "two threads inside");
                thread::yield_now();
                inside.fetch_sub(1, SeqCst);
                sem.post().unwrap();
            }
        });
    });
}

#[test]
fn semaphore_refuses_to_overflow() {
    let max = i32::MAX as u32;
    assert_eq!(Semaphore::new(max + 1).unwrap_err(), Error::EINVAL);
    let sem = Semaphore::new(max).unwrap();
    assert_eq!(sem.post(), Err(Error::EOVERFLOW));
    assert!(sem.try_wait());
    sem.post().unwrap();
    assert_eq!(sem.post(), Err(Error::EOVERFLOW));
}

#[test]
fn once_runs_exactly_once_from_eight_threads() {
    let seen = bounded(|| {
        let once = Arc::new(Once::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(std::sync::Barrier::new(THREADS));
        let (o, r) = (once.clone(), runs.clone());
        let seen = on_threads(move |_| {
            start.wait();
            o.call_once(|| {
                thread::sleep(Duration::from_millis(20));
                r.fetch_add(1, SeqCst);
            });
            // Returning means the closure has finished, in whichever thread ran it.
            r.load(SeqCst)
        });
        assert!(once.is_completed());
        once.call_once(|| unreachable!("ran twice"));
        assert_eq!(runs.load(SeqCst), 1);
        seen
    });
    assert_eq!(seen, vec![1; THREADS]);
}

#[test]
fn once_panic_is_resumed_and_poisons() {
    bounded(|| {
        let once = Once::new();
        let err = panic::catch_unwind(AssertUnwindSafe(|| {
            once.call_once(|| panic!("boom in once"));
        }))
        .unwrap_err();
        assert_eq!(panic_message(&*err), "boom in once");
        assert!(!once.is_completed());
        let err = panic::catch_unwind(AssertUnwindSafe(|| {
            once.call_once(|| unreachable!("a poisoned Once ran again"));
        }))
        .unwrap_err();
        assert!(panic_message(&*err).contains("poisoned"));
    });
}

#[test]
fn once_called_from_its_own_closure_panics_instead_of_deadlocking() {
    bounded(|| {
        let once = Once::new();
        let err = panic::catch_unwind(AssertUnwindSafe(|| {
            once.call_once(|| once.call_once(|| {}));
        }))
        .unwrap_err();
        assert!(panic_message(&*err).contains("from its own closure"));
        assert!(!once.is_completed());
    });
}

#[test]
fn once_nested_in_another_once_runs() {
    bounded(|| {
        let (outer, inner) = (Once::new(), Once::new());
        let runs = AtomicUsize::new(0);
        outer.call_once(|| {
            inner.call_once(|| {
                runs.fetch_add(1, SeqCst);
            });
            inner.call_once(|| unreachable!());
            runs.fetch_add(10, SeqCst);
        });
        assert_eq!(runs.load(SeqCst), 11);
        assert!(outer.is_completed() && inner.is_completed());
    });
}

#[test]
fn forced_unlocks_for_lock_and_unlock_by_separate_calls() {
    // pyuv's Mutex.lock()/unlock(): the guard is forgotten at lock and the lock released
    // later by force_unlock, from the same thread.
    let m = Arc::new(Mutex::new(0u32).unwrap());
    std::mem::forget(m.lock());
    assert!(m.try_lock().is_none(), "still held");
    let m2 = m.clone();
    let other = thread::spawn(move || {
        let mut g = m2.lock();
        *g += 1;
    });
    thread::sleep(Duration::from_millis(20));
    // SAFETY: this thread holds the lock through the guard it forgot; no guard is alive.
    unsafe { m.force_unlock() };
    other.join().unwrap();
    assert_eq!(*m.lock(), 1);
    // make_guard_unchecked hands the held lock to a Condvar wait and back.
    let cv = Condvar::new().unwrap();
    std::mem::forget(m.lock());
    // SAFETY: this thread holds the lock (forgotten guard), and no other guard is alive.
    let g = unsafe { m.make_guard_unchecked() };
    let (g, r) = cv.wait_timeout(g, Duration::from_millis(5));
    assert!(r.timed_out());
    drop(g);
    assert!(
        m.try_lock().is_some(),
        "dropping the made guard unlocked it"
    );

    let l = RwLock::new(()).unwrap();
    std::mem::forget(l.read());
    std::mem::forget(l.read());
    assert!(l.try_write().is_none());
    // SAFETY: this thread holds two read locks through forgotten guards.
    unsafe { l.force_unlock_read() };
    assert!(l.try_write().is_none(), "one reader left");
    // SAFETY: as above, the second one.
    unsafe { l.force_unlock_read() };
    std::mem::forget(l.try_write().expect("free"));
    assert!(l.try_read().is_none());
    // SAFETY: this thread holds the write lock through a forgotten guard.
    unsafe { l.force_unlock_write() };
    assert!(l.try_read().is_some());
}
