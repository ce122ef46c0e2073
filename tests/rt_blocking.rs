//! spawn_blocking: results on the loop thread, many jobs, panics, cancellation of queued jobs.

mod support;

use rsuv::rt::{JoinError, spawn_blocking};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Serializes the tests that fill the process-wide threadpool (and those that need a thread).
static POOL: Mutex<()> = Mutex::new(());

/// The threadpool size, read from `UV_THREADPOOL_SIZE` as libuv does.
fn pool_size() -> usize {
    std::env::var("UV_THREADPOOL_SIZE")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(4, |n| n.clamp(1, 1024))
}

/// Runs `body` on a new runtime, bounded in time, then proves the loop closes cleanly.
fn run<F: Future<Output = ()>>(body: F) {
    let _pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    support::run_async(LIMIT, body);
}

#[test]
fn results_come_back_on_the_loop_thread() {
    run(async {
        let loop_thread = thread::current().id();
        let handle = spawn_blocking(move || {
            assert_ne!(thread::current().id(), loop_thread);
            (1..=100u64).sum::<u64>()
        });
        assert_eq!(handle.await.unwrap(), 5050);
        assert_eq!(thread::current().id(), loop_thread);
        let text = spawn_blocking(|| String::from("owned")).await.unwrap();
        assert_eq!(text, "owned");
    });
}

#[test]
fn a_hundred_jobs() {
    run(async {
        let handles: Vec<_> = (0..100u64).map(|i| spawn_blocking(move || i * i)).collect();
        let mut sum = 0;
        for (i, h) in handles.into_iter().enumerate() {
            let v = h.await.unwrap();
            assert_eq!(v, (i * i) as u64);
            sum += v;
        }
        assert_eq!(sum, (0..100u64).map(|i| i * i).sum::<u64>());
    });
}

#[test]
fn a_panic_surfaces_through_the_handle() {
    run(async {
        let err = spawn_blocking(|| -> u32 { panic!("boom in the pool") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        assert!(format!("{err:?}").contains("boom in the pool"));
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in the pool"));
        // The loop and the pool go on.
        assert_eq!(spawn_blocking(|| 1).await.unwrap(), 1);
    });
}

#[test]
fn queued_jobs_cancel_when_aborted_or_dropped() {
    run(async {
        // Fill the pool: one blocker per thread, each waiting on a std channel.
        let (started_tx, started) = mpsc::channel();
        let (release_tx, release) = mpsc::channel::<()>();
        let release = Arc::new(Mutex::new(release));
        let blockers: Vec<_> = (0..pool_size())
            .map(|i| {
                let (started_tx, release) = (started_tx.clone(), release.clone());
                spawn_blocking(move || {
                    started_tx.send(()).unwrap();
                    let r = release.lock().unwrap().recv_timeout(LIMIT);
                    r.map(|()| i)
                })
            })
            .collect();
        for _ in 0..pool_size() {
            started
                .recv_timeout(LIMIT)
                .expect("a blocker did not start");
        }
        // Every thread is busy: these stay queued.
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let aborted = spawn_blocking(move || r.store(true, Ordering::SeqCst));
        let r = ran.clone();
        let dropped = spawn_blocking(move || r.store(true, Ordering::SeqCst));
        assert!(!aborted.is_finished());
        assert!(aborted.abort(), "still queued");
        drop(dropped);
        assert!(matches!(aborted.await, Err(JoinError::Cancelled)));
        for _ in 0..pool_size() {
            release_tx.send(()).unwrap();
        }
        for (i, b) in blockers.into_iter().enumerate() {
            assert_eq!(b.await.unwrap(), Ok(i));
        }
        // A later job runs after the cancelled ones would have.
        assert_eq!(spawn_blocking(|| 2).await.unwrap(), 2);
        assert!(!ran.load(Ordering::SeqCst), "no cancelled job ran");
        assert_eq!(Arc::strong_count(&ran), 1, "both closures dropped");
    });
}

#[test]
fn a_running_job_cannot_be_aborted_and_its_result_is_dropped_with_the_handle() {
    run(async {
        let (started_tx, started) = mpsc::channel();
        let (go_tx, go) = mpsc::channel::<()>();
        let handle = spawn_blocking(move || {
            started_tx.send(()).unwrap();
            go.recv_timeout(LIMIT).unwrap();
            Arc::new(())
        });
        started.recv_timeout(LIMIT).unwrap();
        assert!(!handle.abort(), "running: not cancellable");
        go_tx.send(()).unwrap();
        let value = handle.await.unwrap();
        assert_eq!(Arc::strong_count(&value), 1);
        // Dropped while running: the job finishes and its result is dropped on the loop.
        let (started_tx, started) = mpsc::channel();
        let (go_tx, go) = mpsc::channel::<()>();
        let keep = Arc::new(());
        let k = keep.clone();
        let handle = spawn_blocking(move || {
            started_tx.send(()).unwrap();
            go.recv_timeout(LIMIT).unwrap();
            k
        });
        started.recv_timeout(LIMIT).unwrap();
        drop(handle);
        go_tx.send(()).unwrap();
        while Arc::strong_count(&keep) > 1 {
            rsuv::rt::sleep(Duration::from_millis(1)).await;
        }
    });
}
