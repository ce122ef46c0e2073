//! Name resolution on libuv's threadpool: [`lookup_host`] (`getaddrinfo`) and
//! [`lookup_addr`] (`getnameinfo`).

use std::io;
use std::net::{IpAddr, SocketAddr};

use futures::channel::oneshot;

use crate::uv::{AddrInfoHints, DnsRequest, Error, getaddrinfo, getnameinfo};

use super::executor::current;

/// Cancels a lookup still queued when its future is dropped.
struct CancelOnDrop(DnsRequest);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let _ = self.0.cancel(); // EBUSY (running) or CLOSED (done): nothing to do
    }
}

/// Whether `host` looks like a numeric address (digits and dots, or an IPv6 literal): such a
/// name is resolved with `AI_NUMERICHOST`, so it never reaches DNS.
fn numeric_looking(host: &str) -> bool {
    !host.is_empty()
        && (host.contains(':') || host.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// Resolves `host` to the socket addresses of `port`, with `getaddrinfo(3)` on libuv's
/// threadpool: `/etc/hosts`, DNS, ... in the system's order, one address per IP (stream
/// sockets), IPv4 and IPv6.
///
/// An IP address parses at once, without a lookup. A name made of digits and dots (or with a
/// colon) is only parsed as a numeric address (`AI_NUMERICHOST`), never looked up: forms that
/// `inet_aton(3)` accepts, such as `127.1`, resolve; others are an error.
///
/// # Errors
///
/// `InvalidInput` for a name with a NUL byte; libuv's `EAI_*` codes (`EAI_NONAME` for an
/// unknown host, `EAI_AGAIN` when DNS fails) as errors of kind `Other` that carry the
/// [`rsuv::Error`](crate::Error).
///
/// # Panics
///
/// Outside [`block_on`](super::block_on).
///
/// # Cancel safety
///
/// Dropping the future cancels the lookup if no pool thread has started it; a lookup already
/// running finishes and its result is dropped. Nothing else is lost.
///
/// # Examples
///
/// ```
/// use rsuv::rt::{block_on, lookup_host};
///
/// let addrs = block_on(lookup_host("localhost", 80))?;
/// assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "uv_getaddrinfo")]
pub async fn lookup_host(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let ex = current().expect("lookup_host called outside block_on");
    let hints = AddrInfoHints {
        socktype: libc::SOCK_STREAM,
        flags: libc::AI_NUMERICSERV
            | if numeric_looking(host) {
                libc::AI_NUMERICHOST
            } else {
                0
            },
        ..Default::default()
    };
    let (tx, rx) = oneshot::channel();
    let service = port.to_string();
    let req = getaddrinfo(&ex.lp, Some(host), Some(&service), Some(hints), move |r| {
        let _ = tx.send(r);
    })?;
    let _cancel = CancelOnDrop(req);
    let infos = rx.await.unwrap_or(Err(Error::EAI_CANCELED))?;
    let mut addrs: Vec<SocketAddr> = Vec::with_capacity(infos.len());
    for addr in infos.into_iter().map(|ai| ai.addr) {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    Ok(addrs)
}

/// The host name of `addr`, with `getnameinfo(3)` on libuv's threadpool (`/etc/hosts`,
/// reverse DNS, ...); its numeric form if it has no name.
///
/// # Errors
///
/// libuv's `EAI_*` codes as errors of kind `Other` that carry the
/// [`rsuv::Error`](crate::Error).
///
/// # Panics
///
/// Outside [`block_on`](super::block_on).
///
/// # Cancel safety
///
/// As for [`lookup_host`].
///
/// # Examples
///
/// ```
/// use rsuv::rt::{block_on, lookup_addr};
///
/// let name = block_on(lookup_addr("127.0.0.1:80".parse().unwrap()))?;
/// assert!(!name.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "uv_getnameinfo")]
pub async fn lookup_addr(addr: SocketAddr) -> io::Result<String> {
    let ex = current().expect("lookup_addr called outside block_on");
    let (tx, rx) = oneshot::channel();
    let req = getnameinfo(&ex.lp, addr, 0, move |r| {
        let _ = tx.send(r);
    })?;
    let _cancel = CancelOnDrop(req);
    let (host, _service) = rx.await.unwrap_or(Err(Error::EAI_CANCELED))?;
    Ok(host)
}
