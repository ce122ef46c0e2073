//! [`UdpSocket`]: async datagrams over a uv `Udp` handle.
//!
//! Sending tries the socket first (`uv_udp_try_send`, no copy); only when the socket would
//! block is a copy of the datagram queued with a send request. Receiving runs in the
//! background from the first receive on: each datagram is copied out of the loop's read
//! buffer into a bounded queue, and a receive copies it again into the caller's buffer.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::channel::oneshot;

use crate::uv::{Error, Udp};

use super::executor::current;

/// Most datagrams the receive queue holds.
const MAX_QUEUED: usize = 1024;
/// Most payload bytes the receive queue holds.
const MAX_QUEUED_BYTES: usize = 4 << 20;

/// A received datagram and its sender, or a receive error.
type Item = io::Result<(Vec<u8>, SocketAddr)>;

/// What the socket and its background receive callback share.
#[derive(Default)]
struct RecvQueue {
    /// Datagrams (and receive errors) in arrival order.
    items: RefCell<VecDeque<Item>>,
    /// Payload bytes in `items`.
    bytes: Cell<usize>,
    /// Datagrams dropped because the queue was full.
    dropped: Cell<u64>,
    /// Whether `recv_start` ran.
    started: Cell<bool>,
    /// Receivers waiting (several tasks may receive on one socket through `&self`).
    wakers: RefCell<Vec<Waker>>,
}

impl RecvQueue {
    fn push(&self, item: Item) {
        let len = item.as_ref().map_or(0, |(d, _)| d.len());
        let mut items = self.items.borrow_mut();
        if items.len() >= MAX_QUEUED || self.bytes.get() + len > MAX_QUEUED_BYTES {
            self.dropped.set(self.dropped.get() + 1);
            return;
        }
        items.push_back(item);
        self.bytes.set(self.bytes.get() + len);
        drop(items);
        for w in self.wakers.take() {
            w.wake();
        }
    }

    fn pop(&self) -> Option<Item> {
        let item = self.items.borrow_mut().pop_front()?;
        let len = item.as_ref().map_or(0, |(d, _)| d.len());
        self.bytes.set(self.bytes.get() - len);
        Some(item)
    }

    fn wait(&self, cx: &Context<'_>) {
        let mut wakers = self.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
    }
}

/// A UDP socket on the current thread's loop.
///
/// # Receiving
///
/// The first receive starts receiving in the background: from then on every datagram is
/// copied into a queue that the receive methods take from, so datagrams keep arriving while no
/// receive is waiting. The queue is bounded, at 1024 datagrams or 4 MiB of payload; a
/// datagram that arrives when it is full is dropped (UDP gives no delivery guarantee anyway)
/// and counted by [`UdpSocket::dropped`]. A datagram longer than the buffer given to a receive
/// is truncated to it, and the rest of it is discarded, as `recv_from(2)` does.
///
/// Errors the socket reports while receiving (`ECONNREFUSED` on a connected socket when the
/// peer's port is closed) are queued in order with the datagrams and returned once each.
///
/// # Examples
///
/// ```
/// use rsuv::rt::{UdpSocket, block_on};
///
/// block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
///     let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
///     b.send_to(b"ping", a.local_addr()?).await?;
///     let mut buf = [0; 16];
///     let (n, from) = a.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], b.local_addr()?));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket {
    udp: Udp,
    queue: Rc<RecvQueue>,
}

impl UdpSocket {
    /// A socket bound to `addr` (port 0: the system picks one).
    ///
    /// # Errors
    ///
    /// `AddrInUse`, `AddrNotAvailable`, ... as `bind(2)` reports them.
    ///
    /// # Panics
    ///
    /// Outside [`block_on`](super::block_on).
    #[doc(alias = "uv_udp_bind")]
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        let ex = current().expect("UdpSocket::bind called outside block_on");
        let udp = Udp::new(&ex.lp)?;
        udp.bind(addr)?;
        Ok(UdpSocket {
            udp,
            queue: Rc::default(),
        })
    }

    /// Connects the socket to `addr`: [`send`](Self::send) goes there, and only its datagrams
    /// are received. No packet is sent.
    ///
    /// # Errors
    ///
    /// `EISCONN` if already connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsuv::rt::{UdpSocket, block_on};
    ///
    /// block_on(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    ///     let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    ///     a.connect(b.local_addr()?)?;
    ///     b.connect(a.local_addr()?)?;
    ///     a.send(b"over").await?;
    ///     let mut buf = [0; 2];
    ///     assert_eq!(b.recv(&mut buf).await?, 2, "truncated to the buffer");
    ///     assert_eq!(&buf, b"ov");
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "uv_udp_connect")]
    pub fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        Ok(self.udp.connect(Some(addr))?)
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// What `getsockname(2)` reports.
    #[doc(alias = "uv_udp_getsockname")]
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.udp.sockname()?)
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` when not connected.
    #[doc(alias = "uv_udp_getpeername")]
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.udp.peername()?)
    }

    /// Sends one datagram to `target`: the number of bytes sent (all of `buf`).
    ///
    /// The socket is tried first; if it would block, a copy of `buf` is queued and the future
    /// completes once libuv has sent it.
    ///
    /// # Errors
    ///
    /// `EISCONN` on a connected socket, `EMSGSIZE` for a datagram too large,
    /// and what `sendmsg(2)` reports (`ConnectionRefused` may report an earlier datagram's
    /// ICMP error).
    ///
    /// # Cancel safety
    ///
    /// Dropped before its first poll, nothing is sent. Dropped later, the datagram has been
    /// sent, or a copy of it is queued and is still sent (unless the socket is closed first);
    /// only the outcome is lost.
    #[doc(alias = "uv_udp_send")]
    pub async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.send_inner(buf, Some(target)).await
    }

    /// Sends one datagram to the connected peer: the number of bytes sent (all of `buf`).
    ///
    /// # Errors
    ///
    /// `EDESTADDRREQ` if the socket is not connected; as for
    /// [`send_to`](Self::send_to).
    ///
    /// # Cancel safety
    ///
    /// As for [`send_to`](Self::send_to).
    #[doc(alias = "uv_udp_send")]
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.send_inner(buf, None).await
    }

    async fn send_inner(&self, buf: &[u8], addr: Option<SocketAddr>) -> io::Result<usize> {
        match self.udp.try_send(buf, addr) {
            Err(Error::EAGAIN) => {}
            done => return Ok(done?),
        }
        let (tx, rx) = oneshot::channel();
        self.udp.send(buf.to_vec(), addr, move |_, r| {
            let _ = tx.send(r);
        })?;
        // A dropped sender: the handle closed under the request without calling it back.
        rx.await.unwrap_or(Err(Error::ECANCELED))?;
        Ok(buf.len())
    }

    /// Receives one datagram into `buf`: its length (at most `buf.len()`, truncated beyond)
    /// and its sender.
    ///
    /// # Errors
    ///
    /// A receive error the socket reported, once (`ConnectionRefused` on a connected socket
    /// whose peer has no socket on its port); `ENOTCONN` or another error if receiving cannot
    /// start.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a datagram leaves the queue only when a receive returns it.
    #[doc(alias = "uv_udp_recv_start")]
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Receives one datagram from the connected peer into `buf`: its length (truncated to
    /// `buf.len()`).
    ///
    /// # Errors
    ///
    /// As for [`recv_from`](Self::recv_from).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`recv_from`](Self::recv_from).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    /// Polls for a datagram, as [`recv_from`](Self::recv_from): with `Pending`, the task is
    /// woken when one arrives.
    ///
    /// # Errors
    ///
    /// As for [`recv_from`](Self::recv_from).
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        if let Err(e) = self.start() {
            return Poll::Ready(Err(e));
        }
        match self.queue.pop() {
            Some(Ok((data, from))) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                Poll::Ready(Ok((n, from)))
            }
            Some(Err(e)) => Poll::Ready(Err(e)),
            None => {
                self.queue.wait(cx);
                Poll::Pending
            }
        }
    }

    /// Starts the background receiving, once.
    fn start(&self) -> io::Result<()> {
        if self.queue.started.get() {
            return Ok(());
        }
        let queue = self.queue.clone();
        self.udp.recv_start(move |_, dgram| {
            queue.push(
                dgram
                    .map(|d| (d.data.to_vec(), d.addr))
                    .map_err(io::Error::from),
            )
        })?;
        self.queue.started.set(true);
        Ok(())
    }

    /// How many received datagrams were dropped because the receive queue was full.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped.get()
    }

    /// Allows sending to broadcast addresses (`SO_BROADCAST`).
    ///
    /// # Errors
    ///
    /// What `setsockopt(2)` reports.
    #[doc(alias = "uv_udp_set_broadcast")]
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        Ok(self.udp.set_broadcast(on)?)
    }

    /// The unicast time-to-live (1 to 255).
    ///
    /// # Errors
    ///
    /// `EINVAL` out of range.
    #[doc(alias = "uv_udp_set_ttl")]
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        Ok(self.udp.set_ttl(ttl)?)
    }

    /// The multicast time-to-live (1 to 255).
    ///
    /// # Errors
    ///
    /// `EINVAL` out of range.
    #[doc(alias = "uv_udp_set_multicast_ttl")]
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        Ok(self.udp.set_multicast_ttl(ttl)?)
    }

    /// Whether multicast datagrams sent are looped back to this host.
    ///
    /// # Errors
    ///
    /// What `setsockopt(2)` reports.
    #[doc(alias = "uv_udp_set_multicast_loop")]
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        Ok(self.udp.set_multicast_loop(on)?)
    }

    /// The interface (by its address) multicast datagrams leave from; `UNSPECIFIED`: the
    /// system's choice.
    ///
    /// # Errors
    ///
    /// `EADDRNOTAVAIL` for an address no interface has.
    #[doc(alias = "uv_udp_set_multicast_interface")]
    pub fn set_multicast_if_v4(&self, interface: Ipv4Addr) -> io::Result<()> {
        let iface = (!interface.is_unspecified()).then_some(IpAddr::V4(interface));
        Ok(self.udp.set_multicast_interface(iface)?)
    }

    /// Joins an IPv4 multicast group on the interface with address `interface`
    /// (`UNSPECIFIED`: the system's choice).
    ///
    /// # Errors
    ///
    /// `EINVAL` for a non-multicast address, `ENODEV` when no interface can join.
    #[doc(alias = "uv_udp_set_membership")]
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.membership(multiaddr.into(), interface.into(), true)
    }

    /// Leaves an IPv4 multicast group joined with [`join_multicast_v4`](Self::join_multicast_v4).
    ///
    /// # Errors
    ///
    /// `EADDRNOTAVAIL` if not a member.
    #[doc(alias = "uv_udp_set_membership")]
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.membership(multiaddr.into(), interface.into(), false)
    }

    /// Joins an IPv6 multicast group on the system's choice of interface.
    ///
    /// # Errors
    ///
    /// As for [`join_multicast_v4`](Self::join_multicast_v4).
    #[doc(alias = "uv_udp_set_membership")]
    pub fn join_multicast_v6(&self, multiaddr: Ipv6Addr) -> io::Result<()> {
        self.membership(multiaddr.into(), Ipv6Addr::UNSPECIFIED.into(), true)
    }

    /// Leaves an IPv6 multicast group.
    ///
    /// # Errors
    ///
    /// As for [`leave_multicast_v4`](Self::leave_multicast_v4).
    #[doc(alias = "uv_udp_set_membership")]
    pub fn leave_multicast_v6(&self, multiaddr: Ipv6Addr) -> io::Result<()> {
        self.membership(multiaddr.into(), Ipv6Addr::UNSPECIFIED.into(), false)
    }

    fn membership(&self, group: IpAddr, interface: IpAddr, join: bool) -> io::Result<()> {
        let iface = (!interface.is_unspecified()).then_some(interface);
        Ok(self.udp.set_membership(group, iface, join)?)
    }
}

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.udp.sockname().ok())
            .field("queued", &self.queue.items.borrow().len())
            .field("dropped", &self.dropped())
            .finish()
    }
}
