//! Work: threadpool jobs, results on the loop thread, cancellation, panics, loop teardown.

#[path = "support/pool.rs"]
mod pool;
mod support;

use rsuv::{Error, Loop, RunMode, Work, WorkError};
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[test]
fn work_runs_on_the_pool_and_done_on_the_loop_thread() {
    let lp = Loop::new().unwrap();
    let loop_thread = thread::current().id();
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    let job = Work::queue(
        &lp,
        move || {
            assert_ne!(thread::current().id(), loop_thread);
            thread::current().id()
        },
        move |r| {
            assert_eq!(thread::current().id(), loop_thread);
            g.set(Some(r.unwrap()));
        },
    )
    .unwrap();
    assert!(
        job.is_pending() && lp.alive(),
        "a queued job keeps the loop alive"
    );
    lp.run(RunMode::Default).unwrap();
    assert!(
        got.get()
            .is_some_and(|pool_thread| pool_thread != loop_thread)
    );
    assert!(!job.is_pending());
    support::finish(lp);
}

#[test]
fn a_hundred_jobs_all_complete_with_their_results() {
    let lp = Loop::new().unwrap();
    let results = Rc::new(RefCell::new(Vec::new()));
    for i in 0..100u64 {
        let r = results.clone();
        // Dropping the Work value does not cancel the job.
        Work::queue(
            &lp,
            move || (i, format!("job {}", i * i)),
            move |res| r.borrow_mut().push(res.unwrap()),
        )
        .unwrap();
    }
    lp.run(RunMode::Default).unwrap();
    let mut results = results.take();
    results.sort();
    let expected: Vec<_> = (0..100u64).map(|i| (i, format!("job {}", i * i))).collect();
    assert_eq!(results, expected);
    support::finish(lp);
}

#[test]
fn done_may_queue_more_work() {
    let lp = Loop::new().unwrap();
    let last = Rc::new(Cell::new(0));
    fn step(lp: &rsuv::LoopHandle, n: u32, last: Rc<Cell<u32>>) {
        let h = lp.clone();
        Work::queue(
            lp,
            move || n + 1,
            move |r| {
                let n = r.unwrap();
                last.set(n);
                if n < 10 {
                    step(&h, n, last);
                }
            },
        )
        .unwrap();
    }
    step(&lp, 0, last.clone());
    lp.run(RunMode::Default).unwrap();
    assert_eq!(last.get(), 10);
    support::finish(lp);
}

#[test]
fn queued_jobs_cancel_and_running_ones_finish() {
    let lp = Loop::new().unwrap();
    let full = pool::fill(&lp);
    // Every pool thread is busy: these stay queued until cancelled.
    let captured = Arc::new(());
    let cancelled = Rc::new(Cell::new(0));
    let queued: Vec<Work> = (0..5)
        .map(|_| {
            let (held, c) = (captured.clone(), cancelled.clone());
            let done = move |r: Result<(), WorkError>| {
                assert_eq!(r, Err(WorkError::Uv(Error::ECANCELED)));
                c.set(c.get() + 1);
            };
            Work::queue(&lp, move || drop(held), done).unwrap()
        })
        .collect();
    for w in &queued {
        w.cancel().unwrap();
        assert_eq!(w.cancel(), Ok(()), "a second cancel changes nothing");
        assert!(w.is_pending(), "done runs on a later loop iteration");
    }
    assert_eq!(cancelled.get(), 0, "done never runs from inside cancel");
    for w in &full.jobs {
        assert_eq!(
            w.cancel(),
            Err(Error::EBUSY),
            "a running job cannot be cancelled"
        );
    }
    full.release();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(cancelled.get(), 5);
    assert_eq!(
        full.finished.get(),
        pool::size(),
        "the running jobs finished normally"
    );
    assert_eq!(
        Arc::strong_count(&captured),
        1,
        "cancelled jobs were dropped, not leaked"
    );
    for w in queued.iter().chain(&full.jobs) {
        assert_eq!(w.cancel(), Err(Error::CLOSED));
    }
    drop(full);
    support::finish(lp);
}

#[test]
fn cancel_after_completion_or_from_done_is_closed() {
    let lp = Loop::new().unwrap();
    let me: Rc<RefCell<Option<Work>>> = Rc::default();
    let m = me.clone();
    let job = Work::queue(
        &lp,
        || 7,
        move |r| {
            assert_eq!(r, Ok(7));
            let own = m.borrow();
            assert_eq!(own.as_ref().unwrap().cancel(), Err(Error::CLOSED));
        },
    )
    .unwrap();
    *me.borrow_mut() = Some(job);
    lp.run(RunMode::Default).unwrap();
    let job = me.take().unwrap();
    assert_eq!(job.cancel(), Err(Error::CLOSED));
    assert!(!job.is_pending());
    support::finish(lp);
}

#[test]
fn a_panic_in_work_reaches_done_and_the_loop_runs_on() {
    let lp = Loop::new().unwrap();
    let got: Rc<RefCell<Vec<Result<u8, WorkError>>>> = Rc::default();
    for i in 0..3u8 {
        let g = got.clone();
        let job = move || -> u8 {
            if i == 1 {
                panic!("boom on the pool");
            }
            i
        };
        Work::queue(&lp, job, move |r| g.borrow_mut().push(r)).unwrap();
    }
    lp.run(RunMode::Default)
        .expect("a job's panic does not come out of run");
    let mut got = got.take();
    assert_eq!(got.len(), 3, "every done ran");
    let i = got.iter().position(|r| r.is_err()).unwrap();
    let err = got.remove(i).unwrap_err();
    assert!(err.is_panic() && !err.is_cancelled());
    assert_eq!(err.to_string(), "the job panicked: boom on the pool");
    let payload = err.into_panic().unwrap();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom on the pool"));
    let mut ok: Vec<u8> = got.into_iter().map(Result::unwrap).collect();
    ok.sort();
    assert_eq!(ok, [0, 2]);
    support::finish(lp);
}

#[test]
fn a_string_panic_in_work_keeps_its_text() {
    let lp = Loop::new().unwrap();
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let job = || -> () { panic!("job {}", 7) };
    Work::queue(&lp, job, move |r| *g.borrow_mut() = Some(r)).unwrap();
    lp.run(RunMode::Default).unwrap();
    let err = got.take().unwrap().unwrap_err();
    assert_eq!(format!("{err:?}"), "Panicked(\"job 7\")");
    assert_ne!(
        err,
        WorkError::Uv(Error::ECANCELED),
        "a panic equals no libuv error"
    );
    support::finish(lp);
}

#[test]
fn a_panic_in_done_comes_out_of_run() {
    let lp = Loop::new().unwrap();
    Work::queue(&lp, || 1, |_| panic!("boom in done")).unwrap();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default)));
    let payload = caught.expect_err("done's panic comes out of run");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in done"));
    support::finish(lp);
}

#[test]
fn dropping_the_loop_with_work_queued_completes_it() {
    let lp = Loop::new().unwrap();
    let handle = lp.handle();
    let full = pool::fill(&lp);
    let done = Rc::new(Cell::new(0));
    let queued: Vec<Work> = (0..10)
        .map(|i| {
            let d = done.clone();
            Work::queue(
                &lp,
                move || i * 2,
                move |r| {
                    assert_eq!(r, Ok(i * 2));
                    d.set(d.get() + 1);
                },
            )
            .unwrap()
        })
        .collect();
    // Release the pool from another thread while the loop is being dropped.
    let gate = full.gate.clone();
    let opener = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        gate.open();
    });
    drop(lp);
    opener.join().unwrap();
    assert_eq!(done.get(), 10, "queued jobs ran and their done was called");
    assert_eq!(full.finished.get(), pool::size());
    assert!(
        queued
            .iter()
            .all(|w| !w.is_pending() && w.cancel() == Err(Error::CLOSED))
    );
    assert!(handle.is_closed());
}

#[test]
fn queue_on_a_closed_loop_is_closed() {
    let lp = Loop::new().unwrap();
    let handle = lp.handle();
    drop(lp);
    let dropped = Arc::new(());
    let d = dropped.clone();
    let r = Work::queue(&handle, move || drop(d), |_| panic!("never called"));
    assert_eq!(r.unwrap_err(), Error::CLOSED);
    assert_eq!(Arc::strong_count(&dropped), 1, "the closures were dropped");
}
