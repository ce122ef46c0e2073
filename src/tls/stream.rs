//! [`TlsStream`]: a [`TlsSession`] composed with a uv [`Tcp`] handle, shaped like the TCP
//! handle: callbacks for the handshake, reads and writes; `shutdown` sends `close_notify`.
//!
//! Ciphertext read from the socket is lent by the loop's read buffer and fed to the session
//! (OpenSSL reads it in place through rsuv's BIO); what the session outputs is written to the socket
//! as an owned buffer. Plaintext reaches the read callback as a slice of the stream's delivery
//! buffer. No user callback runs while the session is borrowed, so callbacks may call any
//! method of the stream.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::Duration;

use super::{Event, HandshakeInfo, TlsContext, TlsError, TlsSession};
use crate::uv::{BufHome, Error, LoopHandle, Tcp, Timer, WriteBuf};

/// How long a handshake may take by default.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the peer has by default to answer our `close_notify` before the connection is
/// closed anyway.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// What a [`TlsStream`]'s read callback gets.
#[non_exhaustive]
#[derive(Debug)]
pub enum TlsRead<'a> {
    /// Decrypted bytes.
    Data(&'a [u8]),
    /// The peer sent `close_notify`: no more data (a clean end).
    Eof,
    /// The read side failed: [`TlsError::Truncated`] (the connection ended without
    /// `close_notify`, after every byte that did arrive), a TLS error, a transport error
    /// ([`TlsError::Io`]), a [`TlsError::Timeout`]. No read callback follows.
    Error(TlsError),
}

type ReadCb = dyn FnMut(&TlsStream, TlsRead<'_>);
type DoneCb = Box<dyn FnOnce(&TlsStream, Result<(), TlsError>)>;
type WrittenCb = Rc<dyn Fn(&Tcp, crate::Result<()>)>;

/// How the read side ended, kept until a read callback can hear it.
enum End {
    Eof,
    Error(TlsError),
}

struct Inner {
    tcp: Tcp,
    timer: Timer,
    session: RefCell<TlsSession>,
    read_cb: RefCell<Option<Box<ReadCb>>>,
    reading: Cell<bool>,
    /// The read side ended; `Some` until reported.
    end: RefCell<Option<End>>,
    ended: Cell<bool>,
    handshake_cb: Cell<Option<DoneCb>>,
    handshake_done: Cell<bool>,
    /// `shutdown`'s callback, until the socket's write side is shut down.
    shutdown_cb: Cell<Option<DoneCb>>,
    /// Write callbacks whose bytes are still in the session (before the handshake completes).
    waiting_writes: RefCell<VecDeque<DoneCb>>,
    /// Write callbacks whose bytes are in socket writes, oldest first.
    sent_cbs: RefCell<VecDeque<DoneCb>>,
    /// How many of `sent_cbs` each socket write in flight completes, oldest first (libuv
    /// completes a stream's writes in order).
    batches: RefCell<VecDeque<usize>>,
    /// The completion callback of every socket write (shared: no allocation per write).
    written: WrittenCb,
    /// The transport is connected and reading (a client waits for its connect).
    started: Cell<bool>,
    /// The socket reached EOF or failed: no more reads.
    transport_done: Cell<bool>,
    shutdown_timeout: Cell<Duration>,
    /// The plaintext lent to the read callback.
    deliver: RefCell<Vec<u8>>,
    /// Set by `detach`: the stream owns itself until closed.
    keep: RefCell<Option<TlsStream>>,
    closed: Cell<bool>,
}

/// A TLS connection over a uv [`Tcp`] handle: the application reads and writes plaintext,
/// OpenSSL runs over rsuv's own BIO in a [`TlsSession`], the ciphertext travels over the socket.
///
/// Dropping the last `TlsStream` value closes the connection (without `close_notify`; call
/// [`shutdown`](Self::shutdown) first for a clean end), unless it was
/// [`detach`](Self::detach)ed. Cloning gives another reference to the same connection.
///
/// # Examples
///
/// ```no_run
/// use rsuv::Loop;
/// use rsuv::tls::{TlsContext, TlsRead, TlsStream};
///
/// let lp = Loop::new()?;
/// let ctx = TlsContext::client().build()?;
/// let addr = "93.184.215.14:443".parse().unwrap();
/// let stream = TlsStream::connect(&lp.handle(), addr, &ctx, "example.com", |s, r| {
///     r.expect("handshake");
///     s.write(b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n", |_, _| {}).unwrap();
///     s.read_start(|s, r| match r {
///         TlsRead::Data(d) => print!("{}", String::from_utf8_lossy(d)),
///         _ => s.close(),
///     });
/// })?;
/// lp.run(rsuv::RunMode::Default)?;
/// # drop(stream);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TlsStream(Rc<Inner>);

fn io(e: Error) -> TlsError {
    TlsError::Io(e.into())
}

impl TlsStream {
    /// Wraps a connected `tcp` in a client session for `server_name` (a DNS name, checked
    /// against the certificate and sent as SNI, or an IP address); the handshake starts at
    /// once and `on_handshake` runs when it completes or fails.
    ///
    /// # Errors
    ///
    /// [`TlsError::Config`] for a server context or an invalid name; [`TlsError::Io`] if the
    /// socket cannot be read.
    pub fn client(
        tcp: Tcp,
        ctx: &TlsContext,
        server_name: &str,
        on_handshake: impl FnOnce(&TlsStream, Result<(), TlsError>) + 'static,
    ) -> Result<TlsStream, TlsError> {
        let s = TlsStream::new(tcp, TlsSession::client(ctx, server_name)?, on_handshake)?;
        s.start()?;
        Ok(s)
    }

    /// Wraps an accepted `tcp` in a server session; `on_handshake` runs when the handshake
    /// completes or fails.
    ///
    /// # Errors
    ///
    /// [`TlsError::Config`] for a client context; [`TlsError::Io`] if the socket cannot be
    /// read.
    pub fn server(
        tcp: Tcp,
        ctx: &TlsContext,
        on_handshake: impl FnOnce(&TlsStream, Result<(), TlsError>) + 'static,
    ) -> Result<TlsStream, TlsError> {
        let s = TlsStream::new(tcp, TlsSession::server(ctx)?, on_handshake)?;
        s.start()?;
        Ok(s)
    }

    /// Accepts a connection from a listening `listener` (in its connection callback) and
    /// wraps it as a server.
    ///
    /// # Errors
    ///
    /// As for [`Tcp::accept`] and [`server`](Self::server).
    pub fn accept(
        listener: &Tcp,
        ctx: &TlsContext,
        on_handshake: impl FnOnce(&TlsStream, Result<(), TlsError>) + 'static,
    ) -> Result<TlsStream, TlsError> {
        TlsStream::server(listener.accept().map_err(io)?, ctx, on_handshake)
    }

    /// Connects to `addr`, then runs the client handshake for `server_name`; `on_handshake`
    /// runs when it completes, or when the connection or the handshake fails.
    ///
    /// # Errors
    ///
    /// Immediate failures; later ones go to `on_handshake`.
    pub fn connect(
        lp: &LoopHandle,
        addr: SocketAddr,
        ctx: &TlsContext,
        server_name: &str,
        on_handshake: impl FnOnce(&TlsStream, Result<(), TlsError>) + 'static,
    ) -> Result<TlsStream, TlsError> {
        let tcp = Tcp::new(lp).map_err(io)?;
        let s = TlsStream::new(tcp, TlsSession::client(ctx, server_name)?, on_handshake)?;
        let weak = Rc::downgrade(&s.0);
        s.0.tcp
            .connect(addr, move |_, r| {
                let Some(s) = upgrade(&weak) else { return };
                if s.0.closed.get() {
                    return; // failed (a timeout) or closed while connecting
                }
                match r.map_err(io).and_then(|()| s.start()) {
                    Ok(()) => s.pump(),
                    Err(e) => s.fail(e),
                }
            })
            .map_err(io)?;
        Ok(s)
    }

    fn new(
        tcp: Tcp,
        session: TlsSession,
        on_handshake: impl FnOnce(&TlsStream, Result<(), TlsError>) + 'static,
    ) -> Result<TlsStream, TlsError> {
        let timer = Timer::new(&tcp.loop_handle()).map_err(io)?;
        let s = TlsStream(Rc::new_cyclic(|weak: &Weak<Inner>| Inner {
            tcp,
            timer,
            session: RefCell::new(session),
            read_cb: RefCell::new(None),
            reading: Cell::new(false),
            end: RefCell::new(None),
            ended: Cell::new(false),
            handshake_cb: Cell::new(Some(Box::new(on_handshake))),
            handshake_done: Cell::new(false),
            shutdown_cb: Cell::new(None),
            waiting_writes: RefCell::new(VecDeque::new()),
            sent_cbs: RefCell::new(VecDeque::new()),
            batches: RefCell::new(VecDeque::new()),
            written: written_cb(weak.clone()),
            started: Cell::new(false),
            transport_done: Cell::new(false),
            shutdown_timeout: Cell::new(SHUTDOWN_TIMEOUT),
            deliver: RefCell::new(Vec::new()),
            keep: RefCell::new(None),
            closed: Cell::new(false),
        }));
        s.set_timeout(HANDSHAKE_TIMEOUT)?;
        Ok(s)
    }

    /// Starts reading the socket and sends what the session has (a ClientHello).
    fn start(&self) -> Result<(), TlsError> {
        let weak = Rc::downgrade(&self.0);
        self.0
            .tcp
            .read_start(move |_, data| {
                if let Some(s) = upgrade(&weak) {
                    s.on_transport(data);
                }
            })
            .map_err(io)?;
        self.0.started.set(true);
        self.flush();
        Ok(())
    }

    /// Arms the timer: when it fires, the stream fails with [`TlsError::Timeout`] and closes.
    fn set_timeout(&self, after: Duration) -> Result<(), TlsError> {
        let weak = Rc::downgrade(&self.0);
        let cb = move |_: &Timer| {
            if let Some(s) = upgrade(&weak) {
                s.fail(TlsError::Timeout);
            }
        };
        self.0.timer.start(after, Duration::ZERO, cb).map_err(io)
    }

    /// Changes the handshake timeout (default [`HANDSHAKE_TIMEOUT`]), counted from now; no
    /// effect once the handshake is done.
    ///
    /// # Errors
    ///
    /// [`TlsError::Io`] if the stream is closed.
    pub fn set_handshake_timeout(&self, after: Duration) -> Result<(), TlsError> {
        if self.0.handshake_done.get() {
            return Ok(());
        }
        self.set_timeout(after)
    }

    /// Changes how long [`shutdown`](Self::shutdown) waits for the peer's `close_notify`
    /// (or end of stream) before closing the connection (default [`SHUTDOWN_TIMEOUT`]).
    pub fn set_shutdown_timeout(&self, after: Duration) {
        self.0.shutdown_timeout.set(after);
    }

    fn on_transport(&self, data: crate::Result<&[u8]>) {
        let fed = match data {
            Ok(bytes) => self.0.session.borrow_mut().feed(bytes).map(drop),
            Err(Error::EOF) => {
                self.0.transport_done.set(true);
                self.0.session.borrow_mut().feed_eof();
                Ok(())
            }
            Err(e) => {
                self.0.transport_done.set(true);
                Err(io(e))
            }
        };
        self.pump();
        if let Err(e @ TlsError::Io(_)) = fed {
            self.fail(e); // TLS errors came out of `pump` as events
        }
    }

    /// Sends the session's output, handles its events, delivers plaintext, and applies read
    /// backpressure to the socket.
    fn pump(&self) {
        loop {
            self.flush();
            let event = self.0.session.borrow_mut().next_event();
            match event {
                None => break,
                Some(Event::HandshakeDone) => self.on_handshake_done(),
                Some(Event::Data) => self.deliver(),
                Some(Event::PeerClosed) => self.end_read(End::Eof),
                Some(Event::Truncated) => self.end_read(End::Error(TlsError::Truncated)),
                Some(Event::Error(e)) => self.fail(e),
            }
            if self.0.closed.get() {
                return;
            }
        }
        self.backpressure();
    }

    fn on_handshake_done(&self) {
        self.0.handshake_done.set(true);
        let _ = self.0.timer.stop();
        self.flush(); // queued plaintext went out with the handshake's end
        self.shutdown_transport();
        if let Some(cb) = self.0.handshake_cb.take() {
            cb(self, Ok(()));
        }
    }

    /// Writes the session's pending ciphertext to the socket. Write callbacks whose bytes are
    /// all in it run when that socket write completes.
    fn flush(&self) {
        if !self.0.started.get() || self.0.closed.get() {
            return;
        }
        let (out, all_in) = {
            let mut session = self.0.session.borrow_mut();
            // Write callbacks ride with the socket write that carries the last of their bytes.
            let all_in =
                session.info().is_some() && session.write_buffered() == session.output().len();
            if !session.has_output() {
                drop(session);
                if all_in {
                    self.run_write_cbs(true); // nothing left to send (empty writes)
                }
                return;
            }
            (session.take_output(), all_in)
        };
        let n = if all_in {
            let mut waiting = self.0.waiting_writes.borrow_mut();
            let n = waiting.len();
            self.0.sent_cbs.borrow_mut().extend(waiting.drain(..));
            n
        } else {
            0
        };
        self.0.batches.borrow_mut().push_back(n);
        let home = Rc::downgrade(&self.0) as Weak<dyn BufHome>;
        if let Err(e) = self
            .0
            .tcp
            .write_shared(WriteBuf::recycled(out, home), &self.0.written)
        {
            // Refused at once: its callback will not run, so answer its batch here.
            self.0.batches.borrow_mut().pop_back();
            let at = self.0.sent_cbs.borrow().len() - n;
            let cbs: Vec<DoneCb> = self.0.sent_cbs.borrow_mut().drain(at..).collect();
            for cb in cbs {
                cb(self, Err(io(e)));
            }
            self.fail(io(e));
        }
    }

    /// A socket write completed: runs the write callbacks it carried the last bytes of.
    fn written(&self, r: crate::Result<()>) {
        let n = self.0.batches.borrow_mut().pop_front().unwrap_or(0);
        for _ in 0..n {
            let cb = self.0.sent_cbs.borrow_mut().pop_front();
            if let Some(cb) = cb {
                cb(self, r.map_err(io));
            }
        }
        if let Err(e) = r {
            if e != Error::ECANCELED {
                self.fail(io(e));
            }
        }
    }

    /// Runs (and forgets) the callbacks of writes not yet attached to a socket write.
    /// `ok`: their bytes are out; otherwise they fail with [`TlsError::Closed`].
    fn run_write_cbs(&self, ok: bool) {
        // Only those waiting now (a callback may write again); popped one by one, so the
        // queue keeps its capacity.
        let n = self.0.waiting_writes.borrow().len();
        for _ in 0..n {
            let cb = self.0.waiting_writes.borrow_mut().pop_front();
            if let Some(cb) = cb {
                cb(self, if ok { Ok(()) } else { Err(TlsError::Closed) });
            }
        }
    }

    /// Hands decrypted plaintext to the read callback while reading: the session's buffer is
    /// swapped out whole (no copy) and lent to the callback.
    fn deliver(&self) {
        while self.0.reading.get() && !self.0.closed.get() {
            let buf = {
                let mut session = self.0.session.borrow_mut();
                if session.plaintext().is_empty() {
                    break;
                }
                let spare = std::mem::take(&mut *self.0.deliver.borrow_mut());
                session.take_plaintext(spare)
            };
            self.call_read(TlsRead::Data(&buf));
            *self.0.deliver.borrow_mut() = buf;
        }
    }

    fn call_read(&self, r: TlsRead<'_>) {
        let cb = self.0.read_cb.borrow_mut().take();
        if let Some(mut cb) = cb {
            cb(self, r);
            let mut slot = self.0.read_cb.borrow_mut();
            if slot.is_none() && !self.0.closed.get() {
                *slot = Some(cb);
            }
        }
    }

    /// The read side ended: reported after the plaintext before it, once a reader listens.
    fn end_read(&self, end: End) {
        if self.0.ended.get() {
            return;
        }
        self.0.ended.set(true);
        if self.0.handshake_done.get() {
            let _ = self.0.timer.stop(); // a shutdown timeout, if any, is answered
        }
        *self.0.end.borrow_mut() = Some(end);
        self.deliver();
        self.report_end();
    }

    fn report_end(&self) {
        if !self.0.reading.get() || !self.0.session.borrow().plaintext().is_empty() {
            return;
        }
        let end = self.0.end.borrow_mut().take();
        match end {
            Some(End::Eof) => self.call_read(TlsRead::Eof),
            Some(End::Error(e)) => self.call_read(TlsRead::Error(e)),
            None => {}
        }
    }

    /// A fatal error: reported to the handshake callback or the reader, then the alert (if
    /// any) is sent and the connection closed.
    fn fail(&self, e: TlsError) {
        if self.0.closed.get() {
            return;
        }
        let _ = self.0.timer.stop();
        self.run_write_cbs(false);
        if let Some(cb) = self.0.shutdown_cb.take() {
            cb(self, Err(e.duplicate()));
        }
        if let Some(cb) = self.0.handshake_cb.take() {
            self.0.ended.set(true);
            cb(self, Err(e));
        } else if !self.0.ended.get() {
            self.0.ended.set(true);
            *self.0.end.borrow_mut() = Some(End::Error(e));
            self.report_end();
        }
        self.flush(); // the alert
        let tcp = &self.0.tcp;
        // The alert goes out, then FIN, then the handle closes; refused (still connecting, or
        // already shut): close now.
        if tcp.shutdown(|t, _| t.close()).is_err() {
            tcp.close();
        }
        self.release();
    }

    fn backpressure(&self) {
        if !self.0.started.get() || self.0.transport_done.get() || self.0.closed.get() {
            return;
        }
        let wants = self.0.session.borrow().wants_input();
        let tcp = &self.0.tcp;
        if wants && !tcp.is_reading() {
            let _ = tcp.read_resume();
        } else if !wants && tcp.is_reading() {
            let _ = tcp.read_stop();
        }
    }

    /// Starts delivering plaintext to `cb`: data, then at the end [`TlsRead::Eof`] or
    /// [`TlsRead::Error`]. Replaces an earlier callback.
    #[doc(alias = "uv_read_start")]
    pub fn read_start(&self, cb: impl FnMut(&TlsStream, TlsRead<'_>) + 'static) {
        *self.0.read_cb.borrow_mut() = Some(Box::new(cb));
        self.0.reading.set(true);
        self.deliver();
        self.report_end();
        self.backpressure();
    }

    /// Stops delivering plaintext: it waits in the session (up to its read limit, then the
    /// socket is no longer read) until [`read_start`](Self::read_start).
    pub fn read_stop(&self) {
        self.0.reading.set(false);
    }

    /// Encrypts `data` (copied) and writes it; `cb` runs once the records holding it are
    /// written to the socket, or with the error that stopped them. Before the handshake
    /// completes the bytes wait and go out right after it.
    ///
    /// # Errors
    ///
    /// [`TlsError::Closed`] after [`shutdown`](Self::shutdown), a failure, or [`close`](Self::close).
    #[doc(alias = "uv_write")]
    pub fn write(
        &self,
        data: &[u8],
        cb: impl FnOnce(&TlsStream, Result<(), TlsError>) + 'static,
    ) -> Result<(), TlsError> {
        if self.0.closed.get() {
            return Err(TlsError::Closed);
        }
        self.0.session.borrow_mut().write(data)?;
        self.0.waiting_writes.borrow_mut().push_back(Box::new(cb));
        self.flush();
        Ok(())
    }

    /// Bytes accepted by [`write`](Self::write) and not yet handed to the kernel (plaintext
    /// and ciphertext), for backpressure.
    #[doc(alias = "uv_stream_get_write_queue_size")]
    pub fn write_queue_size(&self) -> usize {
        self.0.session.borrow().write_buffered() + self.0.tcp.write_queue_size()
    }

    /// Sends `close_notify` after everything written, then shuts the socket's write side
    /// down; `cb` runs once that is done. The read side stays open for the peer's
    /// `close_notify` (the read callback's [`TlsRead::Eof`]); if neither it nor the end of
    /// the connection comes within the shutdown timeout, the connection is closed and the
    /// reader gets [`TlsError::Timeout`].
    ///
    /// # Errors
    ///
    /// [`TlsError::Closed`] on a failed or closed stream.
    #[doc(alias = "uv_shutdown")]
    pub fn shutdown(
        &self,
        cb: impl FnOnce(&TlsStream, Result<(), TlsError>) + 'static,
    ) -> Result<(), TlsError> {
        if self.0.closed.get() {
            return Err(TlsError::Closed);
        }
        self.0.session.borrow_mut().shutdown()?;
        self.flush();
        if !self.0.ended.get() {
            self.set_timeout(self.0.shutdown_timeout.get())?;
        }
        self.0.shutdown_cb.set(Some(Box::new(cb)));
        self.shutdown_transport();
        Ok(())
    }

    /// Once `close_notify` is out (after the handshake, for a shutdown during it), shuts the
    /// socket's write side down and runs `shutdown`'s callback.
    fn shutdown_transport(&self) {
        if !self.0.session.borrow().close_notify_sent() {
            return;
        }
        let Some(cb) = self.0.shutdown_cb.take() else {
            return;
        };
        let weak = Rc::downgrade(&self.0);
        let done = move |_: &Tcp, r: crate::Result<()>| {
            if let Some(s) = upgrade(&weak) {
                cb(&s, r.map_err(io));
            }
        };
        if let Err(e) = self.0.tcp.shutdown(done) {
            self.fail(io(e));
        }
    }

    /// Closes the connection at once (no `close_notify`). Idempotent. As libuv does for a
    /// handle's requests, every callback still pending runs once, as the socket closes (in
    /// the loop's closing phase, libuv's order): writes already on the socket with its
    /// answer (`ECANCELED`), then a handshake, the writes not yet on the socket and a
    /// shutdown with [`TlsError::Closed`]. No read callback runs afterwards.
    #[doc(alias = "uv_close")]
    pub fn close(&self) {
        self.close_with(|| {});
    }

    /// As [`close`](Self::close), then `on_close` once the socket is closed: after every
    /// callback of the stream. Not called when the stream was already closed.
    pub fn close_with(&self, on_close: impl FnOnce() + 'static) {
        if self.0.closed.get() {
            return;
        }
        self.0.closed.set(true);
        let pending: Vec<DoneCb> = (self.0.handshake_cb.take().into_iter())
            .chain(std::mem::take(&mut *self.0.waiting_writes.borrow_mut()))
            .chain(self.0.shutdown_cb.take())
            .collect();
        // The socket's close callback keeps the stream alive until libuv has answered the
        // writes and shutdown on the socket (just before it), then answers the rest.
        let keep = self.clone();
        let closing = self.0.tcp.close_with(move || {
            for cb in pending {
                cb(&keep, Err(TlsError::Closed));
            }
            drop(keep);
            on_close();
        });
        debug_assert!(closing.is_ok(), "the socket closes only with the stream");
        self.release();
    }

    /// Drops callbacks and timers, and the self-reference of a detached stream.
    fn release(&self) {
        self.0.closed.set(true);
        self.0.timer.close();
        self.0.read_cb.borrow_mut().take();
        self.0.handshake_cb.take();
        self.0.shutdown_cb.take();
        self.0.waiting_writes.borrow_mut().clear();
        self.0.keep.borrow_mut().take();
    }

    /// Lets the stream live on without an owner until it is closed (by [`close`](Self::close),
    /// a failure, or its loop). For servers that hand each connection to its callbacks.
    pub fn detach(self) {
        if !self.0.closed.get() {
            *self.0.keep.borrow_mut() = Some(self.clone());
        }
    }

    /// Whether the stream was closed (by [`close`](Self::close) or a failure).
    pub fn is_closed(&self) -> bool {
        self.0.closed.get()
    }

    /// What the handshake settled (`None` before it completes).
    pub fn info(&self) -> Option<HandshakeInfo> {
        self.0.session.borrow().info().cloned()
    }

    /// The TCP handle underneath (addresses, options). Close the stream with
    /// [`close`](Self::close), not the handle: that also releases the stream's timer and
    /// callbacks.
    pub fn tcp(&self) -> &Tcp {
        &self.0.tcp
    }

    /// Runs `f` on the session (for [`TlsSession::key_update`], [`TlsSession::renegotiate`],
    /// state queries), then sends what it produced.
    ///
    /// # Errors
    ///
    /// What `f` returns.
    pub fn with_session<R>(
        &self,
        f: impl FnOnce(&mut TlsSession) -> Result<R, TlsError>,
    ) -> Result<R, TlsError> {
        let r = f(&mut self.0.session.borrow_mut());
        self.pump();
        r
    }
}

/// Ciphertext on its way to the socket; its buffer goes back to the session once written, so
/// that output needs no allocation once warm.
/// Written output buffers go back to the session, which reuses them.
impl BufHome for Inner {
    fn take_back(&self, buf: Vec<u8>) {
        if let Ok(mut session) = self.session.try_borrow_mut() {
            session.recycle_output(buf);
        }
    }
}

fn written_cb(weak: Weak<Inner>) -> WrittenCb {
    Rc::new(move |_: &Tcp, r: crate::Result<()>| {
        if let Some(s) = upgrade(&weak) {
            s.written(r);
        }
    })
}

fn upgrade(weak: &Weak<Inner>) -> Option<TlsStream> {
    weak.upgrade().map(TlsStream)
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("state", &self.0.session.borrow().state())
            .field("closed", &self.0.closed.get())
            .finish_non_exhaustive()
    }
}
