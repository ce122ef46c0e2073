//! [`TlsError`]: everything that can go wrong in the TLS layer, with OpenSSL's own reasons.

use std::fmt;
use std::io;

use openssl::error::ErrorStack;

/// A TLS failure: configuration, certificate verification, handshake, record protocol, or the
/// transport underneath.
///
/// The variants carry OpenSSL's reason strings (`"no shared cipher"`, `"hostname mismatch"`,
/// `"bad record mac"`) so that a message names the actual cause; [`source`] gives the OpenSSL
/// error stack where there is one. `TlsError::Truncated`, `Timeout` and `Io` are never produced
/// by [`TlsSession`](super::TlsSession) itself: they are for the layers above (a stream over a
/// socket), so that one error type covers a TLS connection end to end.
///
/// [`source`]: std::error::Error::source
///
/// # Examples
///
/// ```
/// use rsuv::tls::TlsError;
/// let e = TlsError::Verification { reason: "hostname mismatch".into(), code: 62, depth: 0 };
/// assert!(e.is_verification());
/// assert_eq!(e.to_string(), "certificate verify failed: hostname mismatch");
/// let io: std::io::Error = TlsError::Truncated.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::UnexpectedEof);
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum TlsError {
    /// Building a context failed: unreadable file, bad PEM, key not matching the certificate,
    /// a cipher list that selects nothing, inconsistent versions, an invalid server name.
    Config {
        /// What was being configured, and why it failed.
        what: String,
        /// OpenSSL's error stack, when OpenSSL refused it.
        source: Option<ErrorStack>,
    },
    /// The peer's certificate chain did not verify.
    Verification {
        /// OpenSSL's `X509_verify_cert_error_string`: `"hostname mismatch"`,
        /// `"unable to get local issuer certificate"`, `"certificate has expired"`, ...
        reason: String,
        /// The `X509_V_ERR_*` code.
        code: i32,
        /// Depth in the chain of the certificate that failed (0 = the peer's own).
        depth: u32,
    },
    /// The handshake failed for another reason: no shared cipher or version, an alert from the
    /// peer (`"tlsv13 alert certificate required"`), a missing client certificate.
    Handshake {
        /// OpenSSL's reason.
        reason: String,
        /// OpenSSL's error stack, when there is one.
        source: Option<ErrorStack>,
    },
    /// A fatal error after the handshake: a record that does not decrypt (`"bad record mac"`),
    /// a malformed message, a fatal alert from the peer.
    Protocol {
        /// OpenSSL's reason.
        reason: String,
        /// OpenSSL's error stack, when there is one.
        source: Option<ErrorStack>,
    },
    /// The session is closed (or failed): no more writing.
    Closed,
    /// The transport ended without a `close_notify` (for the layers above).
    Truncated,
    /// A handshake or shutdown took too long (for the layers above).
    Timeout,
    /// The transport failed (for the layers above).
    Io(io::Error),
}

impl TlsError {
    /// Whether this is a certificate verification failure.
    pub fn is_verification(&self) -> bool {
        matches!(self, TlsError::Verification { .. })
    }

    /// A configuration error without an OpenSSL stack.
    pub(crate) fn config(what: impl Into<String>) -> TlsError {
        TlsError::Config {
            what: what.into(),
            source: None,
        }
    }

    /// A configuration error from an OpenSSL stack; OpenSSL's first reason is appended to `what`.
    pub(crate) fn config_ssl(what: impl Into<String>, stack: ErrorStack) -> TlsError {
        let mut what = what.into();
        if let Some(reason) = first_reason(&stack) {
            what = format!("{what}: {reason}");
        }
        TlsError::Config {
            what,
            source: Some(stack),
        }
    }

    /// A copy of this error, for reporting one failure both as an `Err` and as an event
    /// (`io::Error` is not `Clone`: its kind and message are kept).
    pub(crate) fn duplicate(&self) -> TlsError {
        match self {
            TlsError::Config { what, source } => TlsError::Config {
                what: what.clone(),
                source: source.clone(),
            },
            TlsError::Verification {
                reason,
                code,
                depth,
            } => TlsError::Verification {
                reason: reason.clone(),
                code: *code,
                depth: *depth,
            },
            TlsError::Handshake { reason, source } => TlsError::Handshake {
                reason: reason.clone(),
                source: source.clone(),
            },
            TlsError::Protocol { reason, source } => TlsError::Protocol {
                reason: reason.clone(),
                source: source.clone(),
            },
            TlsError::Closed => TlsError::Closed,
            TlsError::Truncated => TlsError::Truncated,
            TlsError::Timeout => TlsError::Timeout,
            TlsError::Io(e) => TlsError::Io(io::Error::new(e.kind(), e.to_string())),
        }
    }
}

/// The reason that names a failure in an OpenSSL error stack (`"no shared cipher"`): the last
/// one from the SSL library (the TLS-level view: `"decryption failed or bad record mac"`
/// rather than the cipher provider's `"cipher operation failed"` below it), else the first.
pub(crate) fn first_reason(stack: &ErrorStack) -> Option<String> {
    let errors = stack.errors();
    let ssl = errors
        .iter()
        .rev()
        .filter(|e| e.library() == Some("SSL routines"))
        .find_map(|e| e.reason());
    ssl.or_else(|| errors.iter().find_map(|e| e.reason()))
        .map(str::to_owned)
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Config { what, .. } => write!(f, "TLS configuration error: {what}"),
            TlsError::Verification { reason, .. } => {
                write!(f, "certificate verify failed: {reason}")
            }
            TlsError::Handshake { reason, .. } => write!(f, "TLS handshake failed: {reason}"),
            TlsError::Protocol { reason, .. } => write!(f, "TLS protocol error: {reason}"),
            TlsError::Closed => f.write_str("TLS session is closed"),
            TlsError::Truncated => {
                f.write_str("TLS connection truncated: transport closed without close_notify")
            }
            TlsError::Timeout => f.write_str("TLS operation timed out"),
            TlsError::Io(e) => write!(f, "TLS transport error: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Config {
                source: Some(s), ..
            }
            | TlsError::Handshake {
                source: Some(s), ..
            }
            | TlsError::Protocol {
                source: Some(s), ..
            } => Some(s),
            TlsError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for TlsError {
    fn from(e: io::Error) -> TlsError {
        TlsError::Io(e)
    }
}

impl From<TlsError> for io::Error {
    /// `Truncated` becomes `UnexpectedEof`, `Closed` `NotConnected`, `Timeout` `TimedOut`, `Io`
    /// the inner error itself, and the rest `InvalidData` (`InvalidInput` for `Config`) with
    /// the `TlsError` as the inner error.
    fn from(e: TlsError) -> io::Error {
        if let TlsError::Io(inner) = e {
            return inner;
        }
        let kind = match &e {
            TlsError::Truncated => io::ErrorKind::UnexpectedEof,
            TlsError::Closed => io::ErrorKind::NotConnected,
            TlsError::Timeout => io::ErrorKind::TimedOut,
            TlsError::Config { .. } => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}
