//! Error codes: [`Error`], a newtype over a libuv error code, and [`check`].

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::raw::c_char;

use libuv_sys2 as sys;
use sys::*;

/// A `Result` whose error is an [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A libuv error code (always negative), or one of rsuv's own misuse codes.
///
/// libuv's codes keep libuv's names and messages ([`Error::name`], `Display`). On Unix a libuv
/// code is the negated `errno`, so [`Error::raw_os_error`] gives the `errno` value back and
/// `io::Error::from(e)` carries it. rsuv adds two codes of its own, outside libuv's range, for
/// misuse that libuv itself would answer with an abort or undefined behaviour:
/// [`Error::CLOSED`] and [`Error::REENTRANT`].
///
/// # Examples
///
/// ```
/// use rsuv::Error;
/// assert_eq!(Error::ECONNREFUSED.name(), "ECONNREFUSED");
/// assert_eq!(Error::EOF.to_string(), "end of file (EOF)");
/// let io: std::io::Error = Error::ECONNREFUSED.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error(i32);

macro_rules! codes {
    ($($name:ident = $value:expr;)*) => {
        impl Error {
            $(
                #[doc = concat!("libuv's `UV_", stringify!($name), "`.")]
                pub const $name: Error = Error($value as i32);
            )*

            /// Every libuv code named here, with its name without the `UV_` prefix (for
            /// bindings that export the table, as pyuv's `pyuv.errno` does).
            pub const ALL: &'static [(&'static str, Error)] =
                &[$((stringify!($name), Error($value as i32)),)*];
        }
    };
}

codes! {
    E2BIG = uv_errno_t_UV_E2BIG;
    EACCES = uv_errno_t_UV_EACCES;
    EADDRINUSE = uv_errno_t_UV_EADDRINUSE;
    EADDRNOTAVAIL = uv_errno_t_UV_EADDRNOTAVAIL;
    EAFNOSUPPORT = uv_errno_t_UV_EAFNOSUPPORT;
    EAGAIN = uv_errno_t_UV_EAGAIN;
    EAI_ADDRFAMILY = uv_errno_t_UV_EAI_ADDRFAMILY;
    EAI_AGAIN = uv_errno_t_UV_EAI_AGAIN;
    EAI_BADFLAGS = uv_errno_t_UV_EAI_BADFLAGS;
    EAI_BADHINTS = uv_errno_t_UV_EAI_BADHINTS;
    EAI_CANCELED = uv_errno_t_UV_EAI_CANCELED;
    EAI_FAIL = uv_errno_t_UV_EAI_FAIL;
    EAI_FAMILY = uv_errno_t_UV_EAI_FAMILY;
    EAI_MEMORY = uv_errno_t_UV_EAI_MEMORY;
    EAI_NODATA = uv_errno_t_UV_EAI_NODATA;
    EAI_NONAME = uv_errno_t_UV_EAI_NONAME;
    EAI_OVERFLOW = uv_errno_t_UV_EAI_OVERFLOW;
    EAI_PROTOCOL = uv_errno_t_UV_EAI_PROTOCOL;
    EAI_SERVICE = uv_errno_t_UV_EAI_SERVICE;
    EAI_SOCKTYPE = uv_errno_t_UV_EAI_SOCKTYPE;
    EALREADY = uv_errno_t_UV_EALREADY;
    EBADF = uv_errno_t_UV_EBADF;
    EBUSY = uv_errno_t_UV_EBUSY;
    ECANCELED = uv_errno_t_UV_ECANCELED;
    ECHARSET = uv_errno_t_UV_ECHARSET;
    ECONNABORTED = uv_errno_t_UV_ECONNABORTED;
    ECONNREFUSED = uv_errno_t_UV_ECONNREFUSED;
    ECONNRESET = uv_errno_t_UV_ECONNRESET;
    EDESTADDRREQ = uv_errno_t_UV_EDESTADDRREQ;
    EEXIST = uv_errno_t_UV_EEXIST;
    EFAULT = uv_errno_t_UV_EFAULT;
    EFBIG = uv_errno_t_UV_EFBIG;
    EFTYPE = uv_errno_t_UV_EFTYPE;
    EHOSTDOWN = uv_errno_t_UV_EHOSTDOWN;
    EHOSTUNREACH = uv_errno_t_UV_EHOSTUNREACH;
    EILSEQ = uv_errno_t_UV_EILSEQ;
    EINTR = uv_errno_t_UV_EINTR;
    EINVAL = uv_errno_t_UV_EINVAL;
    EIO = uv_errno_t_UV_EIO;
    EISCONN = uv_errno_t_UV_EISCONN;
    EISDIR = uv_errno_t_UV_EISDIR;
    ELOOP = uv_errno_t_UV_ELOOP;
    EMFILE = uv_errno_t_UV_EMFILE;
    EMLINK = uv_errno_t_UV_EMLINK;
    EMSGSIZE = uv_errno_t_UV_EMSGSIZE;
    ENAMETOOLONG = uv_errno_t_UV_ENAMETOOLONG;
    ENETDOWN = uv_errno_t_UV_ENETDOWN;
    ENETUNREACH = uv_errno_t_UV_ENETUNREACH;
    ENFILE = uv_errno_t_UV_ENFILE;
    ENOBUFS = uv_errno_t_UV_ENOBUFS;
    ENODATA = uv_errno_t_UV_ENODATA;
    ENODEV = uv_errno_t_UV_ENODEV;
    ENOENT = uv_errno_t_UV_ENOENT;
    ENOEXEC = uv_errno_t_UV_ENOEXEC;
    ENOMEM = uv_errno_t_UV_ENOMEM;
    ENONET = uv_errno_t_UV_ENONET;
    ENOPROTOOPT = uv_errno_t_UV_ENOPROTOOPT;
    ENOSPC = uv_errno_t_UV_ENOSPC;
    ENOSYS = uv_errno_t_UV_ENOSYS;
    ENOTCONN = uv_errno_t_UV_ENOTCONN;
    ENOTDIR = uv_errno_t_UV_ENOTDIR;
    ENOTEMPTY = uv_errno_t_UV_ENOTEMPTY;
    ENOTSOCK = uv_errno_t_UV_ENOTSOCK;
    ENOTSUP = uv_errno_t_UV_ENOTSUP;
    ENOTTY = uv_errno_t_UV_ENOTTY;
    ENXIO = uv_errno_t_UV_ENXIO;
    EOF = uv_errno_t_UV_EOF;
    EOVERFLOW = uv_errno_t_UV_EOVERFLOW;
    EPERM = uv_errno_t_UV_EPERM;
    EPIPE = uv_errno_t_UV_EPIPE;
    EPROTO = uv_errno_t_UV_EPROTO;
    EPROTONOSUPPORT = uv_errno_t_UV_EPROTONOSUPPORT;
    EPROTOTYPE = uv_errno_t_UV_EPROTOTYPE;
    ERANGE = uv_errno_t_UV_ERANGE;
    EREMOTEIO = uv_errno_t_UV_EREMOTEIO;
    EROFS = uv_errno_t_UV_EROFS;
    ESHUTDOWN = uv_errno_t_UV_ESHUTDOWN;
    ESOCKTNOSUPPORT = uv_errno_t_UV_ESOCKTNOSUPPORT;
    ESPIPE = uv_errno_t_UV_ESPIPE;
    ESRCH = uv_errno_t_UV_ESRCH;
    ETIMEDOUT = uv_errno_t_UV_ETIMEDOUT;
    ETXTBSY = uv_errno_t_UV_ETXTBSY;
    EUNATCH = uv_errno_t_UV_EUNATCH;
    EXDEV = uv_errno_t_UV_EXDEV;
    UNKNOWN = uv_errno_t_UV_UNKNOWN;
}

const CLOSED_CODE: i32 = -30_001;
const REENTRANT_CODE: i32 = -30_002;

impl Error {
    /// rsuv's code for an operation on a handle (or loop) that is closing or closed, or on a
    /// request that has already completed.
    pub const CLOSED: Error = Error(CLOSED_CODE);
    /// rsuv's code for `Loop::run` called while that loop is already running (from a callback).
    pub const REENTRANT: Error = Error(REENTRANT_CODE);

    /// Wraps a raw code as returned by a libuv function (negative).
    pub const fn from_raw(code: i32) -> Error {
        Error(code)
    }

    /// The raw code: libuv's (negative) or one of rsuv's own.
    pub const fn code(self) -> i32 {
        self.0
    }

    /// The `errno` value this code stands for, if it is one: on Unix most libuv codes are
    /// `-errno`; `EOF`, the `EAI_*` codes, `ECHARSET`, `EFTYPE` and rsuv's codes are not.
    pub fn raw_os_error(self) -> Option<i32> {
        (self.0 < 0 && self.0 > -3000).then_some(-self.0)
    }

    /// The code's name: libuv's (`"ECONNRESET"`, `"EOF"`) or rsuv's (`"CLOSED"`, ...).
    #[doc(alias = "uv_err_name")]
    pub fn name(self) -> String {
        match self.0 {
            CLOSED_CODE => "CLOSED".into(),
            REENTRANT_CODE => "REENTRANT".into(),
            // SAFETY: uv_err_name_r writes at most `len` bytes, NUL-terminated, into `buf`.
            code => fill(|buf, len| unsafe { uv_err_name_r(code, buf, len) }),
        }
    }

    /// The code's message: libuv's (`"connection reset by peer"`) or rsuv's.
    #[doc(alias = "uv_strerror")]
    pub fn message(self) -> String {
        match self.0 {
            CLOSED_CODE => "handle is closing or closed, or request already completed".into(),
            REENTRANT_CODE => "loop is already running".into(),
            // SAFETY: uv_strerror_r writes at most `len` bytes, NUL-terminated, into `buf`.
            code => fill(|buf, len| unsafe { uv_strerror_r(code, buf, len) }),
        }
    }

    fn kind(self) -> io::ErrorKind {
        match self {
            Error::EOF => io::ErrorKind::UnexpectedEof,
            Error::CLOSED => io::ErrorKind::NotConnected,
            Error::REENTRANT => io::ErrorKind::WouldBlock,
            Error::ECANCELED => io::ErrorKind::Interrupted,
            _ => io::ErrorKind::Other,
        }
    }
}

fn fill(f: impl FnOnce(*mut c_char, usize) -> *mut c_char) -> String {
    let mut buf = [0 as c_char; 128];
    f(buf.as_mut_ptr(), buf.len());
    // SAFETY: libuv always NUL-terminates within the buffer it was given.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Turns a libuv return code into a `Result`: negative codes are errors, the rest is `Ok`.
///
/// This is the one place where a libuv code becomes an [`Error`].
///
/// # Examples
///
/// ```
/// use rsuv::{check, Error};
/// assert_eq!(check(3), Ok(3));
/// assert_eq!(check(Error::EAGAIN.code()), Err(Error::EAGAIN));
/// ```
pub fn check(rc: i32) -> Result<i32> {
    if rc < 0 { Err(Error(rc)) } else { Ok(rc) }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.name())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({}: {})", self.name(), self.message())
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e.raw_os_error() {
            Some(errno) => io::Error::from_raw_os_error(errno),
            None => io::Error::new(e.kind(), e),
        }
    }
}
