//! [`Udp`]: datagram sockets: send, receive (with recvmmsg), connect, multicast, broadcast.

use std::ffi::CString;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::os::raw::{c_int, c_uint};

use libuv_sys2::*;

use super::addr::{CSockAddr, from_sockaddr, read_sockaddr};
use super::buf::{DoneCb, WriteBuf, WriteDone};
use super::error::{Error, Result, check};
use super::fd::{adopt, socket_type};
use super::handle::{Callback, Owned, State, dispatch, handle_methods};
use super::loop_::{LoopHandle, alloc_read_buffer};
use super::req_pool::{BufReq, ReqPool};

/// A datagram as received: the bytes (lent for the callback), the sender, and whether the
/// datagram was larger than the buffer and got truncated.
#[derive(Debug)]
pub struct Datagram<'a> {
    /// The payload (possibly empty: empty datagrams are delivered too).
    pub data: &'a [u8],
    /// The sender's address.
    pub addr: SocketAddr,
    /// The datagram did not fit and was cut (`UV_UDP_PARTIAL`).
    pub truncated: bool,
}

/// Options for [`Udp::bind_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UdpBindFlags {
    /// For an IPv6 address: IPv6 only, no IPv4-mapped traffic.
    pub ipv6_only: bool,
    /// `SO_REUSEADDR`: several sockets may bind one address (multicast receivers).
    pub reuse_addr: bool,
    /// `SO_REUSEPORT`: the kernel spreads datagrams across the sockets bound to one address.
    pub reuse_port: bool,
}

type RecvCb = dyn FnMut(&Udp, Result<Datagram<'_>>);
/// What a send carries: one buffer (the common case, with no iterator) or several.
enum Bufs<I> {
    One(WriteBuf),
    Many(I),
}

pub(crate) struct UdpState {
    recv_cb: Callback<RecvCb>,
    send_pool: ReqPool<Udp, uv_udp_send_t>,
}

impl State for UdpState {
    type Raw = uv_udp_t;

    fn clear(&self) {
        self.recv_cb.clear();
        self.send_pool.clear();
    }
}

/// A UDP socket.
///
/// # Examples
///
/// ```
/// use rsuv::{Loop, RunMode, Udp};
/// let lp = Loop::new()?;
/// let server = Udp::new(&lp)?;
/// server.bind("127.0.0.1:0".parse().unwrap())?;
/// server.recv_start(|s, dgram| {
///     let dgram = dgram.unwrap();
///     assert_eq!(dgram.data, b"ping");
///     s.close();
/// })?;
/// let client = Udp::new(&lp)?;
/// client.send(b"ping", Some(server.sockname()?), |c, r| {
///     r.unwrap();
///     c.close();
/// })?;
/// lp.run(RunMode::Default)?;
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Udp(Owned<UdpState>);

handle_methods!(Udp);

unsafe extern "C" fn on_recv(
    raw: *mut uv_udp_t,
    n: isize,
    buf: *const uv_buf_t,
    addr: *const sockaddr,
    flags: c_uint,
) {
    if flags & uv_udp_flags_UV_UDP_MMSG_FREE != 0 || (n == 0 && addr.is_null()) {
        return; // the end of a recvmmsg batch, or nothing to read (EAGAIN)
    }
    // SAFETY: libuv passes the sender's address (valid for the call) or null.
    let from = unsafe { from_sockaddr(addr.cast()) };
    // SAFETY: `buf` is the buffer our alloc callback gave, or a datagram inside it.
    let base = unsafe { buf.as_ref() }.map_or(std::ptr::null(), |b| b.base.cast_const().cast());
    let truncated = flags & uv_udp_flags_UV_UDP_PARTIAL != 0;
    // SAFETY: libuv calls this only for open handles made by `Udp`.
    unsafe {
        dispatch(raw.cast(), Udp, |h| {
            let owned = &h.0;
            owned.loop_inner().with_read_buffer(base, n, |data| {
                let dgram = data.and_then(|data| {
                    let addr = from.ok_or(Error::EAFNOSUPPORT)?;
                    Ok(Datagram {
                        data,
                        addr,
                        truncated,
                    })
                });
                owned.state().recv_cb.call(owned.core(), |f| f(h, dgram));
            });
        })
    }
}

unsafe extern "C" fn on_send(req: *mut uv_udp_send_t, status: c_int) {
    // SAFETY: `req` was submitted by `Udp::send` through the pool.
    let (owner, cb) = unsafe { BufReq::<Udp, uv_udp_send_t>::complete(req) };
    // SAFETY: the request's handle stays allocated until its close callback, which runs after.
    let raw = unsafe { (*req).handle };
    // SAFETY: as above.
    unsafe {
        dispatch(raw.cast(), Udp, |h| {
            h.0.state().send_pool.give_back(owner);
            if let Some(cb) = cb {
                cb.call(h, check(status).map(drop));
            }
        })
    }
}

fn c_ip(ip: IpAddr) -> CString {
    CString::new(ip.to_string()).expect("an IP address has no NUL byte")
}

impl Udp {
    /// The libuv handle (for sending it over an IPC pipe).
    pub(crate) fn raw_udp(&self) -> Result<*mut uv_udp_t> {
        self.0.raw()
    }

    /// Creates a UDP handle; the socket is made on `bind`, `connect` or the first `send`.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`] if the loop is closed.
    #[doc(alias = "uv_udp_init")]
    pub fn new(lp: &LoopHandle) -> Result<Udp> {
        Self::init(lp, 0)
    }

    /// Creates a UDP handle that receives with `recvmmsg`: up to several datagrams per system
    /// call, each delivered to the receive callback as usual.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`] if the loop is closed.
    #[doc(alias = "uv_udp_init_ex")]
    pub fn new_recvmmsg(lp: &LoopHandle) -> Result<Udp> {
        Self::init(lp, uv_udp_flags_UV_UDP_RECVMMSG)
    }

    /// Creates a UDP handle with its socket made at once, of address family `family`
    /// (`libc::AF_INET`, `AF_INET6`; `AF_UNSPEC` makes none, as [`Udp::new`]).
    ///
    /// # Errors
    ///
    /// `EINVAL` for another family; what `socket()` reports.
    #[doc(alias = "uv_udp_init_ex")]
    pub fn with_family(lp: &LoopHandle, family: i32) -> Result<Udp> {
        Self::init(lp, c_uint::try_from(family).map_err(|_| Error::EINVAL)?)
    }

    fn init(lp: &LoopHandle, flags: c_uint) -> Result<Udp> {
        let state = UdpState {
            recv_cb: Callback::empty(),
            send_pool: ReqPool::new(),
        };
        // SAFETY: `raw` is fresh memory of uv_handle_size(UV_UDP) bytes; AF_UNSPEC defers the
        // socket until bind/connect/send.
        let init = |l, raw: *mut uv_handle_t| unsafe {
            uv_udp_init_ex(l, raw.cast(), libc::AF_UNSPEC as c_uint | flags)
        };
        Owned::init(lp, uv_handle_type_UV_UDP, state, init).map(Udp)
    }

    /// Wraps an existing datagram socket, which the handle owns from now on.
    ///
    /// # Errors
    ///
    /// `ENOTSOCK` or `EINVAL` for a descriptor that is not a datagram socket, or what
    /// `uv_udp_open` reports; the descriptor is closed then.
    #[doc(alias = "uv_udp_open")]
    pub fn open(lp: &LoopHandle, sock: OwnedFd) -> Result<Udp> {
        if socket_type(&sock)? != libc::SOCK_DGRAM {
            return Err(Error::EINVAL);
        }
        let udp = Udp::new(lp)?;
        let raw = udp.0.raw()?;
        // SAFETY: the handle is open and unbound; `fd` is a socket we own.
        adopt(sock, |fd| unsafe { uv_udp_open(raw, fd) }).map(|_| udp)
    }

    /// Binds to `addr` (port 0: the system picks one).
    ///
    /// # Errors
    ///
    /// `EADDRINUSE`, `EINVAL` if already bound; [`Error::CLOSED`].
    #[doc(alias = "uv_udp_bind")]
    pub fn bind(&self, addr: SocketAddr) -> Result<()> {
        self.bind_with(addr, UdpBindFlags::default())
    }

    /// Binds with options.
    ///
    /// # Errors
    ///
    /// As for [`Udp::bind`].
    #[doc(alias = "uv_udp_bind")]
    pub fn bind_with(&self, addr: SocketAddr, flags: UdpBindFlags) -> Result<()> {
        let mut bits = 0;
        if flags.ipv6_only {
            bits |= uv_udp_flags_UV_UDP_IPV6ONLY;
        }
        if flags.reuse_addr {
            bits |= uv_udp_flags_UV_UDP_REUSEADDR;
        }
        if flags.reuse_port {
            bits |= uv_udp_flags_UV_UDP_REUSEPORT;
        }
        let sa = CSockAddr::new(&addr);
        // SAFETY: the handle is open; `sa` is a valid address (same C struct in libc and
        // libuv_sys2).
        check(unsafe { uv_udp_bind(self.0.raw()?, sa.as_ptr(), bits) }).map(drop)
    }

    /// Connects the socket to `addr` (sends without an address go there, and only its
    /// datagrams are received), or disconnects it with `None`.
    ///
    /// # Errors
    ///
    /// `EISCONN` when connecting twice, `ENOTCONN` when disconnecting an unconnected socket;
    /// [`Error::CLOSED`].
    #[doc(alias = "uv_udp_connect")]
    pub fn connect(&self, addr: Option<SocketAddr>) -> Result<()> {
        let raw = self.0.raw()?;
        let rc = match addr {
            Some(addr) => {
                let sa = CSockAddr::new(&addr);
                // SAFETY: the handle is open; `sa` is a valid address.
                unsafe { uv_udp_connect(raw, sa.as_ptr()) }
            }
            // SAFETY: the handle is open; null disconnects.
            None => unsafe { uv_udp_connect(raw, std::ptr::null()) },
        };
        check(rc).map(drop)
    }

    /// Queues one datagram (the buffer kept alive until `cb`) to `addr`, or to the connected
    /// peer with `None`. Requests are pooled.
    ///
    /// # Errors
    ///
    /// `EDESTADDRREQ` without an address on an unconnected socket, `EISCONN` with one on a
    /// connected socket, `EMSGSIZE`; [`Error::CLOSED`].
    #[doc(alias = "uv_udp_send")]
    pub fn send(
        &self,
        buf: impl Into<WriteBuf>,
        addr: Option<SocketAddr>,
        cb: impl FnOnce(&Udp, Result<()>) + 'static,
    ) -> Result<()> {
        self.queue(Bufs::<[WriteBuf; 0]>::One(buf.into()), addr, Box::new(cb))
    }

    /// Queues one datagram gathered from several buffers.
    ///
    /// # Errors
    ///
    /// As for [`Udp::send`].
    #[doc(alias = "uv_udp_send")]
    pub fn send_vectored(
        &self,
        bufs: impl IntoIterator<Item = WriteBuf>,
        addr: Option<SocketAddr>,
        cb: impl FnOnce(&Udp, Result<()>) + 'static,
    ) -> Result<()> {
        self.queue(Bufs::Many(bufs), addr, Box::new(cb))
    }

    /// Queues a send of `bufs` to `addr` (or the connected peer) from the pool.
    fn queue<I: IntoIterator<Item = WriteBuf>>(
        &self,
        bufs: Bufs<I>,
        addr: Option<SocketAddr>,
        cb: DoneCb<Udp>,
    ) -> Result<()> {
        let raw = self.0.raw()?;
        let sa = addr.map(|a| CSockAddr::new(&a));
        let sa_ptr = sa
            .as_ref()
            .map_or(std::ptr::null(), |s| std::ptr::from_ref(s).cast());
        let start = |req: *mut uv_udp_send_t, ptr: *const uv_buf_t, count: u32| {
            // SAFETY: the handle is open; the buffers stay alive in the request until
            // `on_send`; libuv copies the address.
            unsafe { uv_udp_send(req, raw, ptr, count, sa_ptr, Some(on_send)) }
        };
        let pool = &self.0.state().send_pool;
        let cb = Some(WriteDone::Once(cb));
        match bufs {
            Bufs::One(buf) => pool.submit_one(buf, cb, start).map(drop),
            Bufs::Many(bufs) => pool.submit(bufs, cb, start),
        }
    }

    /// Sends one datagram now if the socket takes it, without a request: the bytes sent.
    ///
    /// # Errors
    ///
    /// `EAGAIN` if it cannot be sent now (or sends are queued); as for [`Udp::send`].
    #[doc(alias = "uv_udp_try_send")]
    pub fn try_send(&self, buf: &[u8], addr: Option<SocketAddr>) -> Result<usize> {
        let raw = self.0.raw()?;
        let sa = addr.map(|a| CSockAddr::new(&a));
        let sa_ptr = sa
            .as_ref()
            .map_or(std::ptr::null(), |s| std::ptr::from_ref(s).cast());
        let uv_buf = super::buf::uv_buf(buf)?; // libuv reads the bytes before returning
        // SAFETY: the handle is open; the buffer and address outlive the call.
        check(unsafe { uv_udp_try_send(raw, &uv_buf, 1, sa_ptr) }).map(|n| n as usize)
    }

    /// Starts receiving: `cb` gets each datagram (its bytes lent for the call) or an error.
    ///
    /// # Errors
    ///
    /// `EALREADY` if already receiving; [`Error::CLOSED`].
    #[doc(alias = "uv_udp_recv_start")]
    pub fn recv_start(&self, cb: impl FnMut(&Udp, Result<Datagram<'_>>) + 'static) -> Result<()> {
        let raw = self.0.raw()?;
        // SAFETY: the handle is open.
        check(unsafe { uv_udp_recv_start(raw, Some(alloc_read_buffer), Some(on_recv)) })?;
        // Installed only once libuv accepted the start: a refused start keeps the old one.
        self.0.state().recv_cb.set(Box::new(cb));
        Ok(())
    }

    /// Stops receiving.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`].
    #[doc(alias = "uv_udp_recv_stop")]
    pub fn recv_stop(&self) -> Result<()> {
        // SAFETY: the handle is open.
        check(unsafe { uv_udp_recv_stop(self.0.raw()?) }).map(drop)
    }

    /// Whether receiving uses `recvmmsg` (created with [`Udp::new_recvmmsg`] and supported).
    #[doc(alias = "uv_udp_using_recvmmsg")]
    pub fn using_recvmmsg(&self) -> bool {
        // SAFETY: the handle is open.
        self.0
            .raw()
            .is_ok_and(|raw| unsafe { uv_udp_using_recvmmsg(raw) } != 0)
    }

    /// Joins (`join`) or leaves a multicast group, on the interface with address `interface`
    /// (`None`: the system's choice).
    ///
    /// # Errors
    ///
    /// `EINVAL` for a non-multicast address, `ENODEV` for an unknown interface;
    /// [`Error::CLOSED`].
    #[doc(alias = "uv_udp_set_membership")]
    pub fn set_membership(
        &self,
        group: IpAddr,
        interface: Option<IpAddr>,
        join: bool,
    ) -> Result<()> {
        let raw = self.0.raw()?;
        let group = c_ip(group);
        let iface = interface.map(c_ip);
        let iface_ptr = iface.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        let how = if join {
            uv_membership_UV_JOIN_GROUP
        } else {
            uv_membership_UV_LEAVE_GROUP
        };
        // SAFETY: the handle is open; the strings outlive the call.
        check(unsafe { uv_udp_set_membership(raw, group.as_ptr(), iface_ptr, how) }).map(drop)
    }

    /// The interface outgoing multicast datagrams leave from (`None`: the default).
    ///
    /// # Errors
    ///
    /// `EINVAL`/`EADDRNOTAVAIL` for an address no interface has; [`Error::CLOSED`].
    #[doc(alias = "uv_udp_set_multicast_interface")]
    pub fn set_multicast_interface(&self, interface: Option<IpAddr>) -> Result<()> {
        let raw = self.0.raw()?;
        let iface = interface.map(c_ip);
        let ptr = iface.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        // SAFETY: the handle is open; the string outlives the call.
        check(unsafe { uv_udp_set_multicast_interface(raw, ptr) }).map(drop)
    }

    /// Whether multicast datagrams sent are looped back to this host.
    ///
    /// # Errors
    ///
    /// `EBADF` before the socket exists; [`Error::CLOSED`].
    #[doc(alias = "uv_udp_set_multicast_loop")]
    pub fn set_multicast_loop(&self, on: bool) -> Result<()> {
        // SAFETY: the handle is open.
        check(unsafe { uv_udp_set_multicast_loop(self.0.raw()?, on.into()) }).map(drop)
    }

    /// The multicast time-to-live (1 to 255).
    ///
    /// # Errors
    ///
    /// `EINVAL` out of range; [`Error::CLOSED`].
    #[doc(alias = "uv_udp_set_multicast_ttl")]
    pub fn set_multicast_ttl(&self, ttl: u32) -> Result<()> {
        let ttl = c_int::try_from(ttl).map_err(|_| Error::EINVAL)?;
        // SAFETY: the handle is open.
        check(unsafe { uv_udp_set_multicast_ttl(self.0.raw()?, ttl) }).map(drop)
    }

    /// The unicast time-to-live (1 to 255).
    ///
    /// # Errors
    ///
    /// `EINVAL` out of range; [`Error::CLOSED`].
    #[doc(alias = "uv_udp_set_ttl")]
    pub fn set_ttl(&self, ttl: u32) -> Result<()> {
        let ttl = c_int::try_from(ttl).map_err(|_| Error::EINVAL)?;
        // SAFETY: the handle is open.
        check(unsafe { uv_udp_set_ttl(self.0.raw()?, ttl) }).map(drop)
    }

    /// Allows sending to broadcast addresses (`SO_BROADCAST`).
    ///
    /// # Errors
    ///
    /// `EBADF` before the socket exists; [`Error::CLOSED`].
    #[doc(alias = "uv_udp_set_broadcast")]
    pub fn set_broadcast(&self, on: bool) -> Result<()> {
        // SAFETY: the handle is open.
        check(unsafe { uv_udp_set_broadcast(self.0.raw()?, on.into()) }).map(drop)
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// `EBADF` before the socket exists; [`Error::CLOSED`].
    #[doc(alias = "uv_udp_getsockname")]
    pub fn sockname(&self) -> Result<SocketAddr> {
        // SAFETY: the handle is open; the out-pointers are valid.
        self.name(|raw, sa, len| unsafe { uv_udp_getsockname(raw, sa, len) })
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `ENOTCONN` when not connected; [`Error::CLOSED`].
    #[doc(alias = "uv_udp_getpeername")]
    pub fn peername(&self) -> Result<SocketAddr> {
        // SAFETY: the handle is open; the out-pointers are valid.
        self.name(|raw, sa, len| unsafe { uv_udp_getpeername(raw, sa, len) })
    }

    fn name(
        &self,
        f: impl FnOnce(*const uv_udp_t, *mut sockaddr, *mut c_int) -> c_int,
    ) -> Result<SocketAddr> {
        let raw = self.0.raw()?;
        read_sockaddr(|sa, len| f(raw, sa, len))
    }

    super::tcp::buffer_size_methods!();

    /// The socket's descriptor (still owned by the handle).
    ///
    /// # Errors
    ///
    /// `EBADF` before the socket exists; [`Error::CLOSED`].
    #[doc(alias = "uv_fileno")]
    pub fn fileno(&self) -> Result<std::os::fd::RawFd> {
        let mut fd: uv_os_fd_t = -1;
        // SAFETY: the handle is open; `fd` is a valid out-pointer.
        check(unsafe { uv_fileno(self.0.raw()?, &mut fd) })?;
        Ok(fd)
    }

    /// Bytes queued for sending.
    #[doc(alias = "uv_udp_get_send_queue_size")]
    pub fn send_queue_size(&self) -> usize {
        // SAFETY: the handle is open.
        self.0
            .raw()
            .map_or(0, |raw| unsafe { uv_udp_get_send_queue_size(raw) })
    }

    /// Send requests queued.
    #[doc(alias = "uv_udp_get_send_queue_count")]
    pub fn send_queue_count(&self) -> usize {
        // SAFETY: the handle is open.
        self.0
            .raw()
            .map_or(0, |raw| unsafe { uv_udp_get_send_queue_count(raw) })
    }
}
