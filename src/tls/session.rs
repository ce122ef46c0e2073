//! [`TlsSession`]: one TLS connection as a sans-IO state machine. Ciphertext in, plaintext out,
//! and the other way round; the caller moves the bytes.

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;

use openssl::error::ErrorStack;
use openssl::ssl::Ssl;
use openssl::x509::verify::X509CheckFlags;

use super::bio::{Engine, Step};
use super::buffer::Buf;
use super::context::{Role, TlsContext};
use super::error::{TlsError, first_reason};
use super::event::{Event, HandshakeInfo, State};
use super::verify;

/// Most plaintext in one TLS record, and so in one `SSL_write`/`SSL_read`.
const RECORD: usize = 16 * 1024;
/// The most a record adds to its plaintext with the ciphers OpenSSL offers: header, explicit
/// IV or nonce, MAC or tag, padding and TLS 1.3's content type byte.
const RECORD_OVERHEAD: usize = 5 + 16 + 64 + 16 + 1;
/// Output buffers a session keeps for reuse: one per socket write in flight at once, as a
/// bulk sender has a few.
const SPARE_OUTPUTS: usize = 4;
const DEFAULT_READ_HIGH: usize = 256 * 1024;
const DEFAULT_READ_LOW: usize = 64 * 1024;

/// One TLS connection over memory buffers: no sockets, no clocks.
///
/// Feed it ciphertext from the transport with [`feed`](Self::feed) (and [`feed_eof`] at end of
/// stream); send whatever appears in [`output`](Self::output) (or [`take_output`]); read
/// plaintext from [`plaintext`](Self::plaintext) or [`read`](Self::read); write plaintext with
/// [`write`](Self::write); react to [`next_event`](Self::next_event). Check the output, the
/// plaintext and the events after every call: any call can produce them (a read can produce a
/// KeyUpdate reply, a consume can decrypt more).
///
/// [`feed_eof`]: Self::feed_eof
/// [`take_output`]: Self::take_output
///
/// # Examples
///
/// Client and server back to back:
///
/// ```no_run
/// use rsuv::tls::{Event, TlsContext, TlsSession};
/// # fn pems() -> (Vec<u8>, Vec<u8>, Vec<u8>) { unimplemented!() }
/// let (chain, key, ca) = pems();
/// let server_ctx = TlsContext::server().cert_chain_pem(&chain).private_key_pem(&key).build()?;
/// let client_ctx = TlsContext::client().ca_pem(&ca).build()?;
/// let mut server = TlsSession::server(&server_ctx)?;
/// let mut client = TlsSession::client(&client_ctx, "localhost")?;
/// client.write(b"hello")?;
/// while client.has_output() || server.has_output() {
///     server.feed(&client.take_output())?;
///     client.feed(&server.take_output())?;
/// }
/// assert_eq!(server.plaintext(), b"hello");
/// # Ok::<(), rsuv::tls::TlsError>(())
/// ```
pub struct TlsSession {
    engine: Engine,
    ctx: TlsContext,
    role: Role,
    state: State,
    handshake_done: bool,
    info: Option<HandshakeInfo>,
    sni: Option<String>,
    plain_in: Buf,
    plain_out: Buf,
    /// Output buffers given back, for reuse (at most `SPARE_OUTPUTS`).
    spare_out: Vec<Vec<u8>>,
    events: VecDeque<Event>,
    data_queued: bool,
    data_seen: bool,
    read_high: usize,
    read_low: usize,
    read_paused: bool,
    shutdown_requested: bool,
    close_notify_sent: bool,
    close_notify_received: bool,
    eof: bool,
    error: Option<TlsError>,
}

impl TlsSession {
    /// A client session for `server_name`: a DNS name (sent as SNI, and checked against the
    /// certificate) or an IP address, v4 or v6, optionally in brackets (checked against the
    /// certificate's IP SANs; no SNI is sent). The ClientHello is in [`output`](Self::output)
    /// on return.
    ///
    /// # Errors
    ///
    /// [`TlsError::Config`] for a server context or an empty name.
    pub fn client(ctx: &TlsContext, server_name: &str) -> Result<TlsSession, TlsError> {
        if ctx.role() != Role::Client {
            return Err(TlsError::config(
                "TlsSession::client needs a client context",
            ));
        }
        let name = strip_brackets(server_name);
        if name.is_empty() {
            return Err(TlsError::config("empty server name"));
        }
        let mut ssl = new_ssl(ctx)?;
        ssl.set_connect_state();
        let ip = name.parse::<IpAddr>().ok();
        if ctx.verifies() {
            let param = ssl.param_mut();
            let checked = match ip {
                Some(ip) => param.set_ip(ip),
                None => {
                    param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
                    param.set_host(name)
                }
            };
            checked.map_err(|e| TlsError::config_ssl(format!("server name {name:?}"), e))?;
        }
        if ip.is_none() {
            ssl.set_hostname(name)
                .map_err(|e| TlsError::config_ssl(format!("server name {name:?}"), e))?;
        }
        if let Some(cache) = ctx.session_cache() {
            verify::set_cache_key(&mut ssl, name);
            if let Some(session) = cache.get(name) {
                // SAFETY: the session comes from this context's own cache, made by a session of
                // this very context (set_session requires a session from a compatible context).
                // A failure only means a full handshake.
                let _ = unsafe { ssl.set_session(&session) };
            }
        }
        let sni = ip.is_none().then(|| name.to_owned());
        let mut session = TlsSession::new(ssl, ctx, sni)?;
        // Produce the ClientHello now; a failure here is queued like any other.
        let _ = session.drive();
        Ok(session)
    }

    /// A server session: waits for a ClientHello in [`feed`](Self::feed).
    ///
    /// # Errors
    ///
    /// [`TlsError::Config`] for a client context.
    pub fn server(ctx: &TlsContext) -> Result<TlsSession, TlsError> {
        if ctx.role() != Role::Server {
            return Err(TlsError::config(
                "TlsSession::server needs a server context",
            ));
        }
        let mut ssl = new_ssl(ctx)?;
        ssl.set_accept_state();
        TlsSession::new(ssl, ctx, None)
    }

    fn new(ssl: Ssl, ctx: &TlsContext, sni: Option<String>) -> Result<TlsSession, TlsError> {
        let engine =
            Engine::new(ssl).map_err(|e| TlsError::config_ssl("creating the session", e))?;
        Ok(TlsSession {
            engine,
            ctx: ctx.clone(),
            role: ctx.role(),
            state: State::Handshaking,
            handshake_done: false,
            info: None,
            sni,
            plain_in: Buf::default(),
            plain_out: Buf::default(),
            spare_out: Vec::new(),
            events: VecDeque::new(),
            data_queued: false,
            data_seen: false,
            read_high: DEFAULT_READ_HIGH,
            read_low: DEFAULT_READ_LOW,
            read_paused: false,
            shutdown_requested: false,
            close_notify_sent: false,
            close_notify_received: false,
            eof: false,
            error: None,
        })
    }

    /// Takes ciphertext from the transport, split anywhere, and processes as much of it as the
    /// read limits allow (the rest waits, see [`wants_input`](Self::wants_input)). Bytes after
    /// the peer's `close_notify` are ignored.
    ///
    /// # Errors
    ///
    /// A fatal TLS error ([`TlsError::Verification`], [`TlsError::Handshake`],
    /// [`TlsError::Protocol`]): the session is [`State::Failed`], an alert for the peer may be
    /// in [`output`](Self::output), and the same error is queued as [`Event::Error`] and
    /// returned by every later `feed`. [`TlsError::Closed`] after [`feed_eof`](Self::feed_eof).
    pub fn feed(&mut self, ciphertext: &[u8]) -> Result<(), TlsError> {
        if let Some(e) = &self.error {
            return Err(e.duplicate());
        }
        if self.eof {
            return Err(TlsError::Closed);
        }
        if self.close_notify_received || ciphertext.is_empty() {
            return Ok(());
        }
        // SAFETY: the guard is a local of this call, so the engine (in `self`) outlives it.
        let _lend = unsafe { self.engine.lend(ciphertext) };
        self.drive()
    }

    /// The transport reached end of stream.
    ///
    /// After the peer's `close_notify` this changes nothing. Otherwise every complete record
    /// already fed is decrypted (regardless of the read limits), so that all the data stays
    /// readable, then [`Event::Truncated`] is queued and the session is [`State::Closed`].
    /// During the handshake it fails the session instead ([`TlsError::Handshake`]).
    pub fn feed_eof(&mut self) {
        if self.error.is_some() || self.eof {
            return;
        }
        self.eof = true;
        if !self.close_notify_received {
            if !self.handshake_done {
                let reason = "connection closed during the handshake (unexpected EOF)";
                self.set_failed(TlsError::Handshake {
                    reason: reason.into(),
                    source: None,
                });
                return;
            }
            if self.read_records(true).is_err() {
                return;
            }
            if !self.close_notify_received {
                self.events.push_back(Event::Truncated);
            }
        }
        self.read_paused = false;
        self.update_state();
    }

    /// Queues plaintext for the peer and encrypts what it can (records of at most 16 KiB).
    /// Takes every byte: before the handshake completes, or while a renegotiation is in
    /// progress, they wait and go out as soon as possible. See
    /// [`write_buffered`](Self::write_buffered) for backpressure.
    ///
    /// # Errors
    ///
    /// [`TlsError::Closed`] after [`shutdown`](Self::shutdown), the transport's end, or a
    /// failure; a fatal error met while encrypting (the session fails, as in
    /// [`feed`](Self::feed)).
    pub fn write(&mut self, plaintext: &[u8]) -> Result<usize, TlsError> {
        if self.error.is_some() || self.shutdown_requested || self.close_notify_sent || self.eof {
            return Err(TlsError::Closed);
        }
        let mut rest = plaintext;
        if self.plain_out.is_empty() && self.handshake_done {
            // Fast path: encrypt straight from the caller's buffer, into output with room for
            // every record of it.
            self.reserve_output(rest.len());
            while !rest.is_empty() {
                match self.write_record(&rest[..rest.len().min(RECORD)])? {
                    Some(n) => rest = &rest[n..],
                    None => break,
                }
            }
        }
        self.plain_out.extend(rest);
        Ok(plaintext.len())
    }

    /// Queues our `close_notify`, sent after all queued plaintext (and, if called during the
    /// handshake, once it completes). The session is then [`State::Closing`], and
    /// [`State::Closed`] once the peer's `close_notify` has arrived too. The session does not
    /// answer a peer's `close_notify` by itself: call this when [`Event::PeerClosed`] comes.
    /// Idempotent.
    ///
    /// # Errors
    ///
    /// [`TlsError::Closed`] on a failed session; a fatal error met while sending.
    pub fn shutdown(&mut self) -> Result<(), TlsError> {
        if self.error.is_some() {
            return Err(TlsError::Closed);
        }
        self.shutdown_requested = true;
        self.update_state();
        if self.handshake_done {
            self.send_close_notify()?;
        }
        Ok(())
    }

    /// Ciphertext waiting to be sent to the peer.
    pub fn output(&self) -> &[u8] {
        self.engine.io().output.as_slice()
    }

    /// Marks the first `n` bytes of [`output`](Self::output) as sent.
    pub fn consume_output(&mut self, n: usize) {
        self.engine.io_mut().output.consume(n);
    }

    /// Takes all pending ciphertext as an owned buffer (for a write that outlives this
    /// borrow). Give it back with [`recycle_output`](Self::recycle_output) once written, and
    /// the session reuses its allocation (it keeps a few, for writes that are in flight
    /// together).
    pub fn take_output(&mut self) -> Vec<u8> {
        let spare = self.spare_out.pop().unwrap_or_default();
        self.engine.io_mut().output.take(spare)
    }

    /// Returns a buffer from [`take_output`](Self::take_output) (or any `Vec`) for reuse.
    pub fn recycle_output(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 {
            return;
        }
        buf.clear();
        if self.spare_out.len() < SPARE_OUTPUTS {
            self.spare_out.push(buf);
        } else if let Some(smallest) = self.spare_out.iter_mut().min_by_key(|b| b.capacity()) {
            if smallest.capacity() < buf.capacity() {
                *smallest = buf;
            }
        }
    }

    /// Whether there is ciphertext to send.
    pub fn has_output(&self) -> bool {
        !self.engine.io().output.is_empty()
    }

    /// Decrypted bytes ready for the application.
    pub fn plaintext(&self) -> &[u8] {
        self.plain_in.as_slice()
    }

    /// Marks the first `n` bytes of [`plaintext`](Self::plaintext) as read. Going below the
    /// low-water mark resumes decrypting what was fed, which can produce plaintext, output and
    /// events (check them after this call).
    pub fn consume_plaintext(&mut self, n: usize) {
        self.plain_in.consume(n);
        if self.read_paused && self.plain_in.len() < self.read_low {
            self.read_paused = false;
            if self.error.is_none() {
                let _ = self.pump();
            }
        }
    }

    /// Takes all the plaintext as an owned buffer, leaving `spare` (cleared, its capacity kept)
    /// in its place: no copy, for a caller that hands the bytes on. Like consuming them, this
    /// may resume decrypting (check the output and events afterwards).
    pub fn take_plaintext(&mut self, spare: Vec<u8>) -> Vec<u8> {
        let taken = self.plain_in.take(spare);
        self.consume_plaintext(0); // resumes a paused read: the buffer is empty now
        taken
    }

    /// Copies plaintext into `buf` and consumes it; returns how many bytes (0 if none).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.plain_in.len());
        buf[..n].copy_from_slice(&self.plain_in.as_slice()[..n]);
        self.consume_plaintext(n);
        n
    }

    /// The next event, oldest first.
    pub fn next_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if matches!(event, Some(Event::Data)) {
            self.data_queued = false;
        }
        event
    }

    /// Where the session is.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the first handshake is still in progress.
    pub fn is_handshaking(&self) -> bool {
        !self.handshake_done && self.error.is_none() && !self.eof
    }

    /// Whether the transport should keep reading: `false` once the buffered plaintext reached
    /// the high-water mark (until it is consumed below the low-water mark), and once the peer
    /// closed, the transport ended or the session failed.
    pub fn wants_input(&self) -> bool {
        self.error.is_none() && !self.eof && !self.close_notify_received && !self.read_paused
    }

    /// Sets the read high- and low-water marks for buffered plaintext (defaults 256 KiB and
    /// 64 KiB). `low` is capped at `high`. Buffered plaintext can exceed `high` by at most one
    /// record (16 KiB).
    pub fn set_read_limits(&mut self, high: usize, low: usize) {
        self.read_high = high.max(1);
        self.read_low = low.min(self.read_high);
        if self.read_paused && self.plain_in.len() < self.read_low {
            self.consume_plaintext(0);
        }
    }

    /// Ciphertext fed but not processed yet: held back by the read limits, or part of an
    /// incomplete record.
    pub fn input_buffered(&self) -> usize {
        self.engine.input_pending()
    }

    /// Bytes written but not yet handed to the transport: queued plaintext plus pending
    /// ciphertext. Stop writing while this is large.
    pub fn write_buffered(&self) -> usize {
        self.plain_out.len() + self.engine.io().output.len()
    }

    /// What the handshake settled; `None` until [`Event::HandshakeDone`].
    pub fn info(&self) -> Option<&HandshakeInfo> {
        self.info.as_ref()
    }

    /// Whether the peer's `close_notify` has arrived.
    pub fn close_notify_received(&self) -> bool {
        self.close_notify_received
    }

    /// Whether our `close_notify` has been produced (it is in, or was taken from, the output).
    pub fn close_notify_sent(&self) -> bool {
        self.close_notify_sent
    }
}

/// Post-handshake operations.
impl TlsSession {
    /// Sends a TLS 1.3 KeyUpdate: our sending keys change, and with `update_requested` the
    /// peer is asked to change its own too (its reply is handled while reading).
    ///
    /// # Errors
    ///
    /// [`TlsError::Closed`] on a closed or failed session; [`TlsError::Protocol`] before the
    /// handshake completes or on TLS 1.2 (the session is unaffected), or a fatal error met
    /// while sending.
    pub fn key_update(&mut self, update_requested: bool) -> Result<(), TlsError> {
        self.check_post_handshake("key_update", "TLSv1.3")?;
        self.engine
            .key_update(update_requested)
            .map_err(|e| misuse("key_update", Some(e)))?;
        self.handshake_step()
    }

    /// Starts a TLS 1.2 renegotiation: on a server, sends a HelloRequest (the client's
    /// handshake then runs interleaved with data); on a client, sends a new ClientHello, which
    /// servers built by [`TlsContext`] refuse (the client then fails with "no renegotiation").
    /// Writes made meanwhile are queued until it completes.
    ///
    /// # Errors
    ///
    /// [`TlsError::Closed`] on a closed or failed session; [`TlsError::Protocol`] before the
    /// handshake completes or on TLS 1.3 (the session is unaffected), or a fatal error met
    /// while sending.
    pub fn renegotiate(&mut self) -> Result<(), TlsError> {
        self.check_post_handshake("renegotiate", "TLSv1.2")?;
        self.engine
            .renegotiate()
            .map_err(|e| misuse("renegotiate", Some(e)))?;
        self.handshake_step()
    }

    fn check_post_handshake(&self, what: &str, version: &str) -> Result<(), TlsError> {
        if self.error.is_some() || self.close_notify_sent || self.eof {
            return Err(TlsError::Closed);
        }
        match &self.info {
            None => Err(misuse(what, None)),
            Some(info) if info.version != version => Err(TlsError::Protocol {
                reason: format!("{what} needs {version}, the session is {}", info.version),
                source: None,
            }),
            Some(_) => Ok(()),
        }
    }

    /// Writes a scheduled post-handshake message, then whatever was waiting.
    fn handshake_step(&mut self) -> Result<(), TlsError> {
        let step = self.engine.handshake();
        if let Step::Failed(stack) = step {
            return Err(self.fail(stack));
        }
        self.pump()
    }
}

fn misuse(what: &str, source: Option<ErrorStack>) -> TlsError {
    let reason = match source.as_ref().and_then(first_reason) {
        Some(r) => format!("{what} refused: {r}"),
        None => format!("{what} needs a completed handshake"),
    };
    TlsError::Protocol { reason, source }
}

fn new_ssl(ctx: &TlsContext) -> Result<Ssl, TlsError> {
    let mut ssl =
        Ssl::new(ctx.ssl_context()).map_err(|e| TlsError::config_ssl("creating the session", e))?;
    verify::prepare(&mut ssl);
    Ok(ssl)
}

fn strip_brackets(name: &str) -> &str {
    name.strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name)
}

/// The engine room: handshake, reads, writes, close, failure.
impl TlsSession {
    /// Runs the handshake if it is not done, then everything else that can progress.
    fn drive(&mut self) -> Result<(), TlsError> {
        if let Some(e) = &self.error {
            return Err(e.duplicate());
        }
        if !self.handshake_done {
            let step = self.engine.handshake();
            match step {
                Step::Done(_) => self.handshake_completed(),
                Step::WantRead => return Ok(()),
                Step::PeerClosed => return Err(self.fail(ErrorStack::get())),
                Step::Failed(stack) => return Err(self.fail(stack)),
            }
        }
        self.pump()
    }

    /// After the handshake: queued writes, reads up to the limit, replies, queued writes again
    /// (a renegotiation may have completed), then a requested close_notify.
    fn pump(&mut self) -> Result<(), TlsError> {
        self.write_queued()?;
        self.read_records(false)?;
        self.write_queued()?;
        self.answer_key_update()?;
        self.send_close_notify()
    }

    /// OpenSSL sends the KeyUpdate a peer asked for only with the next `SSL_write`; send it
    /// now (the same message, scheduled by hand) so that it does not wait for data.
    fn answer_key_update(&mut self) -> Result<(), TlsError> {
        if !self.engine.key_update_pending() || self.close_notify_sent || self.engine.in_init() {
            return Ok(());
        }
        if self.engine.key_update(false).is_err() {
            return Ok(()); // not possible right now: the next write sends it
        }
        let step = self.engine.handshake();
        match step {
            Step::Failed(stack) => Err(self.fail(stack)),
            _ => Ok(()),
        }
    }

    fn handshake_completed(&mut self) {
        self.handshake_done = true;
        let ssl = self.engine.ssl();
        let server_name = match self.role {
            Role::Client => self.sni.clone(),
            Role::Server => ssl
                .servername(openssl::ssl::NameType::HOST_NAME)
                .map(str::to_owned),
        };
        self.info = Some(HandshakeInfo {
            version: ssl.version_str(),
            cipher: ssl
                .current_cipher()
                .map_or_else(String::new, |c| c.name().to_owned()),
            alpn: ssl.selected_alpn_protocol().map(<[u8]>::to_vec),
            peer_certificate: ssl.peer_certificate(),
            session_reused: ssl.session_reused(),
            server_name,
        });
        self.events.push_back(Event::HandshakeDone);
        self.update_state();
        self.keep_resumed_session();
    }

    /// A resumed TLS 1.2 client session may have been replaced by one with a renewed ticket,
    /// retiring the cached one; OpenSSL reports new sessions only after full handshakes, so
    /// keep the current one here.
    fn keep_resumed_session(&self) {
        let ssl = self.engine.ssl();
        let (Some(cache), Some(name)) = (self.ctx.session_cache(), verify::cache_key(ssl)) else {
            return;
        };
        if ssl.session_reused() && ssl.version_str() == "TLSv1.2" {
            if let Some(session) = ssl.session() {
                cache.put(name, session.to_owned());
            }
        }
    }

    /// Decrypts records into the plaintext buffer until OpenSSL wants more input, the peer
    /// closes, or (unless `unlimited`) the buffer reaches the high-water mark.
    fn read_records(&mut self, unlimited: bool) -> Result<(), TlsError> {
        while !self.close_notify_received {
            if !unlimited && self.plain_in.len() >= self.read_high {
                self.read_paused = true;
                return Ok(());
            }
            let step = self.engine.read(self.plain_in.tail(RECORD), RECORD);
            match step {
                Step::Done(0) => {}
                Step::Done(_) => {
                    self.data_arrived();
                    if self.engine.drained() {
                        return Ok(()); // the next read would only say WANT_READ
                    }
                }
                Step::WantRead => return Ok(()),
                Step::PeerClosed => self.peer_closed(),
                Step::Failed(stack) => return Err(self.fail(stack)),
            }
        }
        Ok(())
    }

    fn data_arrived(&mut self) {
        self.data_seen = true;
        if !self.data_queued {
            self.data_queued = true;
            self.events.push_back(Event::Data);
        }
    }

    fn peer_closed(&mut self) {
        self.close_notify_received = true;
        self.read_paused = false;
        self.events.push_back(Event::PeerClosed);
        self.update_state();
    }

    /// Encrypts queued plaintext until done or OpenSSL needs input (a renegotiation).
    fn write_queued(&mut self) -> Result<(), TlsError> {
        if !self.handshake_done || self.close_notify_sent {
            return Ok(());
        }
        self.reserve_output(self.plain_out.len());
        while !self.plain_out.is_empty() {
            let step = {
                let queued = self.plain_out.as_slice();
                self.engine.write(&queued[..queued.len().min(RECORD)])
            };
            match self.write_result(step)? {
                Some(n) => self.plain_out.consume(n),
                None => break,
            }
        }
        Ok(())
    }

    /// Room in the output for the records of `plaintext` bytes.
    fn reserve_output(&mut self, plaintext: usize) {
        let records = plaintext.div_ceil(RECORD);
        self.engine
            .io_mut()
            .output
            .reserve(plaintext + records * RECORD_OVERHEAD);
    }

    /// One `SSL_write` of at most a record: `Some(bytes taken)`, or `None` if it must wait.
    fn write_record(&mut self, chunk: &[u8]) -> Result<Option<usize>, TlsError> {
        let step = self.engine.write(chunk);
        self.write_result(step)
    }

    fn write_result(&mut self, step: Step) -> Result<Option<usize>, TlsError> {
        match step {
            Step::Done(n) => Ok(Some(n)),
            Step::WantRead => Ok(None),
            Step::PeerClosed => {
                if !self.close_notify_received {
                    self.peer_closed();
                }
                Ok(None)
            }
            Step::Failed(stack) => Err(self.fail(stack)),
        }
    }

    /// Sends our close_notify once asked to and everything queued before it is out.
    fn send_close_notify(&mut self) -> Result<(), TlsError> {
        if !self.shutdown_requested
            || self.close_notify_sent
            || !self.handshake_done
            || !self.plain_out.is_empty()
            || self.engine.in_init()
        {
            return Ok(());
        }
        let step = self.engine.shutdown();
        if let Step::Failed(stack) = step {
            return Err(self.fail(stack));
        }
        self.close_notify_sent = true;
        self.update_state();
        Ok(())
    }

    /// Fails the session with the error behind `stack`, returning it.
    fn fail(&mut self, stack: ErrorStack) -> TlsError {
        super::context::resume_callback_panic(); // the failure was a panic in the SNI callback
        let err = verify::failure(self.engine.ssl(), &stack).unwrap_or_else(|| {
            let reason = first_reason(&stack)
                .unwrap_or_else(|| "unexpected EOF or internal error".to_owned());
            let source = (!stack.errors().is_empty()).then_some(stack);
            if self.fails_handshake(&reason) {
                TlsError::Handshake { reason, source }
            } else {
                TlsError::Protocol { reason, source }
            }
        });
        self.set_failed(err)
    }

    /// Whether an error belongs to the handshake. A TLS 1.3 client finishes its handshake
    /// before the server has checked the client's Finished and certificate, so an alert that
    /// arrives before any data counts as a handshake failure too.
    fn fails_handshake(&self, reason: &str) -> bool {
        const HANDSHAKE_ALERTS: [&str; 5] = [
            "certificate",
            "unknown ca",
            "handshake failure",
            "access denied",
            "decrypt error",
        ];
        !self.handshake_done
            || (self.role == Role::Client
                && !self.data_seen
                && self.info.as_ref().is_some_and(|i| i.version == "TLSv1.3")
                && reason.contains("alert")
                && HANDSHAKE_ALERTS.iter().any(|a| reason.contains(a)))
    }

    fn set_failed(&mut self, err: TlsError) -> TlsError {
        self.plain_out.clear();
        self.read_paused = false;
        self.events.push_back(Event::Error(err.duplicate()));
        self.error = Some(err.duplicate());
        self.state = State::Failed;
        err
    }

    fn update_state(&mut self) {
        self.state = if self.error.is_some() {
            State::Failed
        } else if (self.close_notify_sent && self.close_notify_received)
            || (self.eof && !self.close_notify_received)
        {
            State::Closed
        } else if self.shutdown_requested || self.close_notify_sent || self.close_notify_received {
            State::Closing
        } else if self.handshake_done {
            State::Open
        } else {
            State::Handshaking
        };
    }
}

impl Drop for TlsSession {
    /// OpenSSL retires the session of a connection freed without `close_notify`; TLS 1.1 and
    /// later allow resuming it (RFC 4346, E.1), so unless the connection failed it is kept.
    fn drop(&mut self) {
        if self.error.is_none() && self.handshake_done {
            self.engine.keep_session();
        }
    }
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSession")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("plaintext", &self.plain_in.len())
            .field("queued", &self.plain_out.len())
            .field("output", &self.engine.io().output.len())
            .field("events", &self.events)
            .field("close_notify_sent", &self.close_notify_sent)
            .field("close_notify_received", &self.close_notify_received)
            .finish_non_exhaustive()
    }
}
