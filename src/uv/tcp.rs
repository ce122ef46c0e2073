//! [`Tcp`]: TCP sockets, clients and servers.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::raw::c_int;
use std::time::Duration;

use libuv_sys2::*;

use super::addr::{CSockAddr, read_sockaddr};
use super::error::{Result, check};
use super::fd::{adopt, socket_type};
use super::handle::{Owned, handle_methods};
use super::loop_::LoopHandle;
use super::stream::{StreamHandle, StreamState, stream_methods};

/// Options for [`Tcp::bind_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpBindFlags {
    /// For an IPv6 address: accept IPv6 only, not IPv4-mapped addresses.
    pub ipv6_only: bool,
    /// `SO_REUSEPORT`: several sockets may bind the same address; the kernel spreads
    /// connections across them.
    pub reuse_port: bool,
}

/// A TCP socket: a server (`bind`, `listen`, `accept`) or a connection (`connect`, or accepted),
/// with the stream methods (`read_start`, `write`, `try_write`, `shutdown`, ...).
///
/// # Examples
///
/// ```
/// use rsuv::{Loop, RunMode, Tcp};
/// let lp = Loop::new()?;
/// let server = Tcp::new(&lp)?;
/// server.bind("127.0.0.1:0".parse().unwrap())?;
/// server.listen(128, |server, status| {
///     status.unwrap();
///     let conn = server.accept().unwrap();
///     conn.write(b"hello\n", |conn, result| {
///         result.unwrap();
///         conn.close();
///     }).unwrap();
///     server.close();
/// })?;
/// let addr = server.sockname()?;
/// let client = Tcp::new(&lp)?;
/// client.connect(addr, |client, result| {
///     result.unwrap();
///     client.read_start(|client, data| match data {
///         Ok(bytes) => assert_eq!(bytes, b"hello\n"),
///         Err(_) => client.close(), // EOF
///     }).unwrap();
/// })?;
/// lp.run(RunMode::Default)?;
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Tcp(Owned<StreamState<Tcp>>);

handle_methods!(Tcp);
stream_methods!(Tcp);

impl StreamHandle for Tcp {
    type Raw = uv_tcp_t;
    type Extra = ();
    fn owned(&self) -> &Owned<StreamState<Tcp>> {
        &self.0
    }
    fn wrap(owned: Owned<StreamState<Tcp>>) -> Tcp {
        Tcp(owned)
    }
    fn into_owned(self) -> Owned<StreamState<Tcp>> {
        self.0
    }
    fn new_peer(&self) -> Result<Tcp> {
        Tcp::new(&self.loop_handle())
    }
}

impl Tcp {
    /// Creates a TCP handle; the socket itself is made on `bind` or `connect`.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`](crate::Error::CLOSED) if the loop is closed.
    #[doc(alias = "uv_tcp_init")]
    pub fn new(lp: &LoopHandle) -> Result<Tcp> {
        let state = StreamState::new(());
        // SAFETY: `raw` is fresh memory of uv_handle_size(UV_TCP) bytes.
        let init = |l, raw: *mut uv_handle_t| unsafe { uv_tcp_init(l, raw.cast()) };
        Owned::init(lp, uv_handle_type_UV_TCP, state, init).map(Tcp)
    }

    /// Creates a TCP handle with its socket made at once, of address family `family`
    /// (`libc::AF_INET`, `AF_INET6`; `AF_UNSPEC` makes none, as [`Tcp::new`]).
    ///
    /// # Errors
    ///
    /// `EINVAL` for another family; what `socket()` reports.
    #[doc(alias = "uv_tcp_init_ex")]
    pub fn with_family(lp: &LoopHandle, family: i32) -> Result<Tcp> {
        let state = StreamState::new(());
        let flags = u32::try_from(family).map_err(|_| super::Error::EINVAL)?;
        // SAFETY: `raw` is fresh memory of uv_handle_size(UV_TCP) bytes.
        let init = |l, raw: *mut uv_handle_t| unsafe { uv_tcp_init_ex(l, raw.cast(), flags) };
        Owned::init(lp, uv_handle_type_UV_TCP, state, init).map(Tcp)
    }

    /// Wraps an existing socket (for example one inherited, or made with options libuv does not
    /// offer). The handle owns it from now on and closes it.
    ///
    /// # Errors
    ///
    /// `ENOTSOCK` if `sock` is not a socket, `EINVAL` if it is not a stream socket, or what
    /// `uv_tcp_open` reports; the descriptor is closed then.
    #[doc(alias = "uv_tcp_open")]
    pub fn open(lp: &LoopHandle, sock: OwnedFd) -> Result<Tcp> {
        if socket_type(&sock)? != libc::SOCK_STREAM {
            return Err(super::Error::EINVAL);
        }
        let tcp = Tcp::new(lp)?;
        let raw = tcp.0.raw()?;
        // SAFETY: the handle is open and unbound; `fd` is a socket we own.
        adopt(sock, |fd| unsafe { uv_tcp_open(raw, fd) }).map(|_| tcp)
    }

    /// Binds to `addr` (port 0: the system picks one; see [`Tcp::sockname`]).
    ///
    /// # Errors
    ///
    /// `EADDRINUSE` may be reported here or by `listen`/`connect`; `EINVAL` if already bound.
    #[doc(alias = "uv_tcp_bind")]
    pub fn bind(&self, addr: SocketAddr) -> Result<()> {
        self.bind_with(addr, TcpBindFlags::default())
    }

    /// Binds with options (IPv6-only, `SO_REUSEPORT`).
    ///
    /// # Errors
    ///
    /// As for [`Tcp::bind`]; `ENOTSUP` for `reuse_port` where the system lacks it.
    #[doc(alias = "uv_tcp_bind")]
    pub fn bind_with(&self, addr: SocketAddr, flags: TcpBindFlags) -> Result<()> {
        let mut bits = 0;
        if flags.ipv6_only {
            bits |= uv_tcp_flags_UV_TCP_IPV6ONLY;
        }
        if flags.reuse_port {
            bits |= uv_tcp_flags_UV_TCP_REUSEPORT;
        }
        let sa = CSockAddr::new(&addr);
        // SAFETY: the handle is open; `sa` is a valid socket address (libc and libuv_sys2
        // declare the same C struct).
        check(unsafe { uv_tcp_bind(self.0.raw()?, sa.as_ptr(), bits) }).map(drop)
    }

    /// Connects to `addr`; `cb` gets the outcome (`ECONNREFUSED`, `ETIMEDOUT`, ...), or
    /// `ECANCELED` if the handle is closed first.
    ///
    /// # Errors
    ///
    /// Immediate failures (`EINVAL` for a listening socket, ...);
    /// [`Error::CLOSED`](crate::Error::CLOSED) if closing.
    #[doc(alias = "uv_tcp_connect")]
    pub fn connect(
        &self,
        addr: SocketAddr,
        cb: impl FnOnce(&Tcp, Result<()>) + 'static,
    ) -> Result<()> {
        let raw = self.0.raw()?;
        let sa = CSockAddr::new(&addr);
        // SAFETY: the handle is open; `sa` outlives the call (libuv copies the address).
        let start = |req, cb| unsafe { uv_tcp_connect(req, raw, sa.as_ptr(), cb) };
        super::stream::connect(self, Box::new(cb), start)
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// `EBADF`/`EINVAL` before the socket exists; [`Error::CLOSED`](crate::Error::CLOSED).
    #[doc(alias = "uv_tcp_getsockname")]
    pub fn sockname(&self) -> Result<SocketAddr> {
        // SAFETY: the handle is open; the out-pointers are valid.
        self.name(|raw, sa, len| unsafe { uv_tcp_getsockname(raw, sa, len) })
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// `ENOTCONN` when not connected; [`Error::CLOSED`](crate::Error::CLOSED).
    #[doc(alias = "uv_tcp_getpeername")]
    pub fn peername(&self) -> Result<SocketAddr> {
        // SAFETY: the handle is open; the out-pointers are valid.
        self.name(|raw, sa, len| unsafe { uv_tcp_getpeername(raw, sa, len) })
    }

    fn name(
        &self,
        f: impl FnOnce(*const uv_tcp_t, *mut sockaddr, *mut c_int) -> c_int,
    ) -> Result<SocketAddr> {
        let raw = self.0.raw()?;
        read_sockaddr(|sa, len| f(raw, sa, len))
    }

    /// Enables or disables Nagle's algorithm (`TCP_NODELAY` when `enable`).
    ///
    /// # Errors
    ///
    /// What the system reports; [`Error::CLOSED`](crate::Error::CLOSED).
    #[doc(alias = "uv_tcp_nodelay")]
    pub fn set_nodelay(&self, enable: bool) -> Result<()> {
        // SAFETY: the handle is open.
        check(unsafe { uv_tcp_nodelay(self.0.raw()?, enable.into()) }).map(drop)
    }

    /// Enables TCP keep-alive with the given initial delay (whole seconds, at least 1), or
    /// disables it with `None`.
    ///
    /// # Errors
    ///
    /// What the system reports; [`Error::CLOSED`](crate::Error::CLOSED).
    #[doc(alias = "uv_tcp_keepalive")]
    pub fn set_keepalive(&self, delay: Option<Duration>) -> Result<()> {
        let secs = delay.map_or(0, |d| d.as_secs().clamp(1, u32::MAX.into()) as u32);
        // SAFETY: the handle is open.
        check(unsafe { uv_tcp_keepalive(self.0.raw()?, delay.is_some().into(), secs) }).map(drop)
    }

    /// Whether a listening socket accepts as many connections as are ready at once (the
    /// default) or one per loop iteration.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`](crate::Error::CLOSED).
    #[doc(alias = "uv_tcp_simultaneous_accepts")]
    pub fn set_simultaneous_accepts(&self, enable: bool) -> Result<()> {
        // SAFETY: the handle is open.
        check(unsafe { uv_tcp_simultaneous_accepts(self.0.raw()?, enable.into()) }).map(drop)
    }

    /// Closes the connection with a TCP RST instead of a FIN (`SO_LINGER` 0), then closes the
    /// handle like `close`.
    ///
    /// # Errors
    ///
    /// `EINVAL` if a `shutdown` was requested; [`Error::CLOSED`](crate::Error::CLOSED).
    #[doc(alias = "uv_tcp_close_reset")]
    pub fn close_reset(&self) -> Result<()> {
        // SAFETY: the closer gets our open handle and our close callback.
        self.0.core().close_via(None, |raw, cb| unsafe {
            uv_tcp_close_reset(raw.cast(), cb)
        })
    }

    buffer_size_methods!();
}

/// The socket buffer size methods, shared by `Tcp`, `Pipe` and `Udp`.
macro_rules! buffer_size_methods {
    () => {
        /// The socket's send buffer size (`SO_SNDBUF`).
        ///
        /// # Errors
        ///
        /// What the system reports; [`Error::CLOSED`](crate::Error::CLOSED).
        #[doc(alias = "uv_send_buffer_size")]
        pub fn send_buffer_size(&self) -> Result<usize> {
            $crate::uv::tcp::buffer_size(&self.0, 0, libuv_sys2::uv_send_buffer_size)
        }

        /// Sets the send buffer size (Linux doubles the value it is given).
        ///
        /// # Errors
        ///
        /// `EINVAL` for 0; what the system reports; [`Error::CLOSED`](crate::Error::CLOSED).
        #[doc(alias = "uv_send_buffer_size")]
        pub fn set_send_buffer_size(&self, size: usize) -> Result<()> {
            if size == 0 {
                return Err(crate::Error::EINVAL);
            }
            $crate::uv::tcp::buffer_size(&self.0, size, libuv_sys2::uv_send_buffer_size).map(drop)
        }

        /// The socket's receive buffer size (`SO_RCVBUF`).
        ///
        /// # Errors
        ///
        /// What the system reports; [`Error::CLOSED`](crate::Error::CLOSED).
        #[doc(alias = "uv_recv_buffer_size")]
        pub fn recv_buffer_size(&self) -> Result<usize> {
            $crate::uv::tcp::buffer_size(&self.0, 0, libuv_sys2::uv_recv_buffer_size)
        }

        /// Sets the receive buffer size (Linux doubles the value it is given).
        ///
        /// # Errors
        ///
        /// `EINVAL` for 0; what the system reports; [`Error::CLOSED`](crate::Error::CLOSED).
        #[doc(alias = "uv_recv_buffer_size")]
        pub fn set_recv_buffer_size(&self, size: usize) -> Result<()> {
            if size == 0 {
                return Err(crate::Error::EINVAL);
            }
            $crate::uv::tcp::buffer_size(&self.0, size, libuv_sys2::uv_recv_buffer_size).map(drop)
        }
    };
}
pub(crate) use buffer_size_methods;

/// Reads (`size == 0`) or sets a socket buffer size through libuv.
pub(crate) fn buffer_size<S: super::handle::State>(
    owned: &Owned<S>,
    size: usize,
    f: unsafe extern "C" fn(*mut uv_handle_t, *mut c_int) -> c_int,
) -> Result<usize> {
    // libuv reads the size when `*value == 0` and sets it otherwise.
    let mut value = c_int::try_from(size).map_err(|_| super::Error::EINVAL)?;
    // SAFETY: the handle is open; `value` is a valid in/out pointer.
    check(unsafe { f(owned.raw()?, &mut value) })?;
    Ok(value as usize)
}
