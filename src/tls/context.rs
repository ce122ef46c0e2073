//! [`TlsContext`] and its two builders: certificates, keys, trust, ALPN, SNI, versions.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    AlpnError, NameType, SniError, SslContext, SslContextBuilder, SslContextRef, SslMethod,
    SslOptions, SslRef, SslSession, SslSessionCacheMode, SslVerifyMode, SslVersion,
};
use openssl::x509::X509;

use super::error::TlsError;
use super::verify;

/// A TLS protocol version. rsuv speaks TLS 1.2 and 1.3 only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl Version {
    fn ssl(self) -> SslVersion {
        match self {
            Version::Tls12 => SslVersion::TLS1_2,
            Version::Tls13 => SslVersion::TLS1_3,
        }
    }
}

/// Whether a server asks for, and insists on, a client certificate (mutual TLS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ClientAuth {
    /// No client certificate is requested (the default).
    #[default]
    None,
    /// A certificate is requested; a client without one is accepted, one that sends a
    /// certificate that does not verify is refused.
    Optional,
    /// A verified client certificate is required.
    Required,
}

/// Which end of a connection a context is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Client,
    Server,
}

/// Shared TLS configuration for many sessions: certificates, keys, trust anchors, ALPN, and
/// (for clients) a session cache for resumption.
///
/// Cheap to clone (an `Arc` inside) and `Send + Sync`: build one per configuration and hand
/// it to every [`TlsSession`](super::TlsSession), on any thread.
///
/// # Examples
///
/// ```
/// use rsuv::tls::{TlsContext, Version};
/// let client = TlsContext::client()
///     .alpn(&["h2", "http/1.1"])
///     .min_version(Version::Tls12)
///     .build()?;
/// assert!(!client.is_server());
/// # Ok::<(), rsuv::tls::TlsError>(())
/// ```
#[derive(Clone)]
pub struct TlsContext {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: SslContext,
    role: Role,
    verify: bool,
    cache: Option<Arc<SessionCache>>,
}

impl TlsContext {
    /// Starts configuring a server context.
    pub fn server() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Starts configuring a client context (system roots, verification and resumption on).
    pub fn client() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Whether this context is for servers.
    pub fn is_server(&self) -> bool {
        self.inner.role == Role::Server
    }

    pub(crate) fn ssl_context(&self) -> &SslContextRef {
        &self.inner.ctx
    }

    pub(crate) fn role(&self) -> Role {
        self.inner.role
    }

    /// Whether a client built on this context verifies the server.
    pub(crate) fn verifies(&self) -> bool {
        self.inner.verify
    }

    pub(crate) fn session_cache(&self) -> Option<&SessionCache> {
        self.inner.cache.as_deref()
    }
}

impl fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsContext")
            .field("role", &self.inner.role)
            .field("verify", &self.inner.verify)
            .field("session_resumption", &self.inner.cache.is_some())
            .finish_non_exhaustive()
    }
}

/// Client sessions kept for resumption, keyed by the server name the session was made for.
pub(crate) struct SessionCache {
    map: Mutex<HashMap<String, SslSession>>,
}

/// More names than this and the cache is emptied (a bound, not an LRU).
const SESSION_CACHE_MAX: usize = 1024;

impl SessionCache {
    pub(crate) fn get(&self, name: &str) -> Option<SslSession> {
        self.map.lock().ok()?.get(name).cloned()
    }

    pub(crate) fn put(&self, name: &str, session: SslSession) {
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        if map.len() >= SESSION_CACHE_MAX && !map.contains_key(name) {
            map.clear();
        }
        map.insert(name.to_owned(), session);
    }
}

/// A PEM given as bytes or as a file to read when the context is built.
#[derive(Clone, Debug)]
enum Pem {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl Pem {
    fn load(&self, what: &str) -> Result<Vec<u8>, TlsError> {
        match self {
            Pem::Bytes(b) => Ok(b.clone()),
            Pem::File(p) => std::fs::read(p).map_err(|e| {
                TlsError::config(format!("cannot read {what} file {}: {e}", p.display()))
            }),
        }
    }

    fn certs(&self, what: &str) -> Result<Vec<X509>, TlsError> {
        let pem = self.load(what)?;
        let certs = X509::stack_from_pem(&pem)
            .map_err(|e| TlsError::config_ssl(format!("bad {what} PEM"), e))?;
        if certs.is_empty() {
            return Err(TlsError::config(format!("no certificate in {what} PEM")));
        }
        Ok(certs)
    }

    fn key(&self, what: &str) -> Result<PKey<Private>, TlsError> {
        let pem = self.load(what)?;
        PKey::private_key_from_pem(&pem)
            .map_err(|e| TlsError::config_ssl(format!("bad {what} PEM"), e))
    }
}

/// Settings both builders have.
#[derive(Clone, Debug, Default)]
struct Common {
    alpn: Vec<String>,
    min: Option<Version>,
    max: Option<Version>,
    ciphers: Option<String>,
    ciphersuites: Option<String>,
}

impl Common {
    fn apply(&self, b: &mut SslContextBuilder) -> Result<(), TlsError> {
        let min = self.min.unwrap_or(Version::Tls12);
        let max = self.max.unwrap_or(Version::Tls13);
        if min > max {
            return Err(TlsError::config(format!(
                "min_version {min:?} is above max_version {max:?}"
            )));
        }
        b.set_min_proto_version(Some(min.ssl()))
            .and_then(|()| b.set_max_proto_version(Some(max.ssl())))
            .map_err(|e| TlsError::config_ssl("protocol versions", e))?;
        if let Some(list) = &self.ciphers {
            b.set_cipher_list(list)
                .map_err(|e| TlsError::config_ssl(format!("cipher list {list:?}"), e))?;
        }
        if let Some(list) = &self.ciphersuites {
            b.set_ciphersuites(list)
                .map_err(|e| TlsError::config_ssl(format!("TLS 1.3 ciphersuites {list:?}"), e))?;
        }
        b.set_options(SslOptions::NO_COMPRESSION);
        Ok(())
    }

    /// The ALPN list in wire format (length-prefixed names).
    fn alpn_wire(&self) -> Result<Vec<u8>, TlsError> {
        let mut wire = Vec::new();
        for p in &self.alpn {
            let len = u8::try_from(p.len())
                .ok()
                .filter(|&l| l > 0)
                .ok_or_else(|| TlsError::config(format!("invalid ALPN protocol name {p:?}")))?;
            wire.push(len);
            wire.extend_from_slice(p.as_bytes());
        }
        Ok(wire)
    }
}

macro_rules! common_setters {
    () => {
        /// ALPN protocols, most preferred first (`"h2"`, `"http/1.1"`).
        pub fn alpn(mut self, protocols: &[&str]) -> Self {
            self.common.alpn = protocols.iter().map(|p| (*p).to_owned()).collect();
            self
        }

        /// The lowest protocol version accepted (default TLS 1.2).
        pub fn min_version(mut self, v: Version) -> Self {
            self.common.min = Some(v);
            self
        }

        /// The highest protocol version offered (default TLS 1.3).
        pub fn max_version(mut self, v: Version) -> Self {
            self.common.max = Some(v);
            self
        }

        /// The TLS 1.2 cipher list, in OpenSSL's syntax (`"ECDHE+AESGCM"`).
        pub fn ciphers(mut self, list: &str) -> Self {
            self.common.ciphers = Some(list.to_owned());
            self
        }

        /// The TLS 1.3 ciphersuites, in OpenSSL's syntax (`"TLS_AES_128_GCM_SHA256"`).
        pub fn ciphersuites(mut self, list: &str) -> Self {
            self.common.ciphersuites = Some(list.to_owned());
            self
        }
    };
}

/// A callback choosing a server context by the name the client sent (SNI).
type SniFn = dyn Fn(&str) -> Option<TlsContext> + Send + Sync;

/// Configures a server [`TlsContext`]; made by [`TlsContext::server`].
///
/// # Examples
///
/// ```no_run
/// use rsuv::tls::{ClientAuth, TlsContext};
/// let ctx = TlsContext::server()
///     .cert_chain_pem_file("server.pem")
///     .private_key_pem_file("server.key")
///     .alpn(&["h2", "http/1.1"])
///     .client_auth(ClientAuth::Optional)
///     .client_ca_pem_file("ca.pem")
///     .build()?;
/// # Ok::<(), rsuv::tls::TlsError>(())
/// ```
#[derive(Clone)]
pub struct ServerBuilder {
    common: Common,
    chain: Option<Pem>,
    key: Option<Pem>,
    client_auth: ClientAuth,
    client_ca: Vec<Pem>,
    sni: Option<Arc<SniFn>>,
    session_id_context: Vec<u8>,
    tickets: bool,
}

impl Default for ServerBuilder {
    fn default() -> ServerBuilder {
        ServerBuilder {
            common: Common::default(),
            chain: None,
            key: None,
            client_auth: ClientAuth::None,
            client_ca: Vec::new(),
            sni: None,
            session_id_context: b"rsuv".to_vec(),
            tickets: true,
        }
    }
}

impl ServerBuilder {
    common_setters!();

    /// The certificate chain, PEM: the server's own certificate first, then intermediates.
    pub fn cert_chain_pem(mut self, pem: &[u8]) -> Self {
        self.chain = Some(Pem::Bytes(pem.to_vec()));
        self
    }

    /// Like [`cert_chain_pem`](Self::cert_chain_pem), read from a file by `build`.
    pub fn cert_chain_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        self.chain = Some(Pem::File(path.as_ref().to_owned()));
        self
    }

    /// The private key of the chain's first certificate, PEM (PKCS#8, or traditional RSA/EC).
    pub fn private_key_pem(mut self, pem: &[u8]) -> Self {
        self.key = Some(Pem::Bytes(pem.to_vec()));
        self
    }

    /// Like [`private_key_pem`](Self::private_key_pem), read from a file by `build`.
    pub fn private_key_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        self.key = Some(Pem::File(path.as_ref().to_owned()));
        self
    }

    /// Whether to ask for a client certificate (default [`ClientAuth::None`]); needs
    /// [`client_ca_pem`](Self::client_ca_pem).
    pub fn client_auth(mut self, mode: ClientAuth) -> Self {
        self.client_auth = mode;
        self
    }

    /// CA certificates (PEM, one or more) that client certificates must chain to; their names
    /// are also sent to clients in the certificate request. May be called more than once.
    pub fn client_ca_pem(mut self, pem: &[u8]) -> Self {
        self.client_ca.push(Pem::Bytes(pem.to_vec()));
        self
    }

    /// Like [`client_ca_pem`](Self::client_ca_pem), read from a file by `build`.
    pub fn client_ca_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        self.client_ca.push(Pem::File(path.as_ref().to_owned()));
        self
    }

    /// Chooses the context by the server name the client asks for (SNI): return another server
    /// context to use its certificate (and ALPN, and client authentication mode), or `None` to
    /// keep this one. Not called when the client sends no name. A panic in `f` fails the
    /// handshake and is resumed from the [`TlsSession`](super::TlsSession) call that ran it
    /// (`feed`); it never unwinds through OpenSSL.
    pub fn sni(mut self, f: impl Fn(&str) -> Option<TlsContext> + Send + Sync + 'static) -> Self {
        self.sni = Some(Arc::new(f));
        self
    }

    /// The session id context for TLS 1.2 resumption (default `b"rsuv"`, at most 32 bytes):
    /// sessions only resume on servers with the same one.
    pub fn session_id_context(mut self, sid: &[u8]) -> Self {
        self.session_id_context = sid.to_vec();
        self
    }

    /// Whether to issue stateless session tickets (default `true`). Without them TLS 1.2
    /// resumes by session id and TLS 1.3 by stateful tickets, both from this context's cache.
    pub fn session_tickets(mut self, on: bool) -> Self {
        self.tickets = on;
        self
    }

    /// Builds the context.
    ///
    /// # Errors
    ///
    /// [`TlsError::Config`] naming the cause: a file that cannot be read, bad PEM, no
    /// certificate or key, a key that does not match the certificate, client authentication
    /// without client CAs, versions or cipher lists OpenSSL refuses.
    pub fn build(self) -> Result<TlsContext, TlsError> {
        let mut b = SslContextBuilder::new(SslMethod::tls_server())
            .map_err(|e| TlsError::config_ssl("creating the server context", e))?;
        self.common.apply(&mut b)?;
        self.apply_identity(&mut b)?;
        self.apply_client_auth(&mut b)?;
        self.apply_alpn(&mut b)?;
        if let Some(f) = self.sni.clone() {
            b.set_servername_callback(move |ssl, _alert| select_context(ssl, &*f));
        }
        b.set_session_id_context(&self.session_id_context)
            .map_err(|e| TlsError::config_ssl("session id context (at most 32 bytes)", e))?;
        b.set_options(SslOptions::NO_RENEGOTIATION | SslOptions::CIPHER_SERVER_PREFERENCE);
        if !self.tickets {
            b.set_options(SslOptions::NO_TICKET);
        }
        Ok(TlsContext {
            inner: Arc::new(Inner {
                ctx: b.build(),
                role: Role::Server,
                verify: self.client_auth != ClientAuth::None,
                cache: None,
            }),
        })
    }

    fn apply_identity(&self, b: &mut SslContextBuilder) -> Result<(), TlsError> {
        let (Some(chain), Some(key)) = (&self.chain, &self.key) else {
            return Err(TlsError::config(
                "a server context needs a certificate chain and a private key",
            ));
        };
        let mut certs = chain.certs("certificate chain")?.into_iter();
        let leaf = certs.next().expect("certs() returns at least one");
        b.set_certificate(&leaf)
            .map_err(|e| TlsError::config_ssl("server certificate", e))?;
        for c in certs {
            b.add_extra_chain_cert(c)
                .map_err(|e| TlsError::config_ssl("intermediate certificate", e))?;
        }
        let key = key.key("private key")?;
        check_pair(&leaf, &key, "private key does not match the certificate")?;
        b.set_private_key(&key)
            .map_err(|e| TlsError::config_ssl("private key", e))?;
        b.check_private_key()
            .map_err(|e| TlsError::config_ssl("private key", e))
    }

    fn apply_client_auth(&self, b: &mut SslContextBuilder) -> Result<(), TlsError> {
        let mode = match self.client_auth {
            ClientAuth::None => return Ok(()),
            ClientAuth::Optional => SslVerifyMode::PEER,
            ClientAuth::Required => SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
        };
        if self.client_ca.is_empty() {
            return Err(TlsError::config("client_auth needs client_ca_pem"));
        }
        for pem in &self.client_ca {
            for ca in pem.certs("client CA")? {
                b.add_client_ca(&ca)
                    .and_then(|()| b.cert_store_mut().add_cert(ca))
                    .map_err(|e| TlsError::config_ssl("client CA", e))?;
            }
        }
        verify::install(b, mode);
        Ok(())
    }

    fn apply_alpn(&self, b: &mut SslContextBuilder) -> Result<(), TlsError> {
        if self.common.alpn.is_empty() {
            return Ok(());
        }
        let ours = self.common.alpn_wire()?;
        b.set_alpn_select_callback(move |_ssl, offered| {
            select_alpn(&ours, offered).ok_or(AlpnError::NOACK)
        });
        Ok(())
    }
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("common", &self.common)
            .field("client_auth", &self.client_auth)
            .field("sni", &self.sni.is_some())
            .field("session_tickets", &self.tickets)
            .finish_non_exhaustive()
    }
}

/// The first of `ours` (wire format) that the client also offered: the server's preference.
fn select_alpn<'a>(ours: &[u8], offered: &'a [u8]) -> Option<&'a [u8]> {
    wire_names(ours).find_map(|want| wire_names(offered).find(|&got| got == want))
}

/// The names in a wire-format ALPN list (stops at a malformed entry).
fn wire_names(mut wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (&len, rest) = wire.split_first()?;
        let name = rest.get(..len as usize)?;
        wire = &rest[len as usize..];
        Some(name)
    })
}

thread_local! {
    /// A panic caught in a user callback that OpenSSL ran on this thread, not yet resumed.
    static CALLBACK_PANIC: std::cell::Cell<Option<Box<dyn std::any::Any + Send>>> =
        const { std::cell::Cell::new(None) };
}

/// Resumes a panic caught in a user callback (the SNI selector) during the OpenSSL call that
/// just failed on this thread.
pub(crate) fn resume_callback_panic() {
    if let Some(payload) = CALLBACK_PANIC.take() {
        std::panic::resume_unwind(payload);
    }
}

/// The SNI callback: switch to the context the user's function picks for the name.
fn select_context(ssl: &mut SslRef, f: &SniFn) -> Result<(), SniError> {
    let Some(name) = ssl.servername(NameType::HOST_NAME).map(str::to_owned) else {
        return Ok(());
    };
    // The user's callback runs inside OpenSSL's: a panic must not unwind through C. It is
    // kept, the handshake fails, and the session call that ran OpenSSL resumes it.
    let chosen = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&name)));
    let Some(ctx) = chosen.map_err(|p| {
        CALLBACK_PANIC.set(Some(p));
        SniError::ALERT_FATAL
    })?
    else {
        return Ok(());
    };
    if ctx.role() != Role::Server {
        return Err(SniError::ALERT_FATAL);
    }
    ssl.set_ssl_context(ctx.ssl_context())
        .map_err(|_| SniError::ALERT_FATAL)?;
    // SSL_set_SSL_CTX takes the certificate but not the verify mode: take that too.
    verify::set_mode(ssl, ctx.ssl_context().verify_mode());
    Ok(())
}

/// Configures a client [`TlsContext`]; made by [`TlsContext::client`].
///
/// # Examples
///
/// ```
/// use rsuv::tls::TlsContext;
/// let ctx = TlsContext::client().system_roots(false).verify(false).build()?;
/// # Ok::<(), rsuv::tls::TlsError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    common: Common,
    system_roots: bool,
    cas: Vec<Pem>,
    verify: bool,
    client_cert: Option<(Pem, Pem)>,
    resumption: bool,
}

impl Default for ClientBuilder {
    fn default() -> ClientBuilder {
        ClientBuilder {
            common: Common::default(),
            system_roots: true,
            cas: Vec::new(),
            verify: true,
            client_cert: None,
            resumption: true,
        }
    }
}

impl ClientBuilder {
    common_setters!();

    /// Whether to trust the system's CA certificates (default `true`).
    pub fn system_roots(mut self, on: bool) -> Self {
        self.system_roots = on;
        self
    }

    /// Trusts these CA certificates (PEM, one or more) too. May be called more than once.
    pub fn ca_pem(mut self, pem: &[u8]) -> Self {
        self.cas.push(Pem::Bytes(pem.to_vec()));
        self
    }

    /// Like [`ca_pem`](Self::ca_pem), read from a file by `build`.
    pub fn ca_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        self.cas.push(Pem::File(path.as_ref().to_owned()));
        self
    }

    /// Whether to verify the server's certificate chain and name (default `true`).
    ///
    /// **Dangerous** when `false`: any certificate is accepted, for any name, so anyone on the
    /// path can impersonate the server. For tests only.
    pub fn verify(mut self, on: bool) -> Self {
        self.verify = on;
        self
    }

    /// A client certificate (chain PEM, own certificate first) and its private key (PEM), for
    /// servers that ask for one.
    pub fn client_cert_pem(mut self, chain: &[u8], key: &[u8]) -> Self {
        self.client_cert = Some((Pem::Bytes(chain.to_vec()), Pem::Bytes(key.to_vec())));
        self
    }

    /// Like [`client_cert_pem`](Self::client_cert_pem), read from files by `build`.
    pub fn client_cert_pem_file(mut self, chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        let chain = Pem::File(chain.as_ref().to_owned());
        self.client_cert = Some((chain, Pem::File(key.as_ref().to_owned())));
        self
    }

    /// Whether to keep sessions for resumption (default `true`): a cache in the context, keyed
    /// by server name. TLS 1.3 tickets arrive after the handshake, while reading.
    pub fn session_resumption(mut self, on: bool) -> Self {
        self.resumption = on;
        self
    }

    /// Builds the context.
    ///
    /// # Errors
    ///
    /// [`TlsError::Config`] naming the cause: a file that cannot be read, bad PEM, a client key
    /// that does not match its certificate, versions or cipher lists OpenSSL refuses.
    pub fn build(self) -> Result<TlsContext, TlsError> {
        let mut b = SslContextBuilder::new(SslMethod::tls_client())
            .map_err(|e| TlsError::config_ssl("creating the client context", e))?;
        self.common.apply(&mut b)?;
        self.apply_trust(&mut b)?;
        self.apply_client_cert(&mut b)?;
        if !self.common.alpn.is_empty() {
            b.set_alpn_protos(&self.common.alpn_wire()?)
                .map_err(|e| TlsError::config_ssl("ALPN protocols", e))?;
        }
        let cache = self.resumption.then(|| install_cache(&mut b));
        Ok(TlsContext {
            inner: Arc::new(Inner {
                ctx: b.build(),
                role: Role::Client,
                verify: self.verify,
                cache,
            }),
        })
    }

    fn apply_trust(&self, b: &mut SslContextBuilder) -> Result<(), TlsError> {
        if self.system_roots {
            b.set_default_verify_paths()
                .map_err(|e| TlsError::config_ssl("system CA certificates", e))?;
        }
        for pem in &self.cas {
            for ca in pem.certs("CA")? {
                b.cert_store_mut()
                    .add_cert(ca)
                    .map_err(|e| TlsError::config_ssl("CA certificate", e))?;
            }
        }
        if self.verify {
            verify::install(b, SslVerifyMode::PEER);
        } else {
            b.set_verify(SslVerifyMode::NONE);
        }
        Ok(())
    }

    fn apply_client_cert(&self, b: &mut SslContextBuilder) -> Result<(), TlsError> {
        let Some((chain, key)) = &self.client_cert else {
            return Ok(());
        };
        let mut certs = chain.certs("client certificate")?.into_iter();
        let leaf = certs.next().expect("certs() returns at least one");
        b.set_certificate(&leaf)
            .map_err(|e| TlsError::config_ssl("client certificate", e))?;
        for c in certs {
            b.add_extra_chain_cert(c)
                .map_err(|e| TlsError::config_ssl("client intermediate certificate", e))?;
        }
        let key = key.key("client private key")?;
        check_pair(
            &leaf,
            &key,
            "client private key does not match the certificate",
        )?;
        b.set_private_key(&key)
            .map_err(|e| TlsError::config_ssl("client private key", e))?;
        b.check_private_key()
            .map_err(|e| TlsError::config_ssl("client private key", e))
    }
}

/// Checks that `key` is the private half of `cert`'s public key.
fn check_pair(cert: &X509, key: &PKey<Private>, mismatch: &str) -> Result<(), TlsError> {
    let public = cert
        .public_key()
        .map_err(|e| TlsError::config_ssl("certificate public key", e))?;
    if public.public_eq(key) {
        Ok(())
    } else {
        Err(TlsError::config(mismatch))
    }
}

/// Keeps every new session (TLS 1.2 at the handshake's end, TLS 1.3 tickets as they arrive)
/// under the name the session was made for.
fn install_cache(b: &mut SslContextBuilder) -> Arc<SessionCache> {
    let cache = Arc::new(SessionCache {
        map: Mutex::new(HashMap::new()),
    });
    let sink = Arc::clone(&cache);
    b.set_session_cache_mode(SslSessionCacheMode::CLIENT | SslSessionCacheMode::NO_INTERNAL);
    b.set_new_session_callback(move |ssl, session| {
        if let Some(name) = verify::cache_key(ssl) {
            sink.put(name, session);
        }
    });
    cache
}
