//! Write buffers and the pooled requests that carry them (stream writes, UDP sends).

use std::cell::RefCell;
use std::os::raw::c_int;
use std::rc::Rc;

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::handle::Core;
use super::req::{ReqMem, ReqOwner, from_data, into_data};

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
const POOL_MAX: usize = 64;

pub(crate) fn buf_len(len: usize) -> Result<u32> {
    u32::try_from(len).map_err(|_| Error::EINVAL)
}

/// A request that writes buffers (`uv_write_t`, `uv_udp_send_t`): the libuv request, the
/// buffers it keeps alive, their `uv_buf_t`s, and the completion callback.
pub(crate) struct BufReq<H: 'static> {
    mem: ReqMem,
    bufs: Vec<WriteBuf>,
    uv_bufs: Vec<uv_buf_t>,
    cb: Option<DoneCb<H>>,
}

impl<H> ReqOwner for BufReq<H> {
    fn mem(&self) -> &ReqMem {
        &self.mem
    }
}

impl<H> BufReq<H> {
    /// In the request's libuv callback: takes the request back, with its callback.
    ///
    /// # Safety
    ///
    /// `req` must have been submitted through [`ReqPool::submit`] for this `H`, and libuv must
    /// be calling it back now (once).
    pub(crate) unsafe fn complete<T>(req: *mut T) -> (Box<BufReq<H>>, Option<DoneCb<H>>) {
        // SAFETY: forwarded from the caller.
        let mut owner = unsafe { from_data::<BufReq<H>, T>(req) };
        let cb = owner.cb.take();
        (owner, cb)
    }
}

/// A per-handle free list of [`BufReq`]s: no allocation per write on the steady path.
pub(crate) struct ReqPool<H: 'static> {
    ty: uv_req_type,
    #[allow(clippy::vec_box)] // boxed: a request's address is handed to libuv while in flight
    free: RefCell<Vec<Box<BufReq<H>>>>,
}

impl<H> ReqPool<H> {
    pub(crate) fn new(ty: uv_req_type) -> Self {
        ReqPool {
            ty,
            free: RefCell::default(),
        }
    }

    /// Fills a request with `bufs` and `cb` and hands it to libuv through `start` (which gets
    /// the request, the `uv_buf_t` array and its length); takes it back if libuv refuses.
    pub(crate) fn submit<T>(
        &self,
        bufs: impl IntoIterator<Item = WriteBuf>,
        cb: Option<DoneCb<H>>,
        start: impl FnOnce(*mut T, *const uv_buf_t, u32) -> c_int,
    ) -> Result<()> {
        let pooled = self.free.borrow_mut().pop();
        let mut req = pooled.unwrap_or_else(|| {
            let mem = ReqMem::new(self.ty);
            Box::new(BufReq {
                mem,
                bufs: Vec::new(),
                uv_bufs: Vec::new(),
                cb: None,
            })
        });
        req.bufs.extend(bufs);
        let BufReq { bufs, uv_bufs, .. } = &mut *req;
        for b in bufs.iter() {
            let s = b.as_slice();
            let len = match buf_len(s.len()) {
                Ok(len) => len,
                Err(e) => return Err(self.refuse(req, e)),
            };
            // SAFETY: uv_buf_init only packs a pointer and a length; libuv does not write
            // through a write buffer.
            uv_bufs.push(unsafe { uv_buf_init(s.as_ptr().cast_mut().cast(), len) });
        }
        req.cb = cb;
        let (ptr, count) = (req.uv_bufs.as_ptr(), req.uv_bufs.len() as u32);
        let raw = into_data::<_, T>(req);
        let rc = start(raw, ptr, count);
        if rc < 0 {
            // SAFETY: libuv refused the request, so it never saw it; take it back.
            let owner = unsafe { from_data::<BufReq<H>, T>(raw) };
            return Err(self.refuse(owner, Error::from_raw(rc)));
        }
        check(rc).map(drop)
    }

    fn refuse(&self, mut req: Box<BufReq<H>>, e: Error) -> Error {
        req.cb = None;
        self.put(req);
        e
    }

    /// Returns a finished request to the pool (dropping the buffers it kept alive), unless the
    /// handle is closing or the pool is full.
    pub(crate) fn give_back(&self, req: Box<BufReq<H>>, core: &Core) {
        if core.is_closing() {
            return;
        }
        self.put(req);
    }

    fn put(&self, mut req: Box<BufReq<H>>) {
        req.bufs.clear();
        req.uv_bufs.clear();
        let mut free = self.free.borrow_mut();
        if free.len() < POOL_MAX {
            free.push(req);
        }
    }

    pub(crate) fn clear(&self) {
        drop(self.free.take());
    }
}
