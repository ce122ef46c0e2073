//! Write buffers and the completion callbacks of writes (the requests that carry them are in
//! `req_pool`).

use std::rc::{Rc, Weak};

use libuv_sys2::*;

use super::error::{Error, Result};

/// A buffer handed to a write: owned (or `'static`) bytes, kept alive until the write's
/// callback has run. Converting a `Vec<u8>`, `Box<[u8]>`, `String`, `Rc<[u8]>` or a `'static`
/// slice does not copy; [`WriteBuf::other`] takes any owner of bytes (one small allocation);
/// [`WriteBuf::recycled`] hands a `Vec` back to its writer once written (no allocation).
pub enum WriteBuf {
    /// Bytes in a `Vec`.
    Vec(Vec<u8>),
    /// Bytes in a boxed slice.
    Boxed(Box<[u8]>),
    /// Shared bytes.
    Shared(Rc<[u8]>),
    /// Static bytes.
    Static(&'static [u8]),
    /// Any other owner of bytes.
    Other(Box<dyn AsRef<[u8]>>),
    /// A `Vec` that goes back to its [`BufHome`] once written.
    Recycled(Recycled),
}

/// Takes back the buffers of [`WriteBuf::recycled`] writes, for a writer that reuses them.
pub trait BufHome {
    /// `buf` has been written (or the write failed) and is no longer used.
    fn take_back(&self, buf: Vec<u8>);
}

/// A `Vec` written and then handed to its [`BufHome`] (if that still exists).
pub struct Recycled {
    buf: Vec<u8>,
    home: Weak<dyn BufHome>,
}

impl Drop for Recycled {
    fn drop(&mut self) {
        if let Some(home) = self.home.upgrade() {
            home.take_back(std::mem::take(&mut self.buf));
        }
    }
}

impl WriteBuf {
    /// Wraps any owner of bytes (a `bytes::Bytes`, a memory map, a Python buffer, ...).
    pub fn other(owner: impl AsRef<[u8]> + 'static) -> WriteBuf {
        WriteBuf::Other(Box::new(owner))
    }

    /// Writes `buf` and then gives it to `home` (dropped instead if `home` is gone): a writer
    /// that keeps its buffers in an `Rc` reuses them without an allocation per write.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::{Rc, Weak};
    /// use rsuv::{BufHome, WriteBuf};
    ///
    /// struct Spares(RefCell<Vec<Vec<u8>>>);
    /// impl BufHome for Spares {
    ///     fn take_back(&self, buf: Vec<u8>) {
    ///         self.0.borrow_mut().push(buf);
    ///     }
    /// }
    /// let spares = Rc::new(Spares(RefCell::new(Vec::new())));
    /// let home: Weak<dyn BufHome> = Rc::downgrade(&spares) as Weak<dyn BufHome>;
    /// drop(WriteBuf::recycled(b"written".to_vec(), home)); // as a finished write does
    /// assert_eq!(spares.0.borrow()[0], b"written");
    /// ```
    pub fn recycled(buf: Vec<u8>, home: Weak<dyn BufHome>) -> WriteBuf {
        WriteBuf::Recycled(Recycled { buf, home })
    }

    /// The bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            WriteBuf::Vec(v) => v,
            WriteBuf::Boxed(b) => b,
            WriteBuf::Shared(r) => r,
            WriteBuf::Static(s) => s,
            WriteBuf::Other(o) => (**o).as_ref(),
            WriteBuf::Recycled(r) => &r.buf,
        }
    }
}

impl From<Vec<u8>> for WriteBuf {
    fn from(v: Vec<u8>) -> Self {
        WriteBuf::Vec(v)
    }
}
impl From<Box<[u8]>> for WriteBuf {
    fn from(b: Box<[u8]>) -> Self {
        WriteBuf::Boxed(b)
    }
}
impl From<String> for WriteBuf {
    fn from(s: String) -> Self {
        WriteBuf::Vec(s.into_bytes())
    }
}
impl From<Rc<[u8]>> for WriteBuf {
    fn from(r: Rc<[u8]>) -> Self {
        WriteBuf::Shared(r)
    }
}
impl From<&'static [u8]> for WriteBuf {
    fn from(s: &'static [u8]) -> Self {
        WriteBuf::Static(s)
    }
}
impl<const N: usize> From<&'static [u8; N]> for WriteBuf {
    fn from(s: &'static [u8; N]) -> Self {
        WriteBuf::Static(s)
    }
}
impl From<&'static str> for WriteBuf {
    fn from(s: &'static str) -> Self {
        WriteBuf::Static(s.as_bytes())
    }
}

/// A completion callback of a request on a handle of type `H`.
pub(crate) type DoneCb<H> = Box<dyn FnOnce(&H, Result<()>)>;

/// A completion callback shared by many writes.
pub(crate) type SharedCb<H> = Rc<dyn Fn(&H, Result<()>)>;

/// The completion callback of a write: its own, or one shared by many writes (no allocation).
pub(crate) enum WriteDone<H> {
    Once(DoneCb<H>),
    Shared(SharedCb<H>),
}

impl<H> WriteDone<H> {
    pub(crate) fn call(self, h: &H, r: Result<()>) {
        match self {
            WriteDone::Once(f) => f(h, r),
            WriteDone::Shared(f) => f(h, r),
        }
    }
}

pub(crate) fn buf_len(len: usize) -> Result<u32> {
    u32::try_from(len).map_err(|_| Error::EINVAL)
}

/// The `uv_buf_t` of a byte slice (libuv does not write through a write buffer).
pub(crate) fn uv_buf(bytes: &[u8]) -> Result<uv_buf_t> {
    buf_len(bytes.len())?;
    Ok(uv_buf_t {
        base: bytes.as_ptr().cast_mut().cast(),
        len: bytes.len(),
    })
}
