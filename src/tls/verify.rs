//! Per-session data kept in the `SSL`'s ex_data: where certificate verification failed, and the
//! name a client session is cached under.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::ssl::{Ssl, SslContextBuilder, SslRef, SslVerifyMode};
use openssl::x509::{X509StoreContext, X509StoreContextRef, X509VerifyResult};

use super::error::{TlsError, first_reason};

const NO_DEPTH: u32 = u32::MAX;

fn depth_index() -> Index<Ssl, AtomicU32> {
    static INDEX: OnceLock<Index<Ssl, AtomicU32>> = OnceLock::new();
    *INDEX.get_or_init(|| Ssl::new_ex_index().expect("allocating an OpenSSL ex_data index"))
}

fn key_index() -> Index<Ssl, String> {
    static INDEX: OnceLock<Index<Ssl, String>> = OnceLock::new();
    *INDEX.get_or_init(|| Ssl::new_ex_index().expect("allocating an OpenSSL ex_data index"))
}

/// Verifies peers with `mode`, noting the depth of the first failure.
pub(crate) fn install(b: &mut SslContextBuilder, mode: SslVerifyMode) {
    b.set_verify_callback(mode, record_failure);
}

/// Sets one session's verify mode, keeping the depth-noting callback.
pub(crate) fn set_mode(ssl: &mut SslRef, mode: SslVerifyMode) {
    ssl.set_verify_callback(mode, record_failure);
}

/// Gets a new session ready for [`failure`] (a slot for the failure depth).
pub(crate) fn prepare(ssl: &mut SslRef) {
    ssl.set_ex_data(depth_index(), AtomicU32::new(NO_DEPTH));
}

fn record_failure(ok: bool, ctx: &mut X509StoreContextRef) -> bool {
    if !ok {
        let depth = ctx.error_depth();
        let ssl = X509StoreContext::ssl_idx()
            .ok()
            .and_then(|idx| ctx.ex_data(idx));
        if let Some(slot) = ssl.and_then(|ssl| ssl.ex_data(depth_index())) {
            let _ = slot.compare_exchange(NO_DEPTH, depth, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
    ok
}

/// The verification failure behind a failed handshake, if that is what failed it.
pub(crate) fn failure(ssl: &SslRef, stack: &ErrorStack) -> Option<TlsError> {
    let result = ssl.verify_result();
    if result == X509VerifyResult::OK
        || first_reason(stack).as_deref() != Some("certificate verify failed")
    {
        return None;
    }
    let depth = ssl
        .ex_data(depth_index())
        .map(|d| d.load(Ordering::Relaxed))
        .filter(|&d| d != NO_DEPTH)
        .unwrap_or(0);
    Some(TlsError::Verification {
        reason: result.error_string().to_owned(),
        code: result.as_raw(),
        depth,
    })
}

/// Records the name a client session is cached under.
pub(crate) fn set_cache_key(ssl: &mut SslRef, name: &str) {
    ssl.set_ex_data(key_index(), name.to_owned());
}

/// The name a client session is cached under.
pub(crate) fn cache_key(ssl: &SslRef) -> Option<&str> {
    ssl.ex_data(key_index()).map(String::as_str)
}
