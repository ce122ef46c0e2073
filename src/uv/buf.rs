//! Write buffers and the pooled requests that carry them (stream writes, UDP sends).

use std::cell::{RefCell, UnsafeCell};
use std::mem::MaybeUninit;
use std::os::raw::c_int;
use std::rc::{Rc, Weak};

use libuv_sys2::*;

use super::error::{Error, Result, check};

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

/// A request that writes buffers: the libuv request `R` (`uv_write_t`, `uv_udp_send_t`), the
/// buffers it keeps alive (the first inline, as most writes have one), and the completion
/// callback. Requests live in the blocks of a [`ReqPool`] and never move.
pub(crate) struct BufReq<H: 'static, R> {
    raw: UnsafeCell<MaybeUninit<R>>,
    first: Option<WriteBuf>,
    more: Vec<WriteBuf>,
    cb: Option<WriteDone<H>>,
}

impl<H, R> BufReq<H, R> {
    fn new() -> Self {
        let raw = UnsafeCell::new(MaybeUninit::uninit());
        BufReq {
            raw,
            first: None,
            more: Vec::new(),
            cb: None,
        }
    }

    /// The libuv request, with its `data` pointing back at this `BufReq`.
    fn prepare(req: *mut Self) -> *mut R {
        // SAFETY: `req` is a slot of a live block; `raw` is inside it, so it does not move.
        unsafe {
            let raw = (*req).raw.get().cast::<R>();
            (*raw.cast::<uv_req_t>()).data = req.cast();
            raw
        }
    }

    /// In the request's libuv callback: the slot behind `req`, and its callback.
    ///
    /// # Safety
    ///
    /// `req` must have been submitted through [`ReqPool::submit`] for these `H` and `R`, and
    /// libuv must be calling it back now (once).
    pub(crate) unsafe fn complete(req: *mut R) -> (*mut Self, Option<WriteDone<H>>) {
        // SAFETY: forwarded from the caller: `data` is the slot set by `prepare`, whose block
        // lives until the handle's close callback, after every request callback.
        unsafe {
            let slot = (*req.cast::<uv_req_t>()).data.cast::<Self>();
            (slot, (*slot).cb.take())
        }
    }

    fn bufs(&self) -> impl Iterator<Item = &WriteBuf> {
        self.first.iter().chain(&self.more)
    }
}

/// `BLOCK` requests in one allocation, which never moves.
type Block<H, R> = Box<[BufReq<H, R>]>;

/// Requests per block: one allocation serves this many writes.
const BLOCK: usize = 64;
/// Blocks kept once a burst of writes has drained.
const KEEP_BLOCKS: usize = 16;

/// A per-handle set of [`BufReq`]s, allocated in blocks that never move and reused through a
/// free list: no allocation per write on the steady path, and one per `BLOCK` writes in a burst.
/// libuv calls back every request of a handle before the handle's close callback (`ECANCELED`
/// for those it could not finish), so the blocks are dropped in `clear`, from that callback.
pub(crate) struct ReqPool<H: 'static, R> {
    blocks: RefCell<Vec<Block<H, R>>>,
    free: RefCell<Vec<*mut BufReq<H, R>>>,
}

impl<H, R> ReqPool<H, R> {
    pub(crate) fn new() -> Self {
        ReqPool {
            blocks: RefCell::default(),
            free: RefCell::default(),
        }
    }

    fn take(&self) -> *mut BufReq<H, R> {
        if let Some(slot) = self.free.borrow_mut().pop() {
            return slot;
        }
        self.grow();
        self.free
            .borrow_mut()
            .pop()
            .expect("a fresh block has free slots")
    }

    fn grow(&self) {
        let mut block: Block<H, R> = (0..BLOCK).map(|_| BufReq::new()).collect();
        self.free
            .borrow_mut()
            .extend(block.iter_mut().map(std::ptr::from_mut));
        self.blocks.borrow_mut().push(block);
    }

    /// Makes sure at least `n` requests are ready without allocating (kept until the burst
    /// they serve has drained, as any other block).
    pub(crate) fn reserve(&self, n: usize) {
        while self.free.borrow().len() < n {
            self.grow();
        }
    }

    /// Fills a request with `bufs` and `cb` and hands it to libuv through `start` (which gets
    /// the request, the `uv_buf_t` array and its length; libuv copies the array); takes it back
    /// if libuv refuses.
    pub(crate) fn submit(
        &self,
        bufs: impl IntoIterator<Item = WriteBuf>,
        cb: Option<WriteDone<H>>,
        start: impl FnOnce(*mut R, *const uv_buf_t, u32) -> c_int,
    ) -> Result<()> {
        let slot = self.take();
        // SAFETY: a slot from the free list is ours alone until handed to libuv.
        let req = unsafe { &mut *slot };
        for b in bufs {
            match req.first {
                None => req.first = Some(b),
                Some(_) => req.more.push(b),
            }
        }
        let Some(first) = &req.first else {
            return Err(self.refuse(slot, Error::EINVAL)); // libuv asserts on zero buffers
        };
        if req.more.is_empty() {
            // One buffer, the common case: its `uv_buf_t` alone on the stack.
            let one = match uv_buf(first.as_slice()) {
                Ok(buf) => buf,
                Err(e) => return Err(self.refuse(slot, e)),
            };
            req.cb = cb;
            return self.started(slot, start(BufReq::prepare(slot), &one, 1));
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
        for (out, b) in slots.iter_mut().zip(req.bufs()) {
            match uv_buf(b.as_slice()) {
                Ok(buf) => *out = buf,
                Err(e) => return Err(self.refuse(slot, e)),
            }
        }
        req.cb = cb;
        self.started(
            slot,
            start(BufReq::prepare(slot), slots.as_ptr(), count as u32),
        )
    }

    /// What libuv answered `start` with, taking the request back if it refused.
    fn started(&self, slot: *mut BufReq<H, R>, rc: c_int) -> Result<()> {
        if rc < 0 {
            // libuv refused the request, so it never saw it.
            return Err(self.refuse(slot, Error::from_raw(rc)));
        }
        check(rc).map(drop)
    }

    fn refuse(&self, slot: *mut BufReq<H, R>, e: Error) -> Error {
        // SAFETY: the slot was never handed to libuv (or libuv refused it).
        unsafe { (*slot).cb = None };
        self.give_back(slot);
        e
    }

    /// Returns a finished request to the free list, dropping the buffers it kept alive. Once
    /// nothing is in flight, blocks beyond `KEEP_BLOCKS` are freed.
    pub(crate) fn give_back(&self, slot: *mut BufReq<H, R>) {
        // SAFETY: libuv is done with the slot (its callback ran, or it never saw it).
        let req = unsafe { &mut *slot };
        req.first = None;
        req.more.clear();
        let mut free = self.free.borrow_mut();
        free.push(slot);
        let mut blocks = self.blocks.borrow_mut();
        if blocks.len() > KEEP_BLOCKS && free.len() == blocks.len() * BLOCK {
            blocks.truncate(KEEP_BLOCKS);
            free.clear();
            free.extend(
                blocks
                    .iter_mut()
                    .flat_map(|b| b.iter_mut())
                    .map(std::ptr::from_mut),
            );
        }
    }

    pub(crate) fn clear(&self) {
        self.free.borrow_mut().clear();
        drop(self.blocks.take());
    }
}
