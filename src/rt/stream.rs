//! [`AsyncStream`]: `futures::io::{AsyncRead, AsyncWrite}` over a uv stream (TCP, Unix socket,
//! pipe), shared by `TcpStream` and `UnixStream`.
//!
//! Reads follow libuv's completion model: once a read is first polled, reading runs in the
//! background and each chunk is copied from the loop's read buffer into this stream's buffer,
//! then into the caller's buffer by `poll_read` (one copy more than a readiness model; reading
//! stops while the stream's buffer is above [`READ_HIGH`] and resumes below half of it). Writes
//! try the socket first (no copy, no request) and queue a copy of what it did not take;
//! `poll_write` waits while more than [`WRITE_HIGH`] bytes are queued.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::io::{AsyncRead, AsyncWrite};

use crate::uv::stream::{self as uvs, StreamHandle};
use crate::uv::{Error, WriteBuf};

/// Reading pauses while this many bytes wait to be read.
pub const READ_HIGH: usize = 256 * 1024;
/// Writes wait while this many bytes are queued.
pub const WRITE_HIGH: usize = 1024 * 1024;

/// What the stream and its libuv callbacks share.
#[derive(Default)]
struct Shared {
    buf: RefCell<VecDeque<u8>>,
    eof: Cell<bool>,
    read_error: Cell<Option<Error>>,
    write_error: Cell<Option<Error>>,
    paused: Cell<bool>,
    reader: Cell<Option<Waker>>,
    writer: Cell<Option<Waker>>,
    shutdown: Cell<Option<Result<(), Error>>>,
}

impl Shared {
    fn wake(slot: &Cell<Option<Waker>>) {
        if let Some(w) = slot.take() {
            w.wake();
        }
    }
}

/// An async byte stream over a uv stream handle `H`.
pub(crate) struct AsyncStream<H> {
    h: H,
    shared: Rc<Shared>,
    reading: Cell<bool>,
    shutdown_started: Cell<bool>,
}

fn io_err(e: Error) -> io::Error {
    e.into()
}

impl<H: StreamHandle> AsyncStream<H> {
    pub(crate) fn new(h: H) -> Self {
        AsyncStream {
            h,
            shared: Rc::default(),
            reading: Cell::new(false),
            shutdown_started: Cell::new(false),
        }
    }

    /// The uv handle.
    pub(crate) fn handle(&self) -> &H {
        &self.h
    }

    fn start_reading(&self) -> io::Result<()> {
        let shared = self.shared.clone();
        uvs::read_start(&self.h, move |h, data| {
            match data {
                Ok(bytes) => {
                    let mut buf = shared.buf.borrow_mut();
                    buf.extend(bytes);
                    if buf.len() > READ_HIGH && uvs::read_stop(h).is_ok() {
                        shared.paused.set(true);
                    }
                }
                Err(Error::EOF) => shared.eof.set(true),
                Err(e) => shared.read_error.set(Some(e)),
            }
            Shared::wake(&shared.reader);
        })
        .map_err(io_err)?;
        self.reading.set(true);
        Ok(())
    }

    /// `AsyncRead::poll_read`, on a shared reference (for the split halves).
    pub(crate) fn poll_read_ref(
        &self,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if !self.reading.get() {
            if let Err(e) = self.start_reading() {
                return Poll::Ready(Err(e));
            }
        }
        let sh = &self.shared;
        let n = {
            let mut buf = sh.buf.borrow_mut();
            let (a, b) = buf.as_slices();
            let from_a = out.len().min(a.len());
            out[..from_a].copy_from_slice(&a[..from_a]);
            let from_b = (out.len() - from_a).min(b.len());
            out[from_a..from_a + from_b].copy_from_slice(&b[..from_b]);
            buf.drain(..from_a + from_b);
            from_a + from_b
        };
        if n > 0 || out.is_empty() {
            if sh.paused.get()
                && sh.buf.borrow().len() < READ_HIGH / 2
                && uvs::read_resume(&self.h).is_ok()
            {
                sh.paused.set(false);
            }
            return Poll::Ready(Ok(n));
        }
        if let Some(e) = sh.read_error.take() {
            return Poll::Ready(Err(io_err(e)));
        }
        if sh.eof.get() {
            return Poll::Ready(Ok(0));
        }
        sh.reader.set(Some(cx.waker().clone()));
        Poll::Pending
    }

    /// `AsyncWrite::poll_write`, on a shared reference: what the socket takes now, plus up to
    /// the high-water mark queued (a copy); `Pending` while the queue is above it.
    pub(crate) fn poll_write_ref(
        &self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.shared.write_error.take() {
            return Poll::Ready(Err(io_err(e)));
        }
        let queued = uvs::write_queue_size(&self.h);
        if queued >= WRITE_HIGH {
            self.shared.writer.set(Some(cx.waker().clone()));
            return Poll::Pending;
        }
        let done = match uvs::try_write(&self.h, &[data]) {
            Ok(n) => n,
            Err(Error::EAGAIN) => 0,
            Err(e) => return Poll::Ready(Err(io_err(e))),
        };
        let take = (data.len() - done).min(WRITE_HIGH - queued);
        if take > 0 {
            let shared = self.shared.clone();
            let rest = WriteBuf::Vec(data[done..done + take].to_vec());
            let cb = Box::new(move |_: &H, r: crate::Result<()>| {
                if let Err(e) = r {
                    shared.write_error.set(Some(e));
                }
                Shared::wake(&shared.writer);
            });
            if let Err(e) = uvs::write_bufs(&self.h, [rest], Some(cb)) {
                return Poll::Ready(Err(io_err(e)));
            }
        }
        Poll::Ready(Ok(done + take))
    }

    /// `AsyncWrite::poll_flush`: waits until every queued byte is written.
    pub(crate) fn poll_flush_ref(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.shared.write_error.take() {
            return Poll::Ready(Err(io_err(e)));
        }
        if uvs::write_queue_size(&self.h) == 0 {
            return Poll::Ready(Ok(()));
        }
        self.shared.writer.set(Some(cx.waker().clone()));
        Poll::Pending
    }

    /// `AsyncWrite::poll_close`: flushes, then shuts the write side down (sending EOF; the
    /// read side stays open). The handle itself closes when the stream is dropped.
    pub(crate) fn poll_close_ref(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.shutdown_started.get() {
            if let Poll::Ready(Err(e)) = self.poll_flush_ref(cx) {
                return Poll::Ready(Err(e));
            }
            self.shutdown_started.set(true);
            let shared = self.shared.clone();
            let cb = Box::new(move |_: &H, r: crate::Result<()>| {
                shared.shutdown.set(Some(r));
                Shared::wake(&shared.writer);
            });
            match uvs::shutdown(&self.h, cb) {
                Ok(()) => {}
                Err(Error::ENOTCONN) => self.shared.shutdown.set(Some(Ok(()))), // already shut
                Err(e) => return Poll::Ready(Err(io_err(e))),
            }
        }
        match self.shared.shutdown.take() {
            Some(r) => {
                self.shared.shutdown.set(Some(Ok(())));
                Poll::Ready(r.map_err(io_err))
            }
            None => {
                self.shared.writer.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        }
    }
}

impl<H: StreamHandle> AsyncRead for AsyncStream<H> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_ref(cx, buf)
    }
}

impl<H: StreamHandle> AsyncWrite for AsyncStream<H> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_ref(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_ref(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_close_ref(cx)
    }
}

/// The read half of a split stream (see `into_split`): `AsyncRead`.
pub struct ReadHalf<H>(pub(crate) Rc<AsyncStream<H>>);

/// The write half of a split stream (see `into_split`): `AsyncWrite`. Closing it shuts the
/// write side down; the handle closes when both halves are dropped.
pub struct WriteHalf<H>(pub(crate) Rc<AsyncStream<H>>);

impl<H: StreamHandle> AsyncRead for ReadHalf<H> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_read_ref(cx, buf)
    }
}

impl<H: StreamHandle> AsyncWrite for WriteHalf<H> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write_ref(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_flush_ref(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_close_ref(cx)
    }
}
