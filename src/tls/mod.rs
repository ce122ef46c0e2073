//! TLS over memory buffers: OpenSSL sessions that know nothing of sockets.
//!
//! A [`TlsContext`] holds the configuration (certificates, trust, ALPN, SNI, versions, the
//! client's session cache) and is shared by many [`TlsSession`]s. A session is a sans-IO state
//! machine in the style of rustls: the caller feeds it ciphertext from any transport and sends
//! what it outputs; it never blocks, never touches a socket, and reports what happened as
//! [`Event`]s. OpenSSL runs over a BIO on the session's own buffers. The stream over `uv::Tcp` is built on this.
//!
//! # Examples
//!
//! ```
//! use rsuv::tls::{State, TlsContext, TlsSession};
//! let ctx = TlsContext::client().system_roots(false).build()?;
//! let session = TlsSession::client(&ctx, "example.com")?;
//! assert_eq!(session.state(), State::Handshaking);
//! assert!(session.has_output()); // the ClientHello, ready to send
//! # Ok::<(), rsuv::tls::TlsError>(())
//! ```

mod async_stream;
mod bio;
mod buf_bio;
mod buffer;
mod context;
mod error;
mod event;
mod session;
mod stream;
mod verify;

pub use async_stream::AsyncTlsStream;
pub use context::{ClientAuth, ClientBuilder, ServerBuilder, TlsContext, Version};
pub use error::TlsError;
pub use event::{Event, HandshakeInfo, State};
pub use session::TlsSession;
pub use stream::{HANDSHAKE_TIMEOUT, SHUTDOWN_TIMEOUT, TlsRead, TlsStream};
