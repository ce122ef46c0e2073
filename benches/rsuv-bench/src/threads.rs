//! Across threads: benchmark-million-async.c, benchmark-async.c, benchmark-queue-work.c.

use std::cell::{Cell, OnceCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rsuv::{Async, AsyncSender, Error, Loop, LoopHandle, RunMode, Timer, Work};

use crate::{add, fmt, get};

thread_local! {
    static ASYNC_EVENTS: Cell<u64> = const { Cell::new(0) };
    static EVENTS: Cell<u64> = const { Cell::new(0) };
    static DONE: Cell<bool> = const { Cell::new(false) };
}

// ---- million_async (benchmark-million-async.c) ----

const NUM_HANDLES: usize = 1024 * 1024;
static SENDER_DONE: AtomicBool = AtomicBool::new(false);
/// `handle->data = handle` in C: which handles saw at least one event.
static SEEN: [AtomicBool; NUM_HANDLES] = [const { AtomicBool::new(false) }; NUM_HANDLES];

/// 1,048,576 async handles; another thread wakes random ones as fast as it can for 5 s;
/// the number of callbacks the loop ran.
pub fn million_async() {
    let lp = Loop::new().unwrap();
    let created = Instant::now();
    let timeout = 5000;
    let mut handles = Vec::with_capacity(NUM_HANDLES);
    let mut senders: Vec<AsyncSender> = Vec::with_capacity(NUM_HANDLES);
    for seen in &SEEN {
        let handle = Async::new(&lp, move |_| {
            add(&ASYNC_EVENTS, 1);
            seen.store(true, Relaxed);
        })
        .unwrap();
        senders.push(handle.sender());
        handles.push(handle);
    }

    // Not in C's output: as in C, the timer counts from the loop's clock at `Loop::new`, so
    // the time spent here (and C's own, shorter, set-up) comes off the 5 s of sending.
    eprintln!(
        "# set-up before the timer starts: {:.2} s",
        created.elapsed().as_secs_f64()
    );

    let thread_id: Rc<Cell<Option<JoinHandle<()>>>> = Rc::new(Cell::new(None));
    let handles_seen = Rc::new(Cell::new(0u64));
    let timer_handle = Timer::new(&lp).unwrap();
    let (thread, seen) = (thread_id.clone(), handles_seen.clone());
    timer_handle
        .start(
            Duration::from_millis(timeout),
            Duration::ZERO,
            move |timer| {
                SENDER_DONE.store(true, Relaxed);
                thread.take().unwrap().join().unwrap();
                for (handle, was_seen) in handles.iter().zip(&SEEN) {
                    if was_seen.load(Relaxed) {
                        seen.set(seen.get() + 1);
                    }
                    handle.close();
                }
                timer.close();
            },
        )
        .unwrap();
    thread_id.set(Some(thread::spawn(move || {
        let mut g: u32 = 0; // fastrand()
        while !SENDER_DONE.load(Relaxed) {
            g = g.wrapping_mul(214013).wrapping_add(2531011);
            let i = g as usize % NUM_HANDLES;
            senders[i].send().unwrap();
        }
    })));

    lp.run(RunMode::Default).unwrap();
    let events = get(&ASYNC_EVENTS) as f64;
    println!(
        "{} async events in {:.1} seconds ({}/s, {} unique handles seen)",
        fmt(events),
        timeout as f64 / 1000.,
        fmt(events / (timeout as f64 / 1000.)),
        fmt(handles_seen.get() as f64)
    );
    drop(timer_handle);
    lp.close().unwrap();
}

// ---- async1, async2 (benchmark-async.c) ----

const NUM_PINGS: u32 = 1000 * 1000;

/// What the main thread keeps of one worker: its counters and the way to wake it.
struct Ctx {
    worker_async: OnceCell<AsyncSender>,
    main_sent: Cell<u32>,
    main_seen: Cell<u32>,
}

/// `nthreads` workers, each with its own loop; main and worker wake each other in turn with
/// async handles, a million times each way.
pub fn test_async(nthreads: usize) {
    let lp = Loop::new().unwrap();
    let mut threads = Vec::with_capacity(nthreads);
    let mut ctxs = Vec::with_capacity(nthreads);
    let mut mains = Vec::with_capacity(nthreads);
    for _ in 0..nthreads {
        let ctx = Rc::new(Ctx {
            worker_async: OnceCell::new(),
            main_sent: Cell::new(0),
            main_seen: Cell::new(0),
        });
        let c = ctx.clone();
        let main_async = Async::new(&lp, move |handle| {
            c.worker_async.get().unwrap().send().unwrap();
            c.main_sent.set(c.main_sent.get() + 1);
            c.main_seen.set(c.main_seen.get() + 1);
            if c.main_sent.get() >= NUM_PINGS {
                handle.close();
            }
        })
        .unwrap();
        let main_sender = main_async.sender();
        let (tx, rx) = mpsc::channel();
        threads.push(thread::spawn(move || worker(main_sender, tx)));
        ctx.worker_async.set(rx.recv().unwrap()).unwrap();
        ctxs.push(ctx);
        mains.push(main_async);
    }

    let time = Instant::now();
    lp.run(RunMode::Default).unwrap();
    let worker_counts: Vec<(u32, u32)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let secs = time.elapsed().as_secs_f64();

    for (ctx, (worker_sent, worker_seen)) in ctxs.iter().zip(worker_counts) {
        assert_eq!(worker_sent, NUM_PINGS);
        assert_eq!(worker_seen, NUM_PINGS);
        assert_eq!(ctx.main_sent.get(), NUM_PINGS);
        assert_eq!(ctx.main_seen.get(), NUM_PINGS);
    }
    println!(
        "async{}: {:.2} sec ({}/sec)",
        nthreads,
        secs,
        fmt(NUM_PINGS as f64 / secs)
    );
    drop(mains);
    lp.close().unwrap();
}

/// The worker thread: its own loop and async handle; wakes the main loop once, then answers
/// every wake-up with one. Returns `(worker_sent, worker_seen)`.
fn worker(main_async: AsyncSender, tx: mpsc::Sender<AsyncSender>) -> (u32, u32) {
    let lp = Loop::new().unwrap();
    let counts = Rc::new(Cell::new((0u32, 0u32)));
    let c = counts.clone();
    let main = main_async.clone();
    let worker_async = Async::new(&lp, move |handle| {
        // The last one may find the main handle closed already (C sends to it anyway).
        match main.send() {
            Ok(()) | Err(Error::CLOSED) => {}
            Err(e) => panic!("uv_async_send: {e}"),
        }
        let (sent, seen) = c.get();
        c.set((sent + 1, seen + 1));
        if sent + 1 >= NUM_PINGS {
            handle.close();
        }
    })
    .unwrap();
    tx.send(worker_async.sender()).unwrap();
    main_async.send().unwrap();
    lp.run(RunMode::Default).unwrap();
    drop(worker_async);
    lp.close().unwrap();
    counts.get()
}

// ---- queue_work (benchmark-queue-work.c) ----

static FASTRAND: AtomicU32 = AtomicU32::new(0);

fn fastrand() -> u32 {
    // One job runs at a time, so a plain load and store, like C's `static unsigned g`.
    let g = FASTRAND
        .load(Relaxed)
        .wrapping_mul(214013)
        .wrapping_add(2531011);
    FASTRAND.store(g, Relaxed);
    g
}

/// One job on the threadpool at a time, queued again from its completion, for 5 s.
pub fn queue_work() {
    let lp = Loop::new().unwrap();
    let timeout = 5000;
    let timer_handle = Timer::new(&lp).unwrap();
    timer_handle
        .start(Duration::from_millis(timeout), Duration::ZERO, |_| {
            DONE.with(|d| d.set(true))
        })
        .unwrap();
    queue(&lp);
    lp.run(RunMode::Default).unwrap();
    let events = get(&EVENTS) as f64;
    println!(
        "{} async jobs in {:.1} seconds ({}/s)",
        fmt(events),
        timeout as f64 / 1000.,
        fmt(events / (timeout as f64 / 1000.))
    );
    drop(timer_handle);
    lp.close().unwrap();
}

fn queue(lp: &LoopHandle) {
    let again = lp.clone();
    Work::queue(lp, fastrand, move |result| {
        result.unwrap();
        add(&EVENTS, 1);
        if !DONE.with(Cell::get) {
            queue(&again);
        }
    })
    .unwrap();
}
