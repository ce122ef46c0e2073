//! Signal streams. Signals are process-wide, so this binary runs its cases one at a time from
//! a single test, raising SIGUSR1 and SIGUSR2 at itself.

mod support;

use futures::StreamExt;
use rsuv::rt::{signal, sleep, timeout};
use std::io;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn raise(sig: i32) {
    rsuv::kill(std::process::id() as i32, sig).unwrap();
}

/// Runs `body` on a new runtime, bounded in time, then proves the loop closes cleanly.
fn run<F: Future<Output = io::Result<()>>>(body: F) {
    support::run_async(LIMIT, body).unwrap();
}

#[test]
fn signals() {
    three_raises_are_seen_and_the_stream_keeps_working();
    two_streams_on_one_signal_both_see_it();
    a_dropped_recv_loses_no_delivery();
    bad_signal_numbers();
}

fn three_raises_are_seen_and_the_stream_keeps_working() {
    run(async {
        let mut usr1 = signal(libc::SIGUSR1)?;
        assert_eq!(usr1.signum(), libc::SIGUSR1);
        for _ in 0..3 {
            raise(libc::SIGUSR1);
        }
        assert_eq!(usr1.recv().await, Some(libc::SIGUSR1));
        // Deliveries may have coalesced: count what else comes within a moment.
        let mut seen = 1;
        while let Ok(Some(_)) = timeout(Duration::from_millis(50), usr1.recv()).await {
            seen += 1;
        }
        assert!((1..=3).contains(&seen), "{seen} deliveries");
        for _ in 0..2 {
            raise(libc::SIGUSR1);
            assert_eq!(usr1.next().await, Some(libc::SIGUSR1), "as a Stream too");
        }
        Ok(())
    });
}

fn two_streams_on_one_signal_both_see_it() {
    run(async {
        let mut a = signal(libc::SIGUSR2)?;
        let mut b = signal(libc::SIGUSR2)?;
        raise(libc::SIGUSR2);
        assert_eq!(a.recv().await, Some(libc::SIGUSR2));
        assert_eq!(b.recv().await, Some(libc::SIGUSR2));
        drop(a);
        raise(libc::SIGUSR2);
        assert_eq!(b.recv().await, Some(libc::SIGUSR2), "b watches on alone");
        Ok(())
    });
}

fn a_dropped_recv_loses_no_delivery() {
    run(async {
        let mut usr1 = signal(libc::SIGUSR1)?;
        let early = timeout(Duration::from_millis(10), usr1.recv()).await;
        assert!(early.is_err(), "nothing raised yet");
        raise(libc::SIGUSR1);
        sleep(Duration::from_millis(10)).await; // delivered while no recv waits
        assert_eq!(usr1.recv().await, Some(libc::SIGUSR1));
        Ok(())
    });
}

fn bad_signal_numbers() {
    run(async {
        let err = signal(0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(signal(10_000).is_err());
        Ok(())
    });
}
