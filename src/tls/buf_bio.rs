//! A BIO of our own over the session's buffers, in place of OpenSSL's two `BIO_s_mem`.
//!
//! Reading, OpenSSL takes ciphertext straight from the caller's slice while
//! [`TlsSession::feed`](super::TlsSession::feed) runs ([`BufIo::lend`]); only what it leaves
//! unread (input beyond the read limit, a partial record) is copied, into [`BufIo`]'s own
//! input buffer. Writing, the records OpenSSL produces are appended to the output buffer the
//! socket write takes. Neither side zero-fills, and each byte of ciphertext is copied once
//! (`BIO_s_mem` copies it twice and zero-fills every buffer it grows).
//!
//! One BIO serves both directions: `SSL_set_bio(ssl, bio, bio)`. Its data pointer is the
//! session's [`BufIo`], on the heap and never moved, freed only after the `SSL` (which owns
//! the BIO) is freed.

use std::ffi::{c_char, c_int, c_long, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::{self, NonNull};
use std::sync::OnceLock;

use openssl::error::ErrorStack;
use openssl_sys as ffi;

use super::buffer::Buf;

// BIO_ctrl commands (bio.h) that OpenSSL's TLS code sends and that have an answer here.
const BIO_CTRL_PENDING: c_int = 10;
const BIO_CTRL_DUP: c_int = 12;
const BIO_CTRL_WPENDING: c_int = 13;

/// The bytes behind the BIO: ciphertext in, ciphertext out.
#[derive(Default)]
pub(crate) struct BufIo {
    /// Ciphertext kept from earlier feeds, read before `lent`.
    input: Buf,
    /// The caller's ciphertext during a feed (null outside one): read in place.
    lent: *const u8,
    lent_len: usize,
    /// Records OpenSSL wrote, for the socket.
    pub(crate) output: Buf,
}

impl BufIo {
    /// Ciphertext fed and not yet read by OpenSSL.
    pub(crate) fn input_pending(&self) -> usize {
        self.input.len() + self.lent_len
    }

    /// Copies up to `want` bytes of input to `dst`: kept bytes first, then lent ones.
    ///
    /// # Safety
    ///
    /// `dst` is valid for `want` bytes of writes, and `lent` (if not null) for `lent_len`
    /// bytes of reads.
    unsafe fn read_into(&mut self, dst: *mut u8, want: usize) -> usize {
        let kept = self.input.as_slice();
        let a = kept.len().min(want);
        let b = self.lent_len.min(want - a);
        // SAFETY: the caller vouches for `dst` (`a + b <= want` bytes) and for `lent`
        // (`b <= lent_len` bytes); `kept` is our own buffer; the ranges cannot overlap, as
        // `dst` is OpenSSL's record buffer.
        unsafe {
            ptr::copy_nonoverlapping(kept.as_ptr(), dst, a);
            if b > 0 {
                ptr::copy_nonoverlapping(self.lent, dst.add(a), b);
                self.lent = self.lent.add(b);
            }
        }
        self.input.consume(a);
        self.lent_len -= b;
        a + b
    }
}

/// An `SSL`'s BIO over a [`BufIo`] on the heap. Owns the `BufIo`; the BIO itself belongs to
/// the `SSL` it is attached to.
pub(crate) struct BufBio {
    io: NonNull<BufIo>,
    bio: *mut ffi::BIO,
}

impl BufBio {
    /// A new BIO over empty buffers, not yet attached to an `SSL`.
    pub(crate) fn new() -> Result<BufBio, ErrorStack> {
        let method = method()?;
        // SAFETY: `method` is a complete method table that lives for the whole process.
        let bio = unsafe { ffi::BIO_new(method) };
        if bio.is_null() {
            return Err(ErrorStack::get());
        }
        let io = NonNull::from(Box::leak(Box::<BufIo>::default()));
        // SAFETY: a fresh BIO of our method; its data is the `BufIo` just leaked, which stays
        // put until `free_io`.
        unsafe {
            ffi::BIO_set_data(bio, io.as_ptr().cast());
            ffi::BIO_set_init(bio, 1);
        }
        Ok(BufBio { io, bio })
    }

    /// The BIO, for `SSL_set_bio` (once, with the same pointer for both directions).
    pub(crate) fn as_ptr(&self) -> *mut ffi::BIO {
        self.bio
    }

    /// The buffers. Valid while no OpenSSL call is running (none can be: this borrows the
    /// engine that makes them).
    pub(crate) fn io(&self) -> &BufIo {
        // SAFETY: the `BufIo` lives until `free_io`; OpenSSL only touches it inside calls made
        // through `&mut` of the owning engine, which this shared borrow excludes.
        unsafe { self.io.as_ref() }
    }

    /// The buffers, mutably (outside OpenSSL calls, as for [`io`](Self::io)).
    pub(crate) fn io_mut(&mut self) -> &mut BufIo {
        // SAFETY: as in `io`, and `&mut self` makes this the only reference.
        unsafe { self.io.as_mut() }
    }

    /// Lends `data` to OpenSSL's reads until the returned guard drops; the guard then keeps
    /// (copies) whatever was not read.
    ///
    /// # Safety
    ///
    /// `self` outlives the guard, and no other lend is active.
    pub(crate) unsafe fn lend<'a>(&mut self, data: &'a [u8]) -> Lend<'a> {
        let io = self.io_mut();
        io.lent = data.as_ptr();
        io.lent_len = data.len();
        Lend {
            io: self.io,
            _data: std::marker::PhantomData,
        }
    }

    /// Frees the buffers.
    ///
    /// # Safety
    ///
    /// The BIO is already freed (with its `SSL`), so nothing can reach the `BufIo` any more.
    pub(crate) unsafe fn free_io(&mut self) {
        // SAFETY: `io` came from `Box::leak` in `new` and is freed only here, once.
        drop(unsafe { Box::from_raw(self.io.as_ptr()) });
    }
}

/// An active lend of the caller's ciphertext (see [`BufBio::lend`]).
pub(crate) struct Lend<'a> {
    io: NonNull<BufIo>,
    _data: std::marker::PhantomData<&'a [u8]>,
}

impl Drop for Lend<'_> {
    fn drop(&mut self) {
        // SAFETY: `lend`'s contract keeps the `BufIo` alive for the guard's life, and no
        // OpenSSL call runs while the guard drops (it drops between calls, or while a panic
        // unwinds out of one, which no longer uses the BIO).
        let io = unsafe { self.io.as_mut() };
        if io.lent_len > 0 {
            // SAFETY: `lent` is valid for `lent_len` bytes: the slice borrowed for `'a`.
            let rest = unsafe { std::slice::from_raw_parts(io.lent, io.lent_len) };
            io.input.extend(rest);
        }
        io.lent = ptr::null();
        io.lent_len = 0;
    }
}

/// The method table, made once per process.
fn method() -> Result<*const ffi::BIO_METHOD, ErrorStack> {
    struct Method(*mut ffi::BIO_METHOD);
    // SAFETY: the table is filled in before it is published and never changed or freed, so
    // sharing the pointer between threads is sound.
    unsafe impl Send for Method {}
    // SAFETY: as for `Send`: every thread only reads the finished, immutable table.
    unsafe impl Sync for Method {}
    static METHOD: OnceLock<Method> = OnceLock::new();
    if let Some(m) = METHOD.get() {
        return Ok(m.0);
    }
    // SAFETY: BIO_meth_new allocates a table (or returns null); the setters fill it in with
    // functions of the right signatures.
    let m = unsafe {
        let m = ffi::BIO_meth_new(ffi::BIO_TYPE_NONE, c"rsuv".as_ptr());
        if m.is_null() {
            return Err(ErrorStack::get());
        }
        ffi::BIO_meth_set_read__fixed_rust(m, Some(bio_read));
        ffi::BIO_meth_set_write__fixed_rust(m, Some(bio_write));
        ffi::BIO_meth_set_ctrl__fixed_rust(m, Some(bio_ctrl));
        m
    };
    let winner = METHOD.get_or_init(|| Method(m));
    if winner.0 != m {
        // SAFETY: another thread published its table first; ours was never used.
        unsafe { ffi::BIO_meth_free(m) };
    }
    Ok(winner.0)
}

/// The `BufIo` of one of our BIOs.
///
/// # Safety
///
/// `bio` is a BIO of our method, called by OpenSSL from inside an engine call.
unsafe fn buf_io<'b>(bio: *mut ffi::BIO) -> &'b mut BufIo {
    // SAFETY: our BIOs' data is their live `BufIo`, and during an engine call nothing else
    // holds a reference to it.
    unsafe { &mut *ffi::BIO_get_data(bio).cast::<BufIo>() }
}

unsafe extern "C" fn bio_read(bio: *mut ffi::BIO, dst: *mut c_char, len: c_int) -> c_int {
    // SAFETY: OpenSSL calls this with one of our BIOs and a buffer of `len` bytes.
    unsafe { ffi::BIO_clear_retry_flags(bio) };
    let Ok(want) = usize::try_from(len) else {
        return 0;
    };
    // SAFETY: as above; while a lend is active, `lent` is valid for `lent_len` bytes.
    let n = catch_unwind(AssertUnwindSafe(|| unsafe {
        buf_io(bio).read_into(dst.cast(), want)
    }))
    .unwrap_or(0);
    if n == 0 && want > 0 {
        // SAFETY: our BIO; asks OpenSSL to retry once more input is fed (SSL_ERROR_WANT_READ).
        unsafe { ffi::BIO_set_retry_read(bio) };
        return -1;
    }
    n as c_int
}

unsafe extern "C" fn bio_write(bio: *mut ffi::BIO, src: *const c_char, len: c_int) -> c_int {
    // SAFETY: OpenSSL calls this with one of our BIOs.
    unsafe { ffi::BIO_clear_retry_flags(bio) };
    let Ok(n) = usize::try_from(len) else {
        return -1;
    };
    if n == 0 {
        return 0;
    }
    // SAFETY: `src` is valid for `len` bytes of reads; `bio` is ours.
    let appended = catch_unwind(AssertUnwindSafe(|| unsafe {
        let bytes = std::slice::from_raw_parts(src.cast::<u8>(), n);
        buf_io(bio).output.extend(bytes);
    }));
    match appended {
        Ok(()) => len,
        Err(_) => -1,
    }
}

unsafe extern "C" fn bio_ctrl(
    bio: *mut ffi::BIO,
    cmd: c_int,
    _num: c_long,
    _ptr: *mut c_void,
) -> c_long {
    match cmd {
        ffi::BIO_CTRL_FLUSH | BIO_CTRL_DUP => 1,
        // SAFETY: OpenSSL calls this with one of our BIOs, between reads and writes.
        BIO_CTRL_PENDING => unsafe { buf_io(bio).input_pending() as c_long },
        BIO_CTRL_WPENDING => 0, // written records are handed on at once
        _ => 0,
    }
}
