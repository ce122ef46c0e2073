//! What a [`TlsSession`](super::TlsSession) reports: its [`State`], its [`Event`]s, and the
//! [`HandshakeInfo`].

use openssl::x509::X509;

use super::error::TlsError;

/// Where a [`TlsSession`](super::TlsSession) is in its life.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// The first handshake is in progress (written plaintext is queued).
    Handshaking,
    /// Established: data flows both ways.
    Open,
    /// One direction is closed: our `close_notify` is queued or sent
    /// ([`shutdown`](super::TlsSession::shutdown)), or the peer's arrived; the other still works.
    Closing,
    /// Both directions are closed: `close_notify` both ways, or the transport ended.
    Closed,
    /// A fatal error: see the [`Event::Error`] it queued.
    Failed,
}

/// Something that happened in a [`TlsSession`](super::TlsSession), in order; see
/// [`next_event`](super::TlsSession::next_event).
#[non_exhaustive]
#[derive(Debug)]
pub enum Event {
    /// The handshake completed: [`info`](super::TlsSession::info) is now `Some`.
    HandshakeDone,
    /// New plaintext is in [`plaintext`](super::TlsSession::plaintext). At most one `Data` is queued
    /// at a time: it covers everything decrypted since the last one was taken.
    Data,
    /// The peer sent `close_notify`: no more data will come (after all `Data`).
    PeerClosed,
    /// The transport ended without `close_notify` (after all `Data`): the data may be
    /// incomplete.
    Truncated,
    /// A fatal error; the session is [`State::Failed`].
    Error(TlsError),
}

/// What the handshake settled.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct HandshakeInfo {
    /// The protocol version: `"TLSv1.3"` or `"TLSv1.2"`.
    pub version: &'static str,
    /// The cipher suite, in OpenSSL's naming (`"TLS_AES_256_GCM_SHA384"`).
    pub cipher: String,
    /// The protocol chosen by ALPN, if any.
    pub alpn: Option<Vec<u8>>,
    /// The peer's certificate: always on a client (unless verification is off and the server
    /// sent none); on a server, the client's when it sent one.
    pub peer_certificate: Option<X509>,
    /// Whether the session was resumed (no full handshake).
    pub session_reused: bool,
    /// On a server, the name the client asked for (SNI); on a client, the name it sent (none
    /// for an IP address).
    pub server_name: Option<String>,
}
