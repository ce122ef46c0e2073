//! Conversions between [`SocketAddr`] and C socket addresses, for DNS, TCP and UDP.
//!
//! These use `libc`'s types. libuv's functions take `libuv_sys2`'s bindgen copies of the same C
//! structs (`sockaddr`, `addrinfo`); pointers are cast between the two at the call sites.

use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ptr;

/// A C socket address sized for IPv4 or IPv6 only (no 128-byte `sockaddr_storage` to zero on
/// every UDP send).
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) union CSockAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

impl CSockAddr {
    pub(crate) fn new(addr: &SocketAddr) -> CSockAddr {
        match addr {
            SocketAddr::V4(a) => CSockAddr {
                v4: libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                },
            },
            SocketAddr::V6(a) => CSockAddr {
                v6: libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                },
            },
        }
    }

    /// The address for libuv (libuv_sys2 declares the same C `sockaddr`).
    pub(crate) fn as_ptr(&self) -> *const libuv_sys2::sockaddr {
        ptr::from_ref(self).cast()
    }
}

/// Reads the address a libuv `getsockname`/`getpeername` call writes through `f`.
pub(crate) fn read_sockaddr(
    f: impl FnOnce(*mut libuv_sys2::sockaddr, *mut std::os::raw::c_int) -> std::os::raw::c_int,
) -> super::error::Result<SocketAddr> {
    // SAFETY: plain data; all-zero is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as std::os::raw::c_int;
    super::error::check(f((&raw mut storage).cast(), &mut len))?;
    // SAFETY: libuv filled `storage` with an address (same C struct in libc and libuv_sys2).
    let addr = unsafe { from_sockaddr((&raw const storage).cast()) };
    addr.ok_or(super::error::Error::EAFNOSUPPORT)
}

/// The Rust address of a C socket address: `None` for a null pointer or a family other than
/// `AF_INET` and `AF_INET6`.
///
/// # Safety
///
/// `sa` must be null or point to a readable socket address: its family field, and for
/// `AF_INET` (`AF_INET6`) a whole `sockaddr_in` (`sockaddr_in6`). It need not be aligned.
pub(crate) unsafe fn from_sockaddr(sa: *const libc::sockaddr) -> Option<SocketAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: per the contract the family field is readable; this makes no reference.
    let family = unsafe { ptr::read_unaligned(&raw const (*sa).sa_family) };
    match i32::from(family) {
        libc::AF_INET => {
            // SAFETY: per the contract an AF_INET address is a whole sockaddr_in.
            let sin = unsafe { ptr::read_unaligned(sa.cast::<libc::sockaddr_in>()) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)).into())
        }
        libc::AF_INET6 => {
            // SAFETY: per the contract an AF_INET6 address is a whole sockaddr_in6.
            let sin6 = unsafe { ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>()) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Some(SocketAddrV6::new(ip, port, sin6.sin6_flowinfo, sin6.sin6_scope_id).into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(addr: SocketAddr) -> Option<SocketAddr> {
        let c = CSockAddr::new(&addr);
        // SAFETY: `c` holds the address just written.
        unsafe { from_sockaddr(c.as_ptr().cast()) }
    }

    #[test]
    fn ipv4_round_trips_in_network_order() {
        let addr: SocketAddr = "192.0.2.7:8080".parse().unwrap();
        let c = CSockAddr::new(&addr);
        // SAFETY: `c` holds a sockaddr_in.
        let sin = unsafe { &*c.as_ptr().cast::<libc::sockaddr_in>() };
        assert_eq!(i32::from(sin.sin_family), libc::AF_INET);
        assert_eq!(sin.sin_port, 8080u16.to_be());
        assert_eq!(sin.sin_addr.s_addr.to_ne_bytes(), [192, 0, 2, 7]);
        assert_eq!(round_trip(addr), Some(addr));
    }

    #[test]
    fn ipv6_round_trips_with_flowinfo_and_scope() {
        let addr = SocketAddr::V6(SocketAddrV6::new(
            "fe80::1:2".parse().unwrap(),
            443,
            0x12345,
            3,
        ));
        assert_eq!(round_trip(addr), Some(addr));
    }

    #[test]
    fn null_and_other_families_are_none() {
        // SAFETY: null is allowed.
        assert_eq!(unsafe { from_sockaddr(ptr::null()) }, None);
        // SAFETY: all-zero bytes are a valid sockaddr_storage.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        storage.ss_family = libc::AF_UNIX as libc::sa_family_t;
        let sa = ptr::from_ref(&storage).cast();
        // SAFETY: `storage` is a readable socket address.
        assert_eq!(unsafe { from_sockaddr(sa) }, None);
    }
}
