//! TCP and Unix-socket streams and listeners: [`TcpStream`], [`TcpListener`], [`UnixStream`],
//! [`UnixListener`].

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::Stream;
use futures::io::{AsyncBufRead, AsyncRead, AsyncWrite};

use crate::uv::stream::StreamHandle;
use crate::uv::{Error, Pipe, PipeName, Tcp};

use super::executor::current;
use super::stream::{AsyncStream, ReadHalf, WriteHalf};

fn loop_handle() -> crate::LoopHandle {
    current()
        .expect("rsuv::rt sockets need to run inside block_on")
        .lp
        .clone()
}

/// A connect request's outcome, for the future that waits on it.
#[derive(Default)]
struct Pending {
    result: Cell<Option<crate::Result<()>>>,
    waker: Cell<Option<Waker>>,
}

impl Pending {
    fn complete(&self, r: crate::Result<()>) {
        self.result.set(Some(r));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    async fn wait(&self) -> crate::Result<()> {
        std::future::poll_fn(|cx| match self.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

macro_rules! stream_type {
    ($(#[$doc:meta])* $name:ident, $handle:ident) => {
        $(#[$doc])*
        pub struct $name(AsyncStream<$handle>);

        impl $name {
            /// Splits into a read half and a write half that may live in different tasks.
            pub fn into_split(self) -> (ReadHalf<$handle>, WriteHalf<$handle>) {
                self.0.split()
            }

            /// The uv handle underneath (for options this type does not wrap).
            pub fn as_uv(&self) -> &$handle {
                self.0.handle()
            }
        }

        impl AsyncRead for $name {
            fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.0).poll_read(cx, buf)
            }
        }

        impl AsyncBufRead for $name {
            fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
                Pin::new(&mut self.get_mut().0).poll_fill_buf(cx)
            }
            fn consume(mut self: Pin<&mut Self>, amt: usize) {
                Pin::new(&mut self.0).consume(amt)
            }
        }

        impl AsyncWrite for $name {
            fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.0).poll_write(cx, buf)
            }
            fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.0).poll_flush(cx)
            }
            fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.0).poll_close(cx)
            }
        }
    };
}

stream_type!(
    /// A TCP connection: `AsyncRead + AsyncWrite` (`futures::io`).
    ///
    /// # Cancel safety
    ///
    /// Reads are cancel safe (bytes not yet handed out stay buffered). A write future that
    /// completed has handed its bytes to the stream; one dropped before completing wrote
    /// nothing. `poll_close` shuts the write side down (EOF to the peer).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::{AsyncReadExt, AsyncWriteExt};
    /// use rsuv::rt::{block_on, spawn_local, TcpListener, TcpStream};
    ///
    /// block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
    ///     let addr = listener.local_addr()?;
    ///     let server = spawn_local(async move {
    ///         let (mut conn, _) = listener.accept().await?;
    ///         let mut buf = [0u8; 5];
    ///         conn.read_exact(&mut buf).await?;
    ///         conn.write_all(&buf).await?;
    ///         conn.close().await
    ///     });
    ///     let mut client = TcpStream::connect(addr).await?;
    ///     client.write_all(b"hello").await?;
    ///     let mut echoed = Vec::new();
    ///     client.read_to_end(&mut echoed).await?;
    ///     assert_eq!(echoed, b"hello");
    ///     server.await.unwrap()
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    TcpStream,
    Tcp
);

/// The read half of a [`TcpStream`] (from `into_split`).
pub type TcpReadHalf = ReadHalf<Tcp>;
/// The write half of a [`TcpStream`] (from `into_split`).
pub type TcpWriteHalf = WriteHalf<Tcp>;
/// The read half of a [`UnixStream`] (from `into_split`).
pub type UnixReadHalf = ReadHalf<Pipe>;
/// The write half of a [`UnixStream`] (from `into_split`).
pub type UnixWriteHalf = WriteHalf<Pipe>;

stream_type!(
    /// A Unix-socket connection (a uv `Pipe`): `AsyncRead + AsyncWrite`. Cancel safety as for
    /// [`TcpStream`].
    UnixStream,
    Pipe
);

impl TcpStream {
    /// Connects to `addr`.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` and the like.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the half-made connection.
    ///
    /// # Panics
    ///
    /// Outside [`block_on`](super::block_on).
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let tcp = Tcp::new(&loop_handle())?;
        let pending = Rc::new(Pending::default());
        let p = pending.clone();
        tcp.connect(addr, move |_, r| p.complete(r))?;
        pending.wait().await?;
        Ok(TcpStream(AsyncStream::new(tcp)))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// What the system reports.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.as_uv().sockname()?)
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// What the system reports.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.as_uv().peername()?)
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// What the system reports.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        Ok(self.as_uv().set_nodelay(on)?)
    }
}

impl UnixStream {
    /// Connects to the Unix socket at `path`.
    ///
    /// # Errors
    ///
    /// `NotFound`, `ConnectionRefused`, ...
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the half-made connection.
    ///
    /// # Panics
    ///
    /// Outside [`block_on`](super::block_on).
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let pipe = Pipe::new(&loop_handle(), false)?;
        let pending = Rc::new(Pending::default());
        let p = pending.clone();
        pipe.connect(path, move |_, r| p.complete(r))?;
        pending.wait().await?;
        Ok(UnixStream(AsyncStream::new(pipe)))
    }

    /// A connected pair (a socketpair) on the current loop.
    ///
    /// # Errors
    ///
    /// What the system reports.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        let lp = loop_handle();
        let a = Pipe::open(&lp, a.into(), false)?;
        let b = Pipe::open(&lp, b.into(), false)?;
        Ok((
            UnixStream(AsyncStream::new(a)),
            UnixStream(AsyncStream::new(b)),
        ))
    }

    /// The peer's name.
    ///
    /// # Errors
    ///
    /// What the system reports.
    pub fn peer_addr(&self) -> io::Result<PipeName> {
        Ok(self.as_uv().peername()?)
    }
}

/// What a listener and its connection callback share: connections waiting to be accepted
/// (counted, not accepted: libuv stops watching the socket until we accept, which is the
/// backpressure).
#[derive(Default)]
struct Incoming {
    ready: Cell<bool>,
    error: Cell<Option<Error>>,
    waker: Cell<Option<Waker>>,
}

struct Listener<H: StreamHandle> {
    h: H,
    incoming: Rc<Incoming>,
}

impl<H: StreamHandle> Listener<H> {
    fn listen(
        h: H,
        listen: impl FnOnce(&H, Box<dyn FnMut(&H, crate::Result<()>)>) -> crate::Result<()>,
    ) -> io::Result<Self> {
        let incoming = Rc::new(Incoming::default());
        let inc = incoming.clone();
        listen(
            &h,
            Box::new(move |_, status| {
                match status {
                    Ok(()) => inc.ready.set(true),
                    Err(e) => inc.error.set(Some(e)),
                }
                if let Some(w) = inc.waker.take() {
                    w.wake();
                }
            }),
        )?;
        Ok(Listener { h, incoming })
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<H>> {
        if let Some(e) = self.incoming.error.take() {
            return Poll::Ready(Err(e.into()));
        }
        if self.incoming.ready.get() {
            match crate::uv::stream::accept(&self.h) {
                Ok(conn) => return Poll::Ready(Ok(conn)),
                Err(Error::EAGAIN) => self.incoming.ready.set(false),
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
        self.incoming.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// A TCP server socket. Also a `Stream` of incoming connections.
///
/// One task should accept: the listener keeps one waker, the last to poll.
///
/// # Cancel safety
///
/// `accept` is cancel safe: a connection is taken from the system only when returned.
pub struct TcpListener(Listener<Tcp>);

impl TcpListener {
    /// Binds to `addr` (port 0: any free port) and listens (backlog 1024).
    ///
    /// # Errors
    ///
    /// `AddrInUse` and the like.
    ///
    /// # Panics
    ///
    /// Outside [`block_on`](super::block_on).
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let tcp = Tcp::new(&loop_handle())?;
        tcp.bind(addr)?;
        Listener::listen(tcp, |t, cb| t.listen(1024, cb)).map(TcpListener)
    }

    /// The bound address.
    ///
    /// # Errors
    ///
    /// What the system reports.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.0.h.sockname()?)
    }

    /// Waits for a connection.
    ///
    /// # Errors
    ///
    /// What the system reports (`EMFILE` when out of descriptors, ...).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let tcp = std::future::poll_fn(|cx| self.0.poll_accept(cx)).await?;
        let peer = tcp.peername()?;
        Ok((TcpStream(AsyncStream::new(tcp)), peer))
    }
}

impl Stream for TcpListener {
    type Item = io::Result<TcpStream>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0
            .poll_accept(cx)
            .map(|r| Some(r.map(|t| TcpStream(AsyncStream::new(t)))))
    }
}

/// A Unix-socket server. Also a `Stream` of incoming connections. Cancel safety as for
/// [`TcpListener`].
pub struct UnixListener(Listener<Pipe>);

impl UnixListener {
    /// Binds to `path` (which must not exist; it is removed when the listener closes) and
    /// listens.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the path exists, and the like.
    ///
    /// # Panics
    ///
    /// Outside [`block_on`](super::block_on).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let pipe = Pipe::new(&loop_handle(), false)?;
        pipe.bind(path)?;
        Listener::listen(pipe, |p, cb| p.listen(1024, cb)).map(UnixListener)
    }

    /// Waits for a connection.
    ///
    /// # Errors
    ///
    /// What the system reports.
    pub async fn accept(&self) -> io::Result<UnixStream> {
        let pipe = std::future::poll_fn(|cx| self.0.poll_accept(cx)).await?;
        Ok(UnixStream(AsyncStream::new(pipe)))
    }
}

impl Stream for UnixListener {
    type Item = io::Result<UnixStream>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0
            .poll_accept(cx)
            .map(|r| Some(r.map(|p| UnixStream(AsyncStream::new(p)))))
    }
}
