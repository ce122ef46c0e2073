//! Write buffers and the pooled requests that carry them (stream writes, UDP sends).

use std::cell::{RefCell, UnsafeCell};
use std::mem::MaybeUninit;
use std::os::raw::c_int;
use std::rc::Rc;

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::handle::Core;

/// A buffer handed to a write: owned (or `'static`) bytes, kept alive until the write's
/// callback has run. Converting a `Vec<u8>`, `Box<[u8]>`, `String`, `Rc<[u8]>` or a `'static`
/// slice does not copy; [`WriteBuf::other`] takes any owner of bytes (one small allocation).
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
}

impl WriteBuf {
    /// Wraps any owner of bytes (a `bytes::Bytes`, a memory map, a Python buffer, ...).
    pub fn other(owner: impl AsRef<[u8]> + 'static) -> WriteBuf {
        WriteBuf::Other(Box::new(owner))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            WriteBuf::Vec(v) => v,
            WriteBuf::Boxed(b) => b,
            WriteBuf::Shared(r) => r,
            WriteBuf::Static(s) => s,
            WriteBuf::Other(o) => (**o).as_ref(),
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

/// How many finished requests a handle keeps for reuse.
const POOL_MAX: usize = 1024;

/// Buffers per request whose `uv_buf_t`s are built on the stack (libuv copies them).
const STACK_BUFS: usize = 16;

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

/// A request that writes buffers: the libuv request `R` (`uv_write_t`, `uv_udp_send_t`) inline,
/// the buffers it keeps alive (the first inline, as most writes have one), and the completion
/// callback. One allocation, reused through a [`ReqPool`].
pub(crate) struct BufReq<H: 'static, R> {
    raw: UnsafeCell<MaybeUninit<R>>,
    first: Option<WriteBuf>,
    more: Vec<WriteBuf>,
    cb: Option<DoneCb<H>>,
}

impl<H, R> BufReq<H, R> {
    /// Hands the request to libuv: its `data` points back at the box.
    fn into_raw(self: Box<Self>) -> *mut R {
        let owner = Box::into_raw(self);
        // SAFETY: `owner` is a live box; `raw` is inside it, so it does not move.
        unsafe {
            let raw = (*owner).raw.get().cast::<R>();
            (*raw.cast::<uv_req_t>()).data = owner.cast();
            raw
        }
    }

    /// Takes the request back from libuv.
    ///
    /// # Safety
    ///
    /// `raw` must come from `into_raw` and not have been taken back yet.
    unsafe fn from_raw(raw: *mut R) -> Box<Self> {
        // SAFETY: per the contract, `data` is the box leaked by `into_raw`.
        unsafe { Box::from_raw((*raw.cast::<uv_req_t>()).data.cast::<Self>()) }
    }

    /// In the request's libuv callback: takes the request back, with its callback.
    ///
    /// # Safety
    ///
    /// `req` must have been submitted through [`ReqPool::submit`] for these `H` and `R`, and
    /// libuv must be calling it back now (once).
    pub(crate) unsafe fn complete(req: *mut R) -> (Box<Self>, Option<DoneCb<H>>) {
        // SAFETY: forwarded from the caller.
        let mut owner = unsafe { Self::from_raw(req) };
        let cb = owner.cb.take();
        (owner, cb)
    }

    fn bufs(&self) -> impl Iterator<Item = &WriteBuf> {
        self.first.iter().chain(&self.more)
    }
}

/// A per-handle free list of [`BufReq`]s: no allocation per write on the steady path.
pub(crate) struct ReqPool<H: 'static, R> {
    #[allow(clippy::vec_box)] // boxed: a request's address is handed to libuv while in flight
    free: RefCell<Vec<Box<BufReq<H, R>>>>,
}

impl<H, R> ReqPool<H, R> {
    pub(crate) fn new() -> Self {
        ReqPool {
            free: RefCell::default(),
        }
    }

    /// Fills a request with `bufs` and `cb` and hands it to libuv through `start` (which gets
    /// the request, the `uv_buf_t` array and its length; libuv copies the array); takes it back
    /// if libuv refuses.
    pub(crate) fn submit(
        &self,
        bufs: impl IntoIterator<Item = WriteBuf>,
        cb: Option<DoneCb<H>>,
        start: impl FnOnce(*mut R, *const uv_buf_t, u32) -> c_int,
    ) -> Result<()> {
        let pooled = self.free.borrow_mut().pop();
        let mut req = pooled.unwrap_or_else(|| {
            let raw = UnsafeCell::new(MaybeUninit::uninit());
            Box::new(BufReq {
                raw,
                first: None,
                more: Vec::new(),
                cb: None,
            })
        });
        for b in bufs {
            match req.first {
                None => req.first = Some(b),
                Some(_) => req.more.push(b),
            }
        }
        if req.first.is_none() {
            return Err(self.refuse(req, Error::EINVAL)); // libuv asserts on zero buffers
        }
        let mut stack = [uv_buf_t {
            base: std::ptr::null_mut(),
            len: 0,
        }; STACK_BUFS];
        let mut heap = Vec::new();
        let count = 1 + req.more.len();
        let slots: &mut [uv_buf_t] = if count <= STACK_BUFS {
            &mut stack[..count]
        } else {
            heap.resize(count, stack[0]);
            &mut heap
        };
        let mut bad = None;
        for (slot, b) in slots.iter_mut().zip(req.bufs()) {
            match uv_buf(b.as_slice()) {
                Ok(buf) => *slot = buf,
                Err(e) => bad = Some(e),
            }
        }
        if let Some(e) = bad {
            return Err(self.refuse(req, e));
        }
        req.cb = cb;
        let raw = req.into_raw();
        let rc = start(raw, slots.as_ptr(), count as u32);
        if rc < 0 {
            // SAFETY: libuv refused the request, so it never saw it; take it back.
            let owner = unsafe { BufReq::from_raw(raw) };
            return Err(self.refuse(owner, Error::from_raw(rc)));
        }
        check(rc).map(drop)
    }

    fn refuse(&self, mut req: Box<BufReq<H, R>>, e: Error) -> Error {
        req.cb = None;
        self.put(req);
        e
    }

    /// Returns a finished request to the pool (dropping the buffers it kept alive), unless the
    /// handle is closing or the pool is full.
    pub(crate) fn give_back(&self, req: Box<BufReq<H, R>>, core: &Core) {
        if !core.is_closing() {
            self.put(req);
        }
    }

    fn put(&self, mut req: Box<BufReq<H, R>>) {
        req.first = None;
        req.more.clear();
        let mut free = self.free.borrow_mut();
        if free.len() < POOL_MAX {
            free.push(req);
        }
    }

    pub(crate) fn clear(&self) {
        drop(self.free.take());
    }
}
