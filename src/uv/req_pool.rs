//! Pooled requests that carry write buffers (stream writes, UDP sends): no allocation per
//! write on the steady path.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::raw::{c_int, c_void};

use libuv_sys2::*;

use super::buf::{WriteBuf, WriteDone, uv_buf};
use super::error::{Error, Result};

/// Buffers per request whose `uv_buf_t`s are built on the stack (libuv copies them).
const STACK_BUFS: usize = 16;

/// A request that writes buffers: the libuv request `R` (`uv_write_t`, `uv_udp_send_t`), the
/// buffers it keeps alive (the first inline, as most writes have one), and the completion
/// callback. Requests live in the blocks of a [`ReqPool`] and never move; a free one links to
/// the next free one through the libuv request's `data` pointer (which points back at the
/// request once submitted). 264 bytes for a `uv_write_t` (192).
///
/// A free request owns nothing (`first`, `more` and `cb` are `None`: `more`'s vectors go back
/// to the pool's spares), so a block is freed without a walk over its
/// requests: the fields are dropped by hand, in [`ReqPool::give_back`] and
/// [`BufReq::complete`]. (Were a request still in flight when its block is freed, which libuv
/// rules out, its buffers would leak, never be freed twice.)
pub(crate) struct BufReq<H: 'static, R> {
    raw: UnsafeCell<MaybeUninit<R>>,
    first: ManuallyDrop<Option<WriteBuf>>,
    more: ManuallyDrop<Option<MoreBufs>>,
    cb: ManuallyDrop<Option<WriteDone<H>>>,
}

/// The buffers of a request after its first, boxed so that a request holds one thin pointer
/// for them (8 bytes, not a `Vec`'s 24: requests are walked by the million in a burst).
#[allow(clippy::box_collection)]
type MoreBufs = Box<Vec<WriteBuf>>;

// Blocks are freed without a walk over their requests (see `BufReq`).
const _: () = assert!(!std::mem::needs_drop::<BufReq<(), uv_write_t>>());
const _: () = assert!(size_of::<BufReq<(), uv_write_t>>() == size_of::<uv_write_t>() + 72);

impl<H, R> BufReq<H, R> {
    fn new() -> Self {
        BufReq {
            raw: UnsafeCell::new(MaybeUninit::uninit()),
            first: ManuallyDrop::new(None),
            more: ManuallyDrop::new(None),
            cb: ManuallyDrop::new(None),
        }
    }

    /// The `data` pointer of the libuv request: the next free request while this one is free.
    ///
    /// # Safety
    ///
    /// `req` must be a live request of a pool.
    #[inline]
    unsafe fn link(req: *mut Self) -> *mut *mut c_void {
        // SAFETY: per the contract; `raw` is inside the request, and every libuv request
        // starts with `uv_req_t`'s fields.
        unsafe { &raw mut (*(*req).raw.get().cast::<uv_req_t>()).data }
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
    #[inline]
    pub(crate) unsafe fn complete(req: *mut R) -> (*mut Self, Option<WriteDone<H>>) {
        // SAFETY: forwarded from the caller: `data` is the slot set by `prepare`, whose block
        // lives until the handle's close callback, after every request callback.
        unsafe {
            let slot = (*req.cast::<uv_req_t>()).data.cast::<Self>();
            (slot, (*slot).cb.take())
        }
    }

    fn bufs(&self) -> impl Iterator<Item = &WriteBuf> {
        self.first
            .iter()
            .chain(self.more.iter().flat_map(|v| v.iter()))
    }
}

/// Requests in one allocation, which never moves: made from a `Box` and freed as one.
type Block<H, R> = *mut [MaybeUninit<BufReq<H, R>>];

/// Requests per block when the pool grows by itself.
const BLOCK: usize = 64;
/// Requests kept once a burst of writes has drained (the leading blocks that fit).
const KEEP_SLOTS: usize = 1024;
/// Spare vectors kept for vectored writes.
const KEEP_SPARE: usize = 64;

/// A per-handle set of [`BufReq`]s, allocated in blocks that never move and reused through an
/// intrusive free list: no allocation per write on the steady path, and one per `BLOCK` writes
/// in a burst (or one for a burst announced by [`reserve`](Self::reserve)). libuv calls back
/// every request of a handle before the handle's close callback (`ECANCELED` for those it could
/// not finish), so the blocks are freed in `clear`, from that callback.
pub(crate) struct ReqPool<H: 'static, R> {
    blocks: RefCell<Vec<Block<H, R>>>,
    /// Requests in all blocks.
    slots: Cell<usize>,
    /// The first free request (null: none), each free request linking to the next.
    free: Cell<*mut BufReq<H, R>>,
    /// Requests taken and not yet given back.
    in_flight: Cell<usize>,
    /// Emptied vectors of the buffers after the first, for the next vectored writes.
    spare: RefCell<Vec<MoreBufs>>,
}

impl<H, R> ReqPool<H, R> {
    pub(crate) fn new() -> Self {
        ReqPool {
            blocks: RefCell::default(),
            slots: Cell::new(0),
            free: Cell::new(std::ptr::null_mut()),
            in_flight: Cell::new(0),
            spare: RefCell::default(),
        }
    }

    #[inline]
    fn take(&self) -> *mut BufReq<H, R> {
        if self.free.get().is_null() {
            self.add_block(BLOCK);
        }
        let slot = self.free.get();
        // SAFETY: `slot` heads the free list, so it is a request of a live block (blocks are
        // freed only with every request free, and the list emptied).
        self.free.set(unsafe { *BufReq::link(slot) }.cast());
        self.in_flight.set(self.in_flight.get() + 1);
        slot
    }

    /// Adds a block of `n` requests to the free list, in address order.
    #[inline(never)]
    fn add_block(&self, n: usize) {
        let block = Box::into_raw(Box::<[BufReq<H, R>]>::new_uninit_slice(n));
        let start = block.cast::<BufReq<H, R>>();
        for i in (0..n).rev() {
            // SAFETY: `i` is in bounds of the new block, whose requests are initialized here.
            unsafe {
                let slot = start.add(i);
                slot.write(BufReq::new());
                *BufReq::link(slot) = self.free.get().cast();
                self.free.set(slot);
            }
        }
        self.slots.set(self.slots.get() + n);
        self.blocks.borrow_mut().push(block);
    }

    /// Makes sure at least `n` requests are ready without allocating (kept until the burst
    /// they serve has drained, as any other block).
    pub(crate) fn reserve(&self, n: usize) {
        let ready = self.slots.get() - self.in_flight.get();
        if ready < n {
            self.add_block(n - ready);
        }
    }

    /// Fills a request with one buffer and `cb` and hands it to libuv through `start` (which
    /// gets the request, the `uv_buf_t` array and its length; libuv copies the array); takes
    /// it back if libuv refuses. Returns the request, in flight until its callback.
    #[inline]
    pub(crate) fn submit_one(
        &self,
        buf: WriteBuf,
        cb: Option<WriteDone<H>>,
        start: impl FnOnce(*mut R, *const uv_buf_t, u32) -> c_int,
    ) -> Result<*mut BufReq<H, R>> {
        let one = uv_buf(buf.as_slice())?;
        let slot = self.take();
        // SAFETY: a request from the pool is ours alone until handed to libuv, and holds
        // neither a buffer nor a callback, so nothing is overwritten without being dropped.
        unsafe {
            (*slot).first = ManuallyDrop::new(Some(buf));
            (*slot).cb = ManuallyDrop::new(cb);
        }
        self.started(slot, start(BufReq::prepare(slot), &one, 1))
            .map(|()| slot)
    }

    /// Sends a [`WriteBuf::Recycled`] buffer home before its request's callback, once libuv
    /// has written all of it: a writer whose writes complete at once then reuses its buffers
    /// within the same loop iteration instead of allocating new ones until the callbacks run.
    ///
    /// # Safety
    ///
    /// `slot` is a request from [`submit_one`](Self::submit_one) whose callback has not run,
    /// and libuv has written every byte of it (it reads only its own copy of the `uv_buf_t`
    /// array afterwards, never the bytes).
    pub(crate) unsafe fn release_written(&self, slot: *mut BufReq<H, R>) {
        // SAFETY: per the contract the request is in flight and its bytes are no longer read;
        // its buffer field is ours to change (libuv never touches it). Dropping the buffer may
        // run the writer's `BufHome`; no borrow of the pool is held across it.
        unsafe {
            if matches!(*(*slot).first, Some(WriteBuf::Recycled(_))) {
                drop((*slot).first.take());
            }
        }
    }

    /// As [`submit_one`](Self::submit_one), for any number of buffers (at least one).
    pub(crate) fn submit(
        &self,
        bufs: impl IntoIterator<Item = WriteBuf>,
        cb: Option<WriteDone<H>>,
        start: impl FnOnce(*mut R, *const uv_buf_t, u32) -> c_int,
    ) -> Result<()> {
        let slot = self.take();
        // SAFETY: a request from the pool is ours alone until handed to libuv.
        let req = unsafe { &mut *slot };
        let mut bufs = bufs.into_iter();
        *req.first = bufs.next();
        if let Some(second) = bufs.next() {
            let mut more = self.spare.borrow_mut().pop().unwrap_or_default();
            more.push(second);
            more.extend(bufs);
            *req.more = Some(more);
        }
        if req.first.is_none() {
            return Err(self.refuse(slot, Error::EINVAL)); // libuv asserts on zero buffers
        }
        let mut stack = [uv_buf_t {
            base: std::ptr::null_mut(),
            len: 0,
        }; STACK_BUFS];
        let mut heap = Vec::new();
        let count = 1 + req.more.as_ref().map_or(0, |v| v.len());
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
        *req.cb = cb;
        self.started(
            slot,
            start(BufReq::prepare(slot), slots.as_ptr(), count as u32),
        )
    }

    /// What libuv answered `start` with, taking the request back if it refused.
    #[inline]
    fn started(&self, slot: *mut BufReq<H, R>, rc: c_int) -> Result<()> {
        if rc < 0 {
            // libuv refused the request, so it never saw it.
            return Err(self.refuse(slot, Error::from_raw(rc)));
        }
        Ok(())
    }

    #[cold]
    fn refuse(&self, slot: *mut BufReq<H, R>, e: Error) -> Error {
        // SAFETY: the request was never handed to libuv (or libuv refused it).
        unsafe { *(*slot).cb = None };
        self.give_back(slot);
        e
    }

    /// Returns a finished request to the free list, dropping the buffers it kept alive. Once
    /// nothing is in flight, requests beyond `KEEP_SLOTS` are freed.
    #[inline]
    pub(crate) fn give_back(&self, slot: *mut BufReq<H, R>) {
        // SAFETY: libuv is done with the request (its callback ran, or it never saw it), and
        // it is not on the free list: ours alone. Dropping a buffer may run user code (a
        // `BufHome`) that writes again; no borrow is held across it.
        unsafe {
            if matches!(*(*slot).first, None | Some(WriteBuf::Static(_))) {
                // Nothing to drop (a static slice owns nothing).
                (*slot).first = ManuallyDrop::new(None);
            } else {
                drop((*slot).first.take());
            }
            if let Some(mut more) = (*slot).more.take() {
                more.clear();
                self.keep_spare(more);
            }
            *BufReq::link(slot) = self.free.get().cast();
        }
        self.free.set(slot);
        let left = self.in_flight.get() - 1;
        self.in_flight.set(left);
        if left == 0 && self.slots.get() > KEEP_SLOTS {
            self.trim();
        }
    }

    /// Keeps an empty vector for the next vectored write (a few are enough).
    fn keep_spare(&self, more: MoreBufs) {
        let mut spare = self.spare.borrow_mut();
        if spare.len() < KEEP_SPARE {
            spare.push(more);
        }
    }

    /// Keeps the leading blocks that fit in `KEEP_SLOTS` and frees the rest; every request is
    /// free, so the kept ones become the free list.
    #[cold]
    fn trim(&self) {
        let mut blocks = self.blocks.borrow_mut();
        let mut kept = 0;
        let mut keep = 0;
        while keep < blocks.len() && kept + blocks[keep].len() <= KEEP_SLOTS {
            kept += blocks[keep].len();
            keep += 1;
        }
        for block in blocks.drain(keep..) {
            // SAFETY: made by `Box::into_raw` in `add_block`, freed once; its requests own
            // nothing (every one is free).
            drop(unsafe { Box::from_raw(block) });
        }
        self.slots.set(kept);
        self.free.set(std::ptr::null_mut());
        for &block in blocks.iter().rev() {
            let start = block.cast::<BufReq<H, R>>();
            for i in (0..block.len()).rev() {
                // SAFETY: `i` is in bounds; a block's requests are initialized in `add_block`.
                unsafe {
                    let slot = start.add(i);
                    *BufReq::link(slot) = self.free.get().cast();
                    self.free.set(slot);
                }
            }
        }
    }

    /// Frees every block (from the handle's close callback: no request is in flight).
    pub(crate) fn clear(&self) {
        self.free.set(std::ptr::null_mut());
        self.in_flight.set(0);
        self.slots.set(0);
        drop(self.spare.take());
        for block in self.blocks.take() {
            // SAFETY: made by `Box::into_raw` in `add_block`, freed once.
            drop(unsafe { Box::from_raw(block) });
        }
    }
}

impl<H, R> Drop for ReqPool<H, R> {
    fn drop(&mut self) {
        self.clear();
    }
}
