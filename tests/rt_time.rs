//! Timers: sleep, sleep_until, timeout, interval.

use rsuv::rt::{Elapsed, block_on, interval, sleep, sleep_until, timeout};
use std::time::{Duration, Instant};

#[test]
fn sleep_waits_at_least_its_duration() {
    block_on(async {
        let t = Instant::now();
        sleep(Duration::from_millis(30)).await;
        assert!(t.elapsed() >= Duration::from_millis(30));
        let at = Instant::now() + Duration::from_millis(10);
        sleep_until(at).await;
        assert!(Instant::now() >= at);
        sleep(Duration::ZERO).await;
    });
}

#[test]
fn timeout_elapses_or_not() {
    block_on(async {
        let r = timeout(Duration::from_millis(10), sleep(Duration::from_secs(60))).await;
        assert_eq!(r, Err(Elapsed));
        let r = timeout(Duration::from_secs(60), async { 5 }).await;
        assert_eq!(r, Ok(5));
        let io: std::io::Error = Elapsed.into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn interval_ticks_on_schedule() {
    block_on(async {
        let start = Instant::now();
        let mut iv = interval(Duration::from_millis(10));
        let first = iv.tick().await;
        assert!(
            first.duration_since(start) < Duration::from_millis(5),
            "the first tick is at once"
        );
        let mut last = first;
        for _ in 0..5 {
            let at = iv.tick().await;
            assert_eq!(
                at - last,
                Duration::from_millis(10),
                "scheduled instants are exact"
            );
            assert!(Instant::now() >= at);
            last = at;
        }
        assert!(start.elapsed() >= Duration::from_millis(50));
    });
}

#[test]
#[should_panic(expected = "inside block_on")]
fn a_timer_outside_block_on_panics_clearly() {
    futures::executor::block_on(sleep(Duration::from_secs(60)));
}
