//! [`AsyncTlsStream`]: a [`TlsSession`] over any async byte stream of the `rt` layer (usually
//! a [`TcpStream`]), as `futures::io::{AsyncRead, AsyncBufRead, AsyncWrite}`.
//!
//! Ciphertext is fed to the session straight from the transport's buffer (`AsyncBufRead`,
//! no copy on the way); plaintext is read from the session's buffer (`AsyncBufRead` lends
//! it). Writes encrypt into the session's output, which goes to the transport's `poll_write`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::io::{AsyncBufRead, AsyncRead, AsyncWrite};

use super::{Event, HandshakeInfo, TlsContext, TlsError, TlsSession};
use crate::rt::TcpStream;

/// `poll_write` waits while this much ciphertext waits for the transport.
const OUT_HIGH: usize = 256 * 1024;
/// `poll_write` encrypts at most this much per call.
const WRITE_CHUNK: usize = 256 * 1024;

/// A TLS connection over an async transport `S`: `AsyncRead + AsyncBufRead + AsyncWrite`.
///
/// Reading returns `Ok(0)` after the peer's `close_notify`, and an
/// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) error (from [`TlsError::Truncated`]) if the
/// transport ended without one, after every byte that did arrive. `close` sends
/// `close_notify`, then shuts the transport's write side down. TLS errors come out as
/// `io::Error`s whose inner error is the [`TlsError`] (`get_ref()` and `downcast_ref::<TlsError>()` recover it).
///
/// # Cancel safety
///
/// Reads are cancel safe: bytes not returned stay in the session. A completed write has
/// handed its bytes to the session; a dropped one wrote nothing.
///
/// # Examples
///
/// ```no_run
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
/// use rsuv::rt::block_on;
/// use rsuv::tls::{AsyncTlsStream, TlsContext};
///
/// block_on(async {
///     let ctx = TlsContext::client().build()?;
///     let addr = "93.184.215.14:443".parse().unwrap();
///     let mut tls = AsyncTlsStream::connect(addr, &ctx, "example.com").await?;
///     tls.write_all(b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n").await?;
///     let mut page = Vec::new();
///     tls.read_to_end(&mut page).await?;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct AsyncTlsStream<S> {
    io: S,
    session: TlsSession,
    peer_closed: bool,
    truncated: bool,
    error: Option<TlsError>,
    shutdown_started: bool,
}

impl AsyncTlsStream<TcpStream> {
    /// Connects to `addr` and runs the client handshake for `server_name`.
    ///
    /// # Errors
    ///
    /// Connection errors; TLS errors as `io::Error`s carrying the [`TlsError`].
    ///
    /// # Panics
    ///
    /// Outside [`block_on`](crate::rt::block_on).
    pub async fn connect(
        addr: SocketAddr,
        ctx: &TlsContext,
        server_name: &str,
    ) -> io::Result<AsyncTlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(AsyncTlsStream::client(tcp, ctx, server_name).await?)
    }
}

impl<S: AsyncBufRead + AsyncWrite + Unpin> AsyncTlsStream<S> {
    /// Runs the client handshake for `server_name` over `io`.
    ///
    /// # Errors
    ///
    /// [`TlsError::Verification`], [`TlsError::Handshake`], [`TlsError::Io`], ...
    pub async fn client(io: S, ctx: &TlsContext, server_name: &str) -> Result<Self, TlsError> {
        let session = TlsSession::client(ctx, server_name)?;
        AsyncTlsStream::handshake(io, session).await
    }

    /// Runs the server handshake over `io`.
    ///
    /// # Errors
    ///
    /// As for [`client`](Self::client).
    pub async fn server(io: S, ctx: &TlsContext) -> Result<Self, TlsError> {
        AsyncTlsStream::handshake(io, TlsSession::server(ctx)?).await
    }

    async fn handshake(io: S, session: TlsSession) -> Result<Self, TlsError> {
        let mut me = AsyncTlsStream {
            io,
            session,
            peer_closed: false,
            truncated: false,
            error: None,
            shutdown_started: false,
        };
        std::future::poll_fn(|cx| me.poll_handshake(cx)).await?;
        Ok(me)
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TlsError>> {
        loop {
            let flushed = self.poll_send(cx).map_err(TlsError::Io)?;
            self.take_events();
            if let Some(e) = self.error.take() {
                return Poll::Ready(Err(e));
            }
            if self.session.info().is_some() && flushed.is_ready() {
                return Poll::Ready(Ok(()));
            }
            if self.peer_closed || self.truncated {
                return Poll::Ready(Err(TlsError::Truncated));
            }
            if self.session.info().is_none() {
                ready!(self.poll_receive(cx)).map_err(TlsError::Io)?;
            } else {
                return Poll::Pending; // waiting for the last flight to go out
            }
        }
    }

    /// What the handshake settled.
    pub fn info(&self) -> Option<&HandshakeInfo> {
        self.session.info()
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The transport, mutably (writing to it directly corrupts the TLS stream; closing it
    /// ends the connection without `close_notify`).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// The session (state, `close_notify` flags, ...).
    pub fn session(&self) -> &TlsSession {
        &self.session
    }

    /// The session, for [`TlsSession::key_update`] and the like; what it outputs is sent
    /// with the next read, write or flush.
    pub fn session_mut(&mut self) -> &mut TlsSession {
        &mut self.session
    }

    fn take_events(&mut self) {
        while let Some(ev) = self.session.next_event() {
            match ev {
                Event::PeerClosed => self.peer_closed = true,
                Event::Truncated => self.truncated = true,
                Event::Error(e) => self.error = Some(e),
                _ => {}
            }
        }
    }

    /// Writes the session's output to the transport until it is all taken.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.session.has_output() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, self.session.output()))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.session.consume_output(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Feeds the session what the transport has (or its end).
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let data = ready!(Pin::new(&mut self.io).poll_fill_buf(cx))?;
        if data.is_empty() {
            self.session.feed_eof();
            return Poll::Ready(Ok(()));
        }
        let n = data.len();
        let _ = self.session.feed(data); // a TLS error is also queued as an event
        Pin::new(&mut self.io).consume(n);
        Poll::Ready(Ok(()))
    }

    /// Waits until plaintext is available, or the end: `Ok(true)` if there is plaintext.
    fn poll_plaintext(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        loop {
            if !self.session.plaintext().is_empty() {
                return Poll::Ready(Ok(true));
            }
            let _ = self.poll_send(cx)?; // replies to what was read (KeyUpdate, alerts)
            self.take_events();
            if let Some(e) = self.error.take() {
                self.error = Some(TlsError::Closed);
                return Poll::Ready(Err(e.into()));
            }
            if self.peer_closed {
                return Poll::Ready(Ok(false));
            }
            if self.truncated {
                return Poll::Ready(Err(TlsError::Truncated.into()));
            }
            ready!(self.poll_receive(cx))?;
        }
    }
}

impl<S: AsyncBufRead + AsyncWrite + Unpin> AsyncRead for AsyncTlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if buf.is_empty() || !ready!(me.poll_plaintext(cx))? {
            return Poll::Ready(Ok(0));
        }
        let n = me.session.read(buf);
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncBufRead + AsyncWrite + Unpin> AsyncBufRead for AsyncTlsStream<S> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let me = self.get_mut();
        ready!(me.poll_plaintext(cx))?;
        Poll::Ready(Ok(me.session.plaintext()))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().session.consume_plaintext(amt);
    }
}

impl<S: AsyncBufRead + AsyncWrite + Unpin> AsyncWrite for AsyncTlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if me.session.output().len() >= OUT_HIGH {
            ready!(me.poll_send(cx))?;
        }
        let n = me.session.write(&buf[..buf.len().min(WRITE_CHUNK)])?;
        let _ = me.poll_send(cx)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        ready!(me.poll_send(cx))?;
        Pin::new(&mut me.io).poll_flush(cx)
    }

    /// Sends `close_notify` after everything written, then shuts the transport's write side
    /// down. Reading stays possible (for the peer's `close_notify`).
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if !me.shutdown_started {
            me.session.shutdown()?;
            me.shutdown_started = true;
        }
        ready!(me.poll_send(cx))?;
        Pin::new(&mut me.io).poll_close(cx)
    }
}

impl<S> std::fmt::Debug for AsyncTlsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncTlsStream")
            .field("state", &self.session.state())
            .finish_non_exhaustive()
    }
}
