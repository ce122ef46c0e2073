//! Unix signals as a stream: [`signal`] and [`Signals`], over a uv `Signal` handle.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::Stream;

use crate::uv::Signal;

use super::executor::current;

/// What the stream and its signal callback share.
#[derive(Default)]
struct Deliveries {
    /// A delivery not yet taken (several coalesce into one).
    arrived: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

/// Watches the Unix signal `signum` from now on: a stream that yields `signum` for each
/// delivery.
///
/// Deliveries coalesce, as Unix signals do: however many arrive between two polls, the stream
/// yields once. Several streams may watch one signal; each sees every delivery. While any
/// stream (or uv `Signal` handle) watches a signal, its default action is replaced (a watched
/// `SIGINT` no longer ends the process); it comes back when the last one is dropped. Signals
/// are process-wide: one that arrives while nothing watches it gets its usual disposition.
///
/// # Errors
///
/// `InvalidInput` (`EINVAL`) for an invalid signal number.
///
/// # Panics
///
/// Outside [`block_on`](super::block_on).
///
/// # Examples
///
/// ```
/// use rsuv::rt::{block_on, signal};
///
/// block_on(async {
///     let mut hup = signal(libc::SIGHUP)?;
///     rsuv::kill(std::process::id() as i32, libc::SIGHUP)?;
///     assert_eq!(hup.recv().await, Some(libc::SIGHUP));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "uv_signal_start")]
pub fn signal(signum: i32) -> io::Result<Signals> {
    let ex = current().expect("rsuv::rt::signal called outside block_on");
    let handle = Signal::new(&ex.lp)?;
    let pending = Rc::new(Deliveries::default());
    let p = pending.clone();
    handle.start(signum, move |_, _| {
        p.arrived.set(true);
        if let Some(w) = p.waker.take() {
            w.wake();
        }
    })?;
    Ok(Signals {
        handle,
        signum,
        pending,
    })
}

/// The deliveries of one signal, from [`signal`]: a `Stream` of the signal number that never
/// ends. Dropping it stops watching.
///
/// While it exists its handle keeps the loop alive (as a pending timer would).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use rsuv::rt::{block_on, signal};
///
/// block_on(async {
///     let mut usr2 = signal(libc::SIGUSR2)?;
///     rsuv::kill(std::process::id() as i32, libc::SIGUSR2)?;
///     assert_eq!(usr2.next().await, Some(libc::SIGUSR2));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Signals {
    handle: Signal,
    signum: i32,
    pending: Rc<Deliveries>,
}

impl Signals {
    /// Waits for the next delivery (or the next batch of coalesced ones): `Some(signum)`.
    /// `None` only if the handle was closed under it (its loop was torn down).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a delivery is taken only when `recv` returns it.
    pub async fn recv(&mut self) -> Option<i32> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for a delivery, as [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<i32>> {
        if self.pending.arrived.replace(false) {
            return Poll::Ready(Some(self.signum));
        }
        if self.handle.is_closing() {
            return Poll::Ready(None);
        }
        self.pending.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }

    /// The signal watched.
    pub fn signum(&self) -> i32 {
        self.signum
    }
}

impl Stream for Signals {
    type Item = i32;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<i32>> {
        self.get_mut().poll_recv(cx)
    }
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals")
            .field("signum", &self.signum)
            .finish()
    }
}
