//! [`AsyncStream`]: `futures::io::{AsyncRead, AsyncBufRead, AsyncWrite}` over a uv stream
//! (TCP, Unix socket, pipe), shared by `TcpStream`, `UnixStream` and the child process pipes.
//!
//! Reads follow libuv's completion model: once a read is first polled, reading runs in the
//! background, straight into the stream's own buffer (the kernel's copy; no copy in user space
//! on the way in). A read hands that buffer over whole (two buffers take turns, so no
//! allocation once warm) and copies from it into the caller's buffer: one copy in user space,
//! which `AsyncBufRead` (`fill_buf`/`consume`) avoids. Reading stops while more than
//! [`READ_HIGH`] bytes wait and resumes once they are taken. Writes try the socket first (no
//! copy, no request) and queue a copy of what it did not take; `poll_write` waits while more
//! than [`WRITE_HIGH`] bytes are queued. Dropping a stream with writes still queued lets them
//! finish, then shuts the write side down and closes the handle (as the kernel does for a
//! closed socket's send buffer): bytes a write accepted are never dropped.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::io::{AsyncBufRead, AsyncRead, AsyncWrite};

use crate::uv::stream::{self as uvs, StreamHandle};
use crate::uv::{Error, WriteBuf};

/// Reading pauses while this many bytes wait to be read.
pub const READ_HIGH: usize = 256 * 1024;
/// Writes wait while this many bytes are queued.
pub const WRITE_HIGH: usize = 1024 * 1024;

/// What the stream and its libuv callbacks share.
#[derive(Default)]
struct Shared {
    eof: Cell<bool>,
    read_error: Cell<Option<Error>>,
    write_error: Cell<Option<Error>>,
    paused: Cell<bool>,
    reader: Cell<Option<Waker>>,
    writer: Cell<Option<Waker>>,
    shutdown: Cell<Option<Result<(), Error>>>,
    /// The stream was dropped during its shutdown: the shutdown callback closes the handle.
    dropped: Cell<bool>,
}

fn wake(slot: &Cell<Option<Waker>>) {
    if let Some(w) = slot.take() {
        w.wake();
    }
}

fn io_err(e: Error) -> io::Error {
    e.into()
}

/// The bytes a reader took from the stream and has not consumed yet.
#[derive(Default)]
pub(crate) struct ReadFront {
    buf: Vec<u8>,
    pos: usize,
}

/// The stream's I/O state over the uv handle, shared by the split halves.
pub(crate) struct StreamIo<H> {
    /// `None` only while dropping.
    h: Option<H>,
    /// What dropping does ([`linger`], for this `H`): kept as a function so that the public
    /// types holding this one need no bound on the crate-private `StreamHandle`.
    on_drop: fn(&mut StreamIo<H>),
    shared: Rc<Shared>,
    reading: Cell<bool>,
    shutdown_started: Cell<bool>,
}

/// An async byte stream over a uv stream handle `H`.
pub(crate) struct AsyncStream<H> {
    pub(crate) io: StreamIo<H>,
    pub(crate) front: ReadFront,
}

impl<H: StreamHandle> AsyncStream<H> {
    pub(crate) fn new(h: H) -> Self {
        let io = StreamIo {
            h: Some(h),
            on_drop: linger::<H>,
            shared: Rc::default(),
            reading: Cell::new(false),
            shutdown_started: Cell::new(false),
        };
        AsyncStream {
            io,
            front: ReadFront::default(),
        }
    }

    /// The uv handle.
    pub(crate) fn handle(&self) -> &H {
        self.io.handle()
    }

    /// Splits into halves; bytes already taken from the stream go with the read half.
    pub(crate) fn split(self) -> (ReadHalf<H>, WriteHalf<H>) {
        let io = Rc::new(self.io);
        let read = ReadHalf {
            io: io.clone(),
            front: self.front,
        };
        (read, WriteHalf(io))
    }
}

impl<H: StreamHandle> StreamIo<H> {
    pub(crate) fn handle(&self) -> &H {
        self.h.as_ref().expect("taken only when dropped")
    }

    fn start_reading(&self) -> io::Result<()> {
        let shared = self.shared.clone();
        uvs::read_start_owned(self.handle(), move |h, r| {
            match r {
                Ok(_) => {
                    if uvs::read_buffer_len(h) > READ_HIGH && uvs::read_stop(h).is_ok() {
                        shared.paused.set(true);
                    }
                }
                Err(Error::EOF) => shared.eof.set(true),
                Err(e) => shared.read_error.set(Some(e)),
            }
            wake(&shared.reader);
        })
        .map_err(io_err)?;
        self.reading.set(true);
        Ok(())
    }

    /// `AsyncBufRead::poll_fill_buf`: the bytes in `front`, refilled from the stream (by
    /// swapping buffers) once it is empty. Empty at end of stream; an error is reported once,
    /// then the stream reads as ended.
    pub(crate) fn poll_fill_buf<'a>(
        &self,
        front: &'a mut ReadFront,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<&'a [u8]>> {
        if front.pos == front.buf.len() {
            let sh = &self.shared;
            if !self.reading.get() {
                self.start_reading()?;
            }
            front.pos = 0;
            uvs::swap_read_buffer(self.handle(), &mut front.buf);
            if front.buf.is_empty() {
                if let Some(e) = sh.read_error.take() {
                    sh.eof.set(true);
                    return Poll::Ready(Err(io_err(e)));
                }
                if !sh.eof.get() {
                    sh.reader.set(Some(cx.waker().clone()));
                    return Poll::Pending;
                }
            } else if sh.paused.get() && uvs::read_resume(self.handle()).is_ok() {
                sh.paused.set(false);
            }
        }
        Poll::Ready(Ok(&front.buf[front.pos..]))
    }

    /// `AsyncRead::poll_read`: copies from [`poll_fill_buf`](Self::poll_fill_buf).
    pub(crate) fn poll_read(
        &self,
        front: &mut ReadFront,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let data = std::task::ready!(self.poll_fill_buf(front, cx))?;
        let n = data.len().min(out.len());
        out[..n].copy_from_slice(&data[..n]);
        front.pos += n;
        Poll::Ready(Ok(n))
    }

    /// `AsyncWrite::poll_write`: what the socket takes now, plus up to the high-water mark
    /// queued (a copy); `Pending` while the queue is above it.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(e) = self.shared.write_error.take() {
            return Poll::Ready(Err(io_err(e)));
        }
        let h = self.handle();
        let queued = uvs::write_queue_size(h);
        if queued >= WRITE_HIGH {
            self.shared.writer.set(Some(cx.waker().clone()));
            return Poll::Pending;
        }
        let done = match uvs::try_write(h, &[data]) {
            Ok(n) => n,
            Err(Error::EAGAIN) => 0,
            Err(e) => return Poll::Ready(Err(io_err(e))),
        };
        let take = (data.len() - done).min(WRITE_HIGH - queued);
        if take > 0 {
            let shared = self.shared.clone();
            let rest = WriteBuf::Vec(data[done..done + take].to_vec());
            let cb = Box::new(move |_: &H, r: crate::Result<()>| {
                match r {
                    Ok(()) | Err(Error::ECANCELED) => {} // ECANCELED: closing anyway
                    Err(e) => shared.write_error.set(Some(e)),
                }
                wake(&shared.writer);
            });
            if let Err(e) = uvs::write_one(h, rest, Some(crate::uv::buf::WriteDone::Once(cb))) {
                return Poll::Ready(Err(io_err(e)));
            }
        }
        Poll::Ready(Ok(done + take))
    }

    /// `AsyncWrite::poll_flush`: waits until every queued byte is written.
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.shared.write_error.take() {
            return Poll::Ready(Err(io_err(e)));
        }
        if uvs::write_queue_size(self.handle()) == 0 {
            return Poll::Ready(Ok(()));
        }
        self.shared.writer.set(Some(cx.waker().clone()));
        Poll::Pending
    }

    /// `AsyncWrite::poll_close`: flushes, then shuts the write side down (sending EOF; the
    /// read side stays open). The handle itself closes when the stream is dropped.
    pub(crate) fn poll_close(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.shutdown_started.get() {
            if let Poll::Ready(Err(e)) = self.poll_flush(cx) {
                return Poll::Ready(Err(e));
            }
            self.shutdown_started.set(true);
            let shared = self.shared.clone();
            let cb = Box::new(move |h: &H, r: crate::Result<()>| {
                if shared.dropped.get() {
                    h.owned().core().close(None).ok();
                }
                shared.shutdown.set(Some(r));
                wake(&shared.writer);
            });
            match uvs::shutdown(self.handle(), cb) {
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

impl<H> Drop for StreamIo<H> {
    fn drop(&mut self) {
        (self.on_drop)(self);
    }
}

/// Drops the handle: with writes still queued or a shutdown under way, it lives on (detached)
/// until they are done, then the shutdown callback closes it; otherwise it closes now.
fn linger<H: StreamHandle>(io: &mut StreamIo<H>) {
    let Some(h) = io.h.take() else { return };
    let sh = &io.shared;
    let linger = if io.shutdown_started.get() {
        sh.dropped.set(true);
        sh.shutdown.take().is_none() // still in flight: its callback closes the handle
    } else {
        let close = |h: &H, _| {
            let _ = h.owned().core().close(None);
        };
        uvs::write_queue_size(&h) > 0 && uvs::shutdown(&h, Box::new(close)).is_ok()
    };
    if linger {
        uvs::detach(h);
    }
}

/// Implements the `futures::io` traits for a type with `io()` and `front()` accessors.
macro_rules! stream_io_traits {
    ($ty:ty, read) => {
        impl<H: StreamHandle> AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let me = self.get_mut();
                me.io.poll_read(&mut me.front, cx, buf)
            }
        }

        impl<H: StreamHandle> AsyncBufRead for $ty {
            fn poll_fill_buf(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<&[u8]>> {
                let me = self.get_mut();
                me.io.poll_fill_buf(&mut me.front, cx)
            }

            fn consume(self: Pin<&mut Self>, amt: usize) {
                let front = &mut self.get_mut().front;
                front.pos = (front.pos + amt).min(front.buf.len());
            }
        }
    };
    ($ty:ty, write) => {
        impl<H: StreamHandle> AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.io.poll_write(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.io.poll_flush(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.io.poll_close(cx)
            }
        }
    };
}

stream_io_traits!(AsyncStream<H>, read);
stream_io_traits!(AsyncStream<H>, write);
stream_io_traits!(ReadHalf<H>, read);

/// The read half of a split stream (see `into_split`): `AsyncRead + AsyncBufRead`.
pub struct ReadHalf<H> {
    io: Rc<StreamIo<H>>,
    front: ReadFront,
}

/// The write half of a split stream (see `into_split`): `AsyncWrite`. Closing it shuts the
/// write side down; the handle closes when both halves are dropped.
pub struct WriteHalf<H>(Rc<StreamIo<H>>);

impl<H: StreamHandle> AsyncWrite for WriteHalf<H> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_close(cx)
    }
}
