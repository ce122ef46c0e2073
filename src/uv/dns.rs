//! DNS on the threadpool: [`getaddrinfo`] and [`getnameinfo`], cancellable through
//! [`DnsRequest`].

use std::ffi::{CStr, CString};
use std::net::SocketAddr;
use std::os::raw::{c_char, c_int};
use std::ptr;

use libuv_sys2::*;

use super::addr::{CSockAddr, from_sockaddr};
use super::error::{Error, Result, check};
use super::loop_::LoopHandle;
use super::req::{self, Pending, Request};

type AddrCb = Box<dyn FnOnce(Result<Vec<AddrInfo>>)>;
type NameCb = Box<dyn FnOnce(Result<(String, String)>)>;

/// Hints for [`getaddrinfo`], as in `getaddrinfo(3)`: the values are the C constants from the
/// `libc` crate. Zero (the default) means "any" for the first three fields and no flags.
///
/// # Examples
///
/// ```
/// let hints = rsuv::AddrInfoHints {
///     socktype: libc::SOCK_STREAM,
///     flags: libc::AI_NUMERICHOST,
///     ..Default::default()
/// };
/// assert_eq!(hints.family, libc::AF_UNSPEC);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AddrInfoHints {
    /// Address family: `AF_INET`, `AF_INET6`, or `AF_UNSPEC` (0) for both.
    pub family: i32,
    /// Socket type: `SOCK_STREAM`, `SOCK_DGRAM`, ... or 0 for any.
    pub socktype: i32,
    /// Protocol: `IPPROTO_TCP`, `IPPROTO_UDP`, ... or 0 for any.
    pub protocol: i32,
    /// `AI_*` flags: `AI_PASSIVE`, `AI_NUMERICHOST`, `AI_NUMERICSERV`, `AI_CANONNAME`, ...
    pub flags: i32,
}

impl AddrInfoHints {
    fn to_raw(self) -> libc::addrinfo {
        libc::addrinfo {
            ai_flags: self.flags,
            ai_family: self.family,
            ai_socktype: self.socktype,
            ai_protocol: self.protocol,
            ai_addrlen: 0,
            ai_addr: ptr::null_mut(),
            ai_canonname: ptr::null_mut(),
            ai_next: ptr::null_mut(),
        }
    }
}

/// One result of [`getaddrinfo`]: an address usable to create and connect (or bind) a socket.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AddrInfo {
    /// Address family: `AF_INET` or `AF_INET6`.
    pub family: i32,
    /// Socket type (`SOCK_STREAM`, ...).
    pub socktype: i32,
    /// Protocol (`IPPROTO_TCP`, ...).
    pub protocol: i32,
    /// The address and port.
    pub addr: SocketAddr,
    /// The canonical name of the host: only on the first result, and only when
    /// `AI_CANONNAME` was asked for.
    pub canonname: Option<String>,
}

/// A DNS lookup queued on the threadpool, seen from the loop thread: the handle to cancel it.
///
/// Like [`Work`](crate::Work), the request owns its memory and callback until the callback has
/// run: dropping the `DnsRequest` neither cancels nor frees anything.
#[doc(alias = "uv_getaddrinfo_t")]
#[doc(alias = "uv_getnameinfo_t")]
pub struct DnsRequest(Pending);

impl DnsRequest {
    /// Cancels the lookup if no threadpool thread has picked it up yet. Its callback then runs
    /// with `Err(Error::EAI_CANCELED)` (libuv's code for a cancelled DNS request) on a later
    /// loop iteration.
    ///
    /// # Errors
    ///
    /// As [`Work::cancel`](crate::Work::cancel): `EBUSY` once the lookup has started,
    /// [`Error::CLOSED`] once its callback has run or is running. Cancelling again a lookup
    /// already cancelled returns `Ok(())`.
    #[doc(alias = "uv_cancel")]
    pub fn cancel(&self) -> Result<()> {
        self.0.cancel()
    }

    /// Whether the request is still pending: its callback has not started yet.
    pub fn is_pending(&self) -> bool {
        self.0.is_pending()
    }
}

impl std::fmt::Debug for DnsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsRequest")
            .field("pending", &self.is_pending())
            .finish()
    }
}

fn c_string(s: Option<&str>) -> Result<Option<CString>> {
    s.map(CString::new).transpose().map_err(|_| Error::EINVAL)
}

fn c_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |s| s.as_ptr())
}

/// Resolves a host name and/or a service name to socket addresses, as `getaddrinfo(3)`, on
/// the threadpool; `cb` runs on the loop thread with the results, in the system's order.
///
/// A non-ASCII host name is converted to punycode (IDNA 2008) first. Results of families other
/// than `AF_INET` and `AF_INET6` are left out.
///
/// # Errors
///
/// Right away: `EINVAL` if both `node` and `service` are `None` or one holds a NUL byte
/// (also for some invalid international names); [`Error::CLOSED`] if the loop is closed. `cb`
/// is then dropped uncalled. Through `cb`: libuv's `EAI_*` codes (`Error::EAI_NONAME` for an
/// unknown host, `Error::EAI_CANCELED` after [`DnsRequest::cancel`], ...).
///
/// # Examples
///
/// ```
/// use rsuv::{AddrInfoHints, Loop, RunMode, getaddrinfo};
/// use std::net::SocketAddr;
///
/// let lp = Loop::new()?;
/// let hints = AddrInfoHints { socktype: libc::SOCK_STREAM, ..Default::default() };
/// getaddrinfo(&lp, Some("localhost"), Some("80"), Some(hints), |res| {
///     let addrs: Vec<SocketAddr> = res.unwrap().into_iter().map(|ai| ai.addr).collect();
///     assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
/// })?;
/// lp.run(RunMode::Default)?;
/// # Ok::<(), rsuv::Error>(())
/// ```
#[doc(alias = "uv_getaddrinfo")]
pub fn getaddrinfo(
    lp: &LoopHandle,
    node: Option<&str>,
    service: Option<&str>,
    hints: Option<AddrInfoHints>,
    cb: impl FnOnce(Result<Vec<AddrInfo>>) + 'static,
) -> Result<DnsRequest> {
    let (node, service) = (c_string(node)?, c_string(service)?);
    let hints = hints.map(AddrInfoHints::to_raw);
    let hints_ptr = hints.as_ref().map_or(ptr::null(), ptr::from_ref);
    let state: AddrCb = Box::new(cb);
    // SAFETY: `raw` is fresh memory of uv_req_size(UV_GETADDRINFO) bytes. The strings and hints
    // outlive the call, and libuv copies them before returning. libc's and libuv_sys2's
    // `addrinfo` are the same C struct.
    let start = |l, raw: *mut uv_req_t| unsafe {
        let hints = hints_ptr.cast::<addrinfo>();
        uv_getaddrinfo(
            l,
            raw.cast(),
            Some(on_addrinfo),
            c_ptr(&node),
            c_ptr(&service),
            hints,
        )
    };
    req::submit::<_, uv_getaddrinfo_t>(lp, state, start).map(DnsRequest)
}

/// [`getaddrinfo`] done on the calling thread, blocking until the answer (libuv's
/// synchronous form): for bindings whose API offers a blocking call (pyuv's
/// `dns.getaddrinfo` without a callback).
///
/// # Errors
///
/// [`Error::CLOSED`] if the loop is closed; libuv's `EAI_*` codes.
#[doc(alias = "uv_getaddrinfo")]
pub fn getaddrinfo_blocking(
    lp: &LoopHandle,
    node: Option<&str>,
    service: Option<&str>,
    hints: Option<AddrInfoHints>,
) -> Result<Vec<AddrInfo>> {
    let loop_raw = lp.0.raw()?;
    let (node, service) = (c_string(node)?, c_string(service)?);
    let hints = hints.map(AddrInfoHints::to_raw);
    let hints_ptr = hints.as_ref().map_or(ptr::null(), ptr::from_ref);
    let mem = req::ReqMem::new(uv_req_type_UV_GETADDRINFO);
    let raw = mem.raw_ptr().cast::<uv_getaddrinfo_t>();
    // SAFETY: `raw` is fresh zeroed request memory; with no callback libuv resolves before
    // returning and leaves the list in `raw.addrinfo`; the strings and hints outlive the call.
    let rc = unsafe {
        uv_getaddrinfo(
            loop_raw,
            raw,
            None,
            c_ptr(&node),
            c_ptr(&service),
            hints_ptr.cast(),
        )
    };
    // SAFETY: the synchronous call has finished; `addrinfo` is its list or null.
    let res = unsafe { (*raw).addrinfo };
    // SAFETY: on success `res` is the list made by getaddrinfo(3), with libc's layout.
    let out = check(rc).map(|_| unsafe { collect(res.cast()) });
    // SAFETY: `res` is that list (or null, which libuv accepts), freed once, not used after.
    unsafe { uv_freeaddrinfo(res) };
    drop(mem);
    out
}

/// [`getnameinfo`] done on the calling thread, blocking until the answer.
///
/// # Errors
///
/// [`Error::CLOSED`] if the loop is closed; libuv's `EAI_*` codes.
#[doc(alias = "uv_getnameinfo")]
pub fn getnameinfo_blocking(
    lp: &LoopHandle,
    addr: SocketAddr,
    flags: i32,
) -> Result<(String, String)> {
    let loop_raw = lp.0.raw()?;
    let sa = CSockAddr::new(&addr);
    let mem = req::ReqMem::new(uv_req_type_UV_GETNAMEINFO);
    let raw = mem.raw_ptr().cast::<uv_getnameinfo_t>();
    // SAFETY: fresh zeroed request memory; with no callback libuv answers before returning,
    // into the request's `host` and `service` arrays.
    let rc = unsafe { uv_getnameinfo(loop_raw, raw, None, sa.as_ptr(), flags) };
    check(rc)?;
    // SAFETY: on success both arrays hold NUL-terminated strings.
    let names = unsafe {
        (
            string((*raw).host.as_ptr()),
            string((*raw).service.as_ptr()),
        )
    };
    drop(mem);
    Ok((names.0.unwrap_or_default(), names.1.unwrap_or_default()))
}

/// Runs on the loop thread once the lookup is done or cancelled.
unsafe extern "C" fn on_addrinfo(raw: *mut uv_getaddrinfo_t, status: c_int, res: *mut addrinfo) {
    // SAFETY: `raw` was submitted by `getaddrinfo`; this is its completion.
    let req = unsafe { Request::<AddrCb, uv_getaddrinfo_t>::complete(raw.cast()) };
    let Some(req) = req else { return };
    // SAFETY: on success `res` is the list made by getaddrinfo(3), with libc's layout.
    let result = check(status).map(|_| unsafe { collect(res.cast()) });
    // SAFETY: `res` is that list (or null, which libuv accepts), freed once, not used after.
    unsafe { uv_freeaddrinfo(res) };
    req.finish(|cb| cb(result));
}

/// Copies an `addrinfo` list.
///
/// # Safety
///
/// `ai` must be null or the head of a valid `addrinfo` list.
unsafe fn collect(mut ai: *const libc::addrinfo) -> Vec<AddrInfo> {
    let mut out = Vec::new();
    // SAFETY: per the contract, each node is valid or null.
    while let Some(a) = unsafe { ai.as_ref() } {
        // SAFETY: getaddrinfo(3) gives each node a valid `ai_addr` of `ai_addrlen` bytes.
        if let Some(addr) = unsafe { from_sockaddr(a.ai_addr) } {
            out.push(AddrInfo {
                family: a.ai_family,
                socktype: a.ai_socktype,
                protocol: a.ai_protocol,
                addr,
                // SAFETY: a non-null `ai_canonname` is a NUL-terminated string.
                canonname: unsafe { string(a.ai_canonname) },
            });
        }
        ai = a.ai_next;
    }
    out
}

/// Copies a C string (lossily, if it is not UTF-8): `None` for null.
///
/// # Safety
///
/// `s` must be null or a NUL-terminated string.
unsafe fn string(s: *const c_char) -> Option<String> {
    // SAFETY: per the contract.
    (!s.is_null()).then(|| unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned())
}

/// Resolves a socket address to a host name and a service name, as `getnameinfo(3)`, on the
/// threadpool; `cb` runs on the loop thread with `(host, service)`. `flags` are `NI_*` flags
/// (`NI_NUMERICHOST`, `NI_NUMERICSERV`, `NI_NAMEREQD`, ...) from the `libc` crate.
///
/// # Errors
///
/// Right away: [`Error::CLOSED`] if the loop is closed (`cb` is dropped uncalled). Through
/// `cb`: libuv's `EAI_*` codes (`Error::EAI_CANCELED` after [`DnsRequest::cancel`], ...).
///
/// # Examples
///
/// ```
/// use rsuv::{Loop, RunMode, getnameinfo};
///
/// let lp = Loop::new()?;
/// let addr = "127.0.0.1:80".parse().unwrap();
/// getnameinfo(&lp, addr, libc::NI_NUMERICHOST | libc::NI_NUMERICSERV, |res| {
///     assert_eq!(res.unwrap(), ("127.0.0.1".to_string(), "80".to_string()));
/// })?;
/// lp.run(RunMode::Default)?;
/// # Ok::<(), rsuv::Error>(())
/// ```
#[doc(alias = "uv_getnameinfo")]
pub fn getnameinfo(
    lp: &LoopHandle,
    addr: SocketAddr,
    flags: i32,
    cb: impl FnOnce(Result<(String, String)>) + 'static,
) -> Result<DnsRequest> {
    let sa = CSockAddr::new(&addr);
    let state: NameCb = Box::new(cb);
    // SAFETY: `raw` is fresh memory of uv_req_size(UV_GETNAMEINFO) bytes. `sa` holds a
    // sockaddr_in or sockaddr_in6 (libc's and libuv_sys2's `sockaddr` are the same C struct),
    // which libuv copies before returning.
    let start = |l, raw: *mut uv_req_t| unsafe {
        uv_getnameinfo(l, raw.cast(), Some(on_nameinfo), sa.as_ptr(), flags)
    };
    req::submit::<_, uv_getnameinfo_t>(lp, state, start).map(DnsRequest)
}

/// Runs on the loop thread once the lookup is done or cancelled.
unsafe extern "C" fn on_nameinfo(
    raw: *mut uv_getnameinfo_t,
    status: c_int,
    host: *const c_char,
    service: *const c_char,
) {
    // SAFETY: `raw` was submitted by `getnameinfo`; this is its completion.
    let req = unsafe { Request::<NameCb, uv_getnameinfo_t>::complete(raw.cast()) };
    let Some(req) = req else { return };
    // SAFETY: on success both are NUL-terminated strings inside the request's memory, which
    // `finish` frees only after this copy.
    let names = unsafe { (string(host), string(service)) };
    let result = check(status).map(|_| (names.0.unwrap_or_default(), names.1.unwrap_or_default()));
    req.finish(|cb| cb(result));
}

/// The system's `EAI_*` code and message (`gai_strerror`) for one of libuv's `EAI_*` errors,
/// as Python's `socket.gaierror` carries them; `None` for other errors (libuv reports
/// `EAI_SYSTEM` as the `errno` it carries).
///
/// # Examples
///
/// ```
/// let (code, msg) = rsuv::gai_error(rsuv::Error::EAI_NONAME).unwrap();
/// assert_eq!(code, libc::EAI_NONAME);
/// assert!(!msg.is_empty());
/// ```
pub fn gai_error(e: Error) -> Option<(i32, String)> {
    // glibc's values (netdb.h); libc does not define all of them.
    let code = match e {
        Error::EAI_BADFLAGS => -1,
        Error::EAI_NONAME => -2,
        Error::EAI_AGAIN => -3,
        Error::EAI_FAIL => -4,
        Error::EAI_NODATA => -5,
        Error::EAI_FAMILY => -6,
        Error::EAI_SOCKTYPE => -7,
        Error::EAI_SERVICE => -8,
        Error::EAI_ADDRFAMILY => -9,
        Error::EAI_MEMORY => -10,
        Error::EAI_OVERFLOW => -12,
        Error::EAI_CANCELED => -101,
        _ => return None,
    };
    // SAFETY: gai_strerror returns a static NUL-terminated string for any code.
    let msg = unsafe { CStr::from_ptr(libc::gai_strerror(code)) };
    Some((code, msg.to_string_lossy().into_owned()))
}
