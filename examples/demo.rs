//! The rsuv demo: one loop, several handles, printing what happens.
//!
//! - a repeating timer ticks three times;
//! - on the first tick the process raises SIGUSR1 at itself and a signal handle catches it;
//! - a thread wakes the loop through an `Async` handle;
//! - another thread writes into a socketpair and a `Poll` handle reads it;
//! - idle/prepare/check handles count loop iterations;
//! - the loop runs until nothing is left, then closes cleanly.
//!
//! Run with `cargo run --example demo` (or `make demo`).

use rsuv::{Async, Check, Loop, Poll, PollEvents, RunMode, Signal, Timer};
use std::cell::Cell;
use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lp = Loop::new()?;
    let t0 = lp.now();
    let at = {
        let h = lp.handle();
        move || h.now() - t0
    };
    println!("rsuv demo on libuv {}", rsuv::version_string());

    let sig = Signal::new(&lp)?;
    let at_sig = at.clone();
    sig.start_oneshot(libc::SIGUSR1, move |s, signum| {
        println!(
            "[{:>4} ms] signal: caught signal {signum} (SIGUSR1)",
            at_sig()
        );
        s.close();
    })?;

    let timer = Timer::new(&lp)?;
    let (ticks, at_t) = (Rc::new(Cell::new(0)), at.clone());
    timer.start(
        Duration::from_millis(50),
        Duration::from_millis(50),
        move |t| {
            ticks.set(ticks.get() + 1);
            println!("[{:>4} ms] timer: tick {}", at_t(), ticks.get());
            if ticks.get() == 1 {
                // SAFETY: SIGUSR1 is watched by the signal handle above.
                unsafe { libc::raise(libc::SIGUSR1) };
            }
            if ticks.get() == 3 {
                t.close();
            }
        },
    )?;

    let at_a = at.clone();
    let wake = Async::new(&lp, move |a| {
        println!("[{:>4} ms] async: woken by another thread", at_a());
        a.close();
    })?;
    let sender = wake.sender();
    let waker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(80));
        sender.send().expect("send");
    });

    let (ours, mut theirs) = UnixStream::pair()?;
    let poll = Poll::new(&lp, ours.into())?;
    let at_p = at.clone();
    poll.start(PollEvents::READABLE, move |p, events| {
        // SAFETY: the handle owns the descriptor and keeps it open; ManuallyDrop leaves it so.
        let mut s = ManuallyDrop::new(unsafe { UnixStream::from_raw_fd(p.fd()) });
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        println!(
            "[{:>4} ms] poll: {events:?}, read {n} bytes: {text:?}",
            at_p()
        );
        p.close();
    })?;
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        theirs.write_all(b"hello from a socketpair").expect("write");
        theirs
    });

    let iterations = Rc::new(Cell::new(0u32));
    let check = Check::new(&lp)?;
    let it = iterations.clone();
    check.start(move |_| it.set(it.get() + 1))?;
    check.unref(); // counting iterations must not keep the loop alive

    lp.run(RunMode::Default)?;
    waker.join().expect("waker thread");
    drop(writer.join().expect("writer thread"));
    println!("loop ran {} iterations", iterations.get());
    drop((sig, timer, wake, poll, check));
    lp.close()?;
    println!("loop closed cleanly");
    Ok(())
}
