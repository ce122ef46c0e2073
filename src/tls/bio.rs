//! The OpenSSL engine over rsuv's own BIO ([`BufBio`]). Every openssl-sys call the session
//! makes is here or there.
//!
//! The BIO reads ciphertext fed from the transport (in place while a feed runs) and appends
//! what OpenSSL wants sent to the session's output buffer. It is owned by the `SSL` (freed by
//! `SSL_free`); with no input left it answers "retry", so OpenSSL reports
//! `SSL_ERROR_WANT_READ` instead of EOF.

use std::ffi::{c_int, c_void};
use std::mem::ManuallyDrop;
use std::ptr;

use foreign_types::ForeignTypeRef;
use openssl::error::ErrorStack;
use openssl::ssl::{Ssl, SslRef};
use openssl_sys as ffi;

use super::buf_bio::{BufBio, BufIo, Lend};

// OpenSSL 3 functions that openssl-sys does not declare.
unsafe extern "C" {
    fn ERR_peek_error() -> std::os::raw::c_ulong;
    fn SSL_has_pending(s: *const ffi::SSL) -> c_int;
    fn SSL_key_update(s: *mut ffi::SSL, updatetype: c_int) -> c_int;
    fn SSL_get_key_update_type(s: *const ffi::SSL) -> c_int;
    fn SSL_renegotiate(s: *mut ffi::SSL) -> c_int;
    fn SSL_in_init(s: *const ffi::SSL) -> c_int;
    fn SSL_set_options(s: *mut ffi::SSL, op: u64) -> u64;
    fn SSL_clear_options(s: *mut ffi::SSL, op: u64) -> u64;
}

const SSL_KEY_UPDATE_NONE: c_int = -1;
const SSL_KEY_UPDATE_NOT_REQUESTED: c_int = 0;
const SSL_KEY_UPDATE_REQUESTED: c_int = 1;
/// `SSL_OP_NO_RENEGOTIATION`.
const OP_NO_RENEGOTIATION: u64 = 1 << 30;

/// What an engine call did.
#[derive(Debug)]
pub(crate) enum Step {
    /// The call completed; for reads and writes, this many bytes.
    Done(usize),
    /// OpenSSL needs more ciphertext.
    WantRead,
    /// The peer's `close_notify` was read (`SSL_ERROR_ZERO_RETURN`).
    PeerClosed,
    /// A fatal error, with OpenSSL's error stack (empty for an unexpected EOF).
    Failed(ErrorStack),
}

/// An `SSL` over a [`BufBio`].
pub(crate) struct Engine {
    /// Freed in `drop`, before the BIO's buffers.
    ssl: ManuallyDrop<Ssl>,
    bio: BufBio,
}

// SAFETY: the BIO and its buffers belong to this `Engine` and its `SSL` alone (an `Ssl` is
// `Send`); nothing else refers to them, so moving the whole to another thread is sound.
unsafe impl Send for Engine {}

impl Engine {
    /// Attaches a fresh [`BufBio`] to `ssl` and sets the modes the session relies on.
    pub(crate) fn new(ssl: Ssl) -> Result<Engine, ErrorStack> {
        let bio = BufBio::new()?;
        let ssl_ptr = ssl.as_ptr();
        // SAFETY: `ssl_ptr` is a live SSL; SSL_set_bio with the same BIO twice takes over its
        // one reference. SSL_set_mode (SSL_ctrl) only sets flags on that SSL.
        unsafe {
            ffi::SSL_set_bio(ssl_ptr, bio.as_ptr(), bio.as_ptr());
            let mode = ffi::SSL_MODE_ENABLE_PARTIAL_WRITE
                | ffi::SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                | ffi::SSL_MODE_AUTO_RETRY;
            ffi::SSL_ctrl(ssl_ptr, ffi::SSL_CTRL_MODE, mode, ptr::null_mut());
        }
        Ok(Engine {
            ssl: ManuallyDrop::new(ssl),
            bio,
        })
    }

    /// The `SSL`, for the safe openssl API.
    pub(crate) fn ssl(&self) -> &SslRef {
        &self.ssl
    }

    /// The ciphertext buffers (input kept from earlier feeds, output for the socket).
    pub(crate) fn io(&self) -> &BufIo {
        self.bio.io()
    }

    /// The ciphertext buffers, mutably.
    pub(crate) fn io_mut(&mut self) -> &mut BufIo {
        self.bio.io_mut()
    }

    /// Lends ciphertext from the transport to OpenSSL's reads until the guard drops, which
    /// keeps (copies) whatever was not read.
    ///
    /// # Safety
    ///
    /// The engine outlives the guard (a local of the method that called this).
    pub(crate) unsafe fn lend<'a>(&mut self, data: &'a [u8]) -> Lend<'a> {
        // SAFETY: passed on to the caller; one lend at a time, as every feed ends its own.
        unsafe { self.bio.lend(data) }
    }

    /// Ciphertext fed but not yet consumed by OpenSSL.
    pub(crate) fn input_pending(&self) -> usize {
        self.io().input_pending()
    }

    /// `SSL_do_handshake`.
    pub(crate) fn handshake(&mut self) -> Step {
        clear_errors();
        // SAFETY: a live SSL with BIOs attached.
        let rc = unsafe { ffi::SSL_do_handshake(self.ssl.as_ptr()) };
        self.step(rc, 0)
    }

    /// Whether a read would find nothing: no ciphertext waits in the read BIO and OpenSSL
    /// holds no buffered record. Saves the `SSL_read_ex` call that would only say WANT_READ
    /// (thousands of instructions in OpenSSL 3).
    pub(crate) fn drained(&self) -> bool {
        // SAFETY: `ssl` is alive as long as `self`; the call only reads its state.
        self.input_pending() == 0 && unsafe { SSL_has_pending(self.ssl.as_ptr()) == 0 }
    }

    /// `SSL_read_ex` of at most `max` bytes, appended to `buf` (in its spare capacity).
    pub(crate) fn read(&mut self, buf: &mut Vec<u8>, max: usize) -> Step {
        buf.reserve(max);
        let spare = buf.spare_capacity_mut();
        let mut n = 0usize;
        clear_errors();
        // SAFETY: `spare` has room for `max` bytes, SSL_read_ex writes at most that and reports
        // how many in `n`.
        let rc =
            unsafe { ffi::SSL_read_ex(self.ssl.as_ptr(), spare.as_mut_ptr().cast(), max, &mut n) };
        if rc == 1 {
            // SAFETY: SSL_read_ex initialised `n` bytes of the spare capacity.
            unsafe { buf.set_len(buf.len() + n) };
        }
        self.step(rc, n)
    }

    /// `SSL_write_ex` of `data` (one call: with partial writes enabled, one record or fewer).
    pub(crate) fn write(&mut self, data: &[u8]) -> Step {
        let mut n = 0usize;
        clear_errors();
        // SAFETY: `data` is valid for its length; SSL_write_ex reads at most that.
        let rc = unsafe {
            ffi::SSL_write_ex(
                self.ssl.as_ptr(),
                data.as_ptr().cast::<c_void>(),
                data.len(),
                &mut n,
            )
        };
        self.step(rc, n)
    }

    /// `SSL_shutdown`: queues our `close_notify`.
    pub(crate) fn shutdown(&mut self) -> Step {
        clear_errors();
        // SAFETY: a live SSL with BIOs attached.
        let rc = unsafe { ffi::SSL_shutdown(self.ssl.as_ptr()) };
        if rc >= 0 {
            Step::Done(0)
        } else {
            self.step(rc, 0)
        }
    }

    /// `SSL_key_update`: schedules a KeyUpdate, written by the next [`handshake`](Self::handshake).
    pub(crate) fn key_update(&mut self, update_requested: bool) -> Result<(), ErrorStack> {
        let kind = if update_requested {
            SSL_KEY_UPDATE_REQUESTED
        } else {
            SSL_KEY_UPDATE_NOT_REQUESTED
        };
        clear_errors();
        // SAFETY: a live SSL; SSL_key_update only schedules a message.
        if unsafe { SSL_key_update(self.ssl.as_ptr(), kind) } != 1 {
            return Err(ErrorStack::get());
        }
        Ok(())
    }

    /// Whether a KeyUpdate (e.g. the reply the peer requested) is waiting to be written.
    pub(crate) fn key_update_pending(&self) -> bool {
        // SAFETY: a live SSL; a plain getter.
        unsafe { SSL_get_key_update_type(self.ssl.as_ptr()) != SSL_KEY_UPDATE_NONE }
    }

    /// `SSL_renegotiate` (TLS 1.2): schedules a HelloRequest (server) or ClientHello (client),
    /// written by the next [`handshake`](Self::handshake).
    ///
    /// Our servers carry `SSL_OP_NO_RENEGOTIATION` (refusing client-initiated renegotiation),
    /// which also stops `SSL_renegotiate`; it is lifted for the call and restored right after.
    /// The renegotiation already started is unaffected: OpenSSL only checks the option for a
    /// ClientHello it did not ask for.
    pub(crate) fn renegotiate(&mut self) -> Result<(), ErrorStack> {
        let ssl = self.ssl.as_ptr();
        clear_errors();
        // SAFETY: a live SSL; these calls only change its options and schedule a handshake.
        let ok = unsafe {
            let old = SSL_clear_options(ssl, OP_NO_RENEGOTIATION);
            let ok = SSL_renegotiate(ssl) == 1;
            SSL_set_options(ssl, old & OP_NO_RENEGOTIATION);
            ok
        };
        if !ok {
            return Err(ErrorStack::get());
        }
        Ok(())
    }

    /// Whether a handshake (the first one or a renegotiation) is in progress.
    pub(crate) fn in_init(&self) -> bool {
        // SAFETY: a live SSL; a plain getter.
        unsafe { SSL_in_init(self.ssl.as_ptr()) != 0 }
    }

    /// Marks the connection as shut down both ways, so that `SSL_free` does not retire its
    /// session (it does for connections closed without `close_notify`).
    pub(crate) fn keep_session(&mut self) {
        // SAFETY: a live SSL; SSL_set_shutdown only sets its shutdown flags.
        unsafe {
            ffi::SSL_set_shutdown(
                self.ssl.as_ptr(),
                ffi::SSL_SENT_SHUTDOWN | ffi::SSL_RECEIVED_SHUTDOWN,
            )
        };
    }

    fn step(&self, rc: c_int, n: usize) -> Step {
        if rc > 0 {
            return Step::Done(n);
        }
        // SAFETY: a live SSL; `rc` is the return value of the call just made on it.
        let code = unsafe { ffi::SSL_get_error(self.ssl.as_ptr(), rc) };
        match code {
            ffi::SSL_ERROR_WANT_READ | ffi::SSL_ERROR_WANT_WRITE => Step::WantRead,
            ffi::SSL_ERROR_ZERO_RETURN => Step::PeerClosed,
            _ => Step::Failed(ErrorStack::get()),
        }
    }
}

/// Empties this thread's OpenSSL error queue, so that a failure reports only its own errors.
/// Looks first: clearing an empty queue costs hundreds of instructions in OpenSSL 3 (it walks
/// every slot), peeking a few dozen, and the queue is almost always empty.
fn clear_errors() {
    // SAFETY: ERR_peek_error and ERR_clear_error only touch this thread's error queue.
    unsafe {
        if ERR_peek_error() != 0 {
            ffi::ERR_clear_error();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: `ssl` is dropped here only; SSL_free frees the BIO with it, after which
        // nothing reaches the BIO's buffers, so they can go.
        unsafe {
            ManuallyDrop::drop(&mut self.ssl);
            self.bio.free_io();
        }
    }
}
