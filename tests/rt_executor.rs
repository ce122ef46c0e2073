//! The executor: block_on, spawn_local, JoinHandle (join, abort, drop cancels, detach),
//! panics, wake-ups from other threads, many tasks, nothing left after block_on, the futures
//! ecosystem on top.

mod support;

use futures::channel::{mpsc, oneshot};
use futures::{SinkExt, StreamExt};
use rsuv::rt::{JoinError, Runtime, block_on, sleep, spawn_local};
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

/// Counts drops, to see that cancelled and left-over tasks drop their futures.
struct DropCount(Rc<Cell<usize>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn block_on_returns_the_output_and_the_loop_closes_cleanly() {
    let rt = Runtime::new().unwrap();
    assert_eq!(rt.block_on(async { 1 + 1 }), 2);
    assert_eq!(
        rt.block_on(async {
            sleep(Duration::from_millis(1)).await;
            "again"
        }),
        "again"
    );
    support::finish(rt.into_loop());
}

#[test]
fn spawned_tasks_join_in_any_order() {
    let out = block_on(async {
        let slow = spawn_local(async {
            sleep(Duration::from_millis(20)).await;
            "slow"
        });
        let fast = spawn_local(async { "fast" });
        (fast.await.unwrap(), slow.await.unwrap())
    });
    assert_eq!(out, ("fast", "slow"));
}

#[test]
fn abort_and_dropping_the_handle_cancel() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    block_on(async move {
        let guard = DropCount(d.clone());
        let aborted = spawn_local(async move {
            let _g = guard;
            sleep(Duration::from_secs(60)).await;
        });
        let guard = DropCount(d.clone());
        let dropped = spawn_local(async move {
            let _g = guard;
            sleep(Duration::from_secs(60)).await;
        });
        sleep(Duration::from_millis(1)).await; // both are running
        aborted.abort();
        assert!(aborted.is_finished());
        assert!(matches!(aborted.await, Err(JoinError::Cancelled)));
        drop(dropped);
        assert_eq!(d.get(), 2, "both futures dropped at once");
    });
    assert_eq!(drops.get(), 2);
}

#[test]
fn a_detached_task_runs_on() {
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    block_on(async move {
        let (tx, rx) = oneshot::channel();
        spawn_local(async move {
            sleep(Duration::from_millis(5)).await;
            d.set(true);
            tx.send(()).unwrap();
        })
        .detach();
        rx.await.unwrap();
    });
    assert!(done.get());
}

#[test]
fn a_panicking_task_gives_a_join_error() {
    block_on(async {
        let t = spawn_local(async {
            sleep(Duration::from_millis(1)).await;
            panic!("task boom");
        });
        let err = t.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"task boom"));
        // The executor goes on.
        assert_eq!(spawn_local(async { 5 }).await.unwrap(), 5);
    });
}

#[test]
fn a_panic_in_the_main_future_comes_out_of_block_on() {
    let rt = Runtime::new().unwrap();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async {
            sleep(Duration::from_millis(1)).await;
            panic!("main boom");
        })
    }));
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"main boom"));
    // Usable afterwards, and closes cleanly.
    assert_eq!(rt.block_on(async { 3 }), 3);
    support::finish(rt.into_loop());
}

#[test]
fn wake_ups_from_other_threads() {
    let total = block_on(async {
        let (tx, mut rx) = mpsc::channel::<u32>(4);
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let mut tx = tx.clone();
                std::thread::spawn(move || {
                    futures::executor::block_on(async move {
                        for j in 0..100 {
                            tx.send(i * 100 + j).await.unwrap();
                        }
                    })
                })
            })
            .collect();
        drop(tx);
        let mut sum = 0u32;
        while let Some(v) = rx.next().await {
            sum += v;
        }
        threads.into_iter().for_each(|t| t.join().unwrap());
        sum
    });
    assert_eq!(
        total,
        (0..800).sum::<u32>(),
        "every value from 8 threads, none lost"
    );
}

#[test]
fn ten_thousand_tasks() {
    let sum = block_on(async {
        let handles: Vec<_> = (0..10_000u64)
            .map(|i| {
                spawn_local(async move {
                    if i % 3 == 0 {
                        sleep(Duration::from_millis(1)).await;
                    }
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..10_000).sum::<u64>());
}

#[test]
fn tasks_left_pending_are_dropped_when_block_on_returns() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let rt = Runtime::new().unwrap();
    rt.block_on(async move {
        for _ in 0..10 {
            let g = DropCount(d.clone());
            spawn_local(async move {
                let _g = g;
                sleep(Duration::from_secs(60)).await;
            })
            .detach();
        }
        sleep(Duration::from_millis(1)).await;
    });
    assert_eq!(drops.get(), 10, "no task outlives block_on");
    support::finish(rt.into_loop());
}

#[test]
fn select_and_stream_combinators_work_on_it() {
    block_on(async {
        let slow = sleep(Duration::from_secs(60));
        let fast = async { 7 };
        futures::pin_mut!(slow);
        let got = futures::select! {
            () = futures::FutureExt::fuse(slow) => 0,
            v = futures::FutureExt::fuse(fast) => v,
        };
        assert_eq!(got, 7);
        let doubled: Vec<u32> = futures::stream::iter(1..=4)
            .then(|x| async move {
                sleep(Duration::from_millis(1)).await;
                x * 2
            })
            .collect()
            .await;
        assert_eq!(doubled, [2, 4, 6, 8]);
    });
}

#[test]
#[should_panic(expected = "outside block_on")]
fn spawn_local_outside_block_on_panics() {
    drop(spawn_local(async {}));
}

#[test]
fn current_loop_reaches_the_uv_layer_from_async_code() {
    let fired = block_on(async {
        let (tx, rx) = oneshot::channel();
        let mut tx = Some(tx);
        let timer = rsuv::Timer::new(&rsuv::rt::current_loop()).unwrap();
        timer
            .start(Duration::from_millis(1), Duration::ZERO, move |_| {
                let _ = tx.take().unwrap().send(true);
            })
            .unwrap();
        rx.await.unwrap()
    });
    assert!(fired);
}
