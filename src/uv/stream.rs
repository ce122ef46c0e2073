//! The stream layer shared by [`Tcp`](super::Tcp) and [`Pipe`](super::Pipe): reading, writing,
//! shutdown, listening and accepting.
//!
//! Reads land in one buffer per loop (reads are sequential on a loop thread: libuv asks for a
//! buffer, reads into it and calls back before anything else runs), lent to the read callback as
//! a `&[u8]`; no allocation per read. A stream can instead read into its own buffer
//! ([`read_start_owned`]), which the async layer swaps out whole, or into memory its reader
//! provides for each read ([`ReadSink`], `read_start_into`): the bytes are then copied once,
//! by the kernel. Write requests are pooled per stream and keep the written
//! buffers alive until their callback; a caller that wants no request at all uses `try_write`.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::os::raw::c_int;

use libuv_sys2::*;

use super::buf::{DoneCb, WriteBuf, WriteDone};
use super::error::{Error, Result, check};
use super::handle::{Callback, Owned, State, dispatch};
use super::loop_::alloc_read_buffer;
use super::req::{ReqMem, ReqOwner, from_data, into_data};
use super::req_pool::{BufReq, ReqPool};

type ReadCb<H> = dyn FnMut(&H, Result<&[u8]>);
type ConnectionCb<H> = dyn FnMut(&H, Result<()>);
type CountCb<H> = dyn FnMut(&H, Result<usize>);

/// Memory that a stream reads into, provided by its reader for each read
/// (`read_start_into` on [`Tcp`](super::Tcp) and [`Pipe`](super::Pipe)).
///
/// # Safety
///
/// The `len` bytes at `ptr` that [`ReadSink::buffer`] returns must stay allocated, and be
/// neither read nor written by anything else, until the sink's next `buffer` call or its
/// drop: libuv writes the bytes it reads there after `buffer` returns, and the read callback
/// (which gets how many) runs before anything else can. A `(null, 0)` buffer says there is no
/// memory: the read then fails with `ENOBUFS`.
pub unsafe trait ReadSink {
    /// Memory for the next read; libuv suggests `suggested` bytes.
    fn buffer(&self, suggested: usize) -> (*mut u8, usize);
}

/// How a stream reads.
#[derive(Clone, Copy, PartialEq)]
enum ReadMode {
    /// Into the loop's buffer, lent to `read_cb`.
    Loop,
    /// Into `inbuf` (`read_start_owned`).
    Owned,
    /// Into `sink` (`read_start_into`).
    Sink,
}

/// Free space offered to libuv for each read into a stream's own buffer.
const OWN_READ_CHUNK: usize = 64 * 1024;

/// Per-stream state, generic over the public handle type so callbacks get `&Tcp` or `&Pipe`.
pub(crate) struct StreamState<H: StreamHandle> {
    read_cb: Callback<ReadCb<H>>,
    /// The callback of reads into `inbuf` (`read_start_owned`).
    count_cb: Callback<CountCb<H>>,
    /// The stream's own read buffer, when reading with `read_start_owned`.
    inbuf: RefCell<Vec<u8>>,
    /// Where reads go (the callback is `count_cb` for `Owned` and `Sink`).
    mode: Cell<ReadMode>,
    /// The reader's memory, when reading with `read_start_into`; and how much of it libuv
    /// was lent for the read in progress.
    sink: RefCell<Option<std::rc::Rc<dyn ReadSink>>>,
    sink_lent: Cell<usize>,
    connection_cb: Callback<ConnectionCb<H>>,
    pub(crate) write_pool: ReqPool<H, uv_write_t>,
    /// What only this kind of stream keeps (a pipe's IPC flag, a terminal's descriptor).
    pub(crate) extra: H::Extra,
    /// Reading is on (libuv stops it by itself at EOF and on errors).
    reading: Cell<bool>,
    /// `read_start` installed a callback, which `read_resume` reuses.
    has_read_cb: Cell<bool>,
    /// A connect request is pending (`shutdown` is refused until it completes).
    connecting: Cell<bool>,
}

impl<H: StreamHandle> StreamState<H> {
    pub(crate) fn new(extra: H::Extra) -> Self {
        StreamState {
            read_cb: Callback::empty(),
            count_cb: Callback::empty(),
            inbuf: RefCell::new(Vec::new()),
            mode: Cell::new(ReadMode::Loop),
            sink: RefCell::new(None),
            sink_lent: Cell::new(0),
            connection_cb: Callback::empty(),
            write_pool: ReqPool::new(),
            extra,
            reading: Cell::new(false),
            has_read_cb: Cell::new(false),
            connecting: Cell::new(false),
        }
    }
}

impl<H: StreamHandle> State for StreamState<H> {
    type Raw = H::Raw;

    fn clear(&self) {
        self.read_cb.clear();
        self.count_cb.clear();
        self.connection_cb.clear();
        self.write_pool.clear();
        drop(self.sink.take());
        self.extra.clear();
        self.has_read_cb.set(false);
    }
}

/// What the generic stream code needs from a public stream type.
pub(crate) trait StreamHandle: Sized + Unpin + 'static {
    /// The libuv struct: `uv_tcp_t`, `uv_pipe_t`, `uv_tty_t`.
    type Raw;
    /// The state only this kind of stream has, in its [`StreamState`].
    type Extra: StreamExtra;
    fn owned(&self) -> &Owned<StreamState<Self>>;
    fn wrap(owned: Owned<StreamState<Self>>) -> Self;
    /// A fresh, unconnected handle of the same kind on the same loop (for `accept`).
    fn new_peer(&self) -> Result<Self>;
    /// The owned handle, for `detach`.
    fn into_owned(self) -> Owned<StreamState<Self>>;
}

/// State of one kind of stream, kept in its [`StreamState`] and cleared with it (after the
/// handle is closed, or when it is detached).
pub(crate) trait StreamExtra {
    /// Drops what is held for the handle's life.
    fn clear(&self) {}
}

/// TCP streams keep nothing of their own.
impl StreamExtra for () {}

/// Lets the stream live on without an owner (see `detach` on the public types).
pub(crate) fn detach<H: StreamHandle>(h: H) {
    h.into_owned().detach();
}

fn stream<H: StreamHandle>(h: &H) -> Result<*mut uv_stream_t> {
    h.owned().raw::<uv_stream_t>()
}

// ---- reading ----

unsafe extern "C" fn on_read<H: StreamHandle>(
    raw: *mut uv_stream_t,
    n: isize,
    buf: *const uv_buf_t,
) {
    if n == 0 {
        return; // EAGAIN: nothing read
    }
    // SAFETY: `buf` is the buffer our alloc callback gave (or null on some errors).
    let base = unsafe { buf.as_ref() }.map_or(std::ptr::null(), |b| b.base.cast_const().cast());
    // SAFETY: libuv calls this only for open streams made by `H`.
    unsafe {
        dispatch(raw.cast(), H::wrap, |h| {
            let owned = h.owned();
            if n < 0 {
                owned.state().reading.set(false); // libuv stopped reading (EOF or error)
            }
            owned.loop_inner().with_read_buffer(base, n, |data| {
                owned.state().read_cb.call(owned.core(), |f| f(h, data));
            });
        })
    }
}

pub(crate) fn read_start<H: StreamHandle>(
    h: &H,
    cb: impl FnMut(&H, Result<&[u8]>) + 'static,
) -> Result<()> {
    start_reading(h, ReadMode::Loop)?;
    // Installed only once libuv accepted the start: a refused start keeps the old one.
    let state = h.owned().state();
    state.read_cb.set(Box::new(cb));
    state.count_cb.clear();
    state.has_read_cb.set(true);
    Ok(())
}

/// Starts reading into the stream's own buffer: `cb` gets the number of bytes each read
/// appended (or the error, `Error::EOF` at the end); [`swap_read_buffer`] takes them.
pub(crate) fn read_start_owned<H: StreamHandle>(
    h: &H,
    cb: impl FnMut(&H, Result<usize>) + 'static,
) -> Result<()> {
    start_reading(h, ReadMode::Owned)?;
    let state = h.owned().state();
    state.count_cb.set(Box::new(cb));
    state.read_cb.clear();
    state.has_read_cb.set(true);
    Ok(())
}

/// Starts reading into the memory `sink` provides: `cb` gets how many bytes each read put
/// there (or the error, `Error::EOF` at the end).
pub(crate) fn read_start_into<H: StreamHandle>(
    h: &H,
    sink: std::rc::Rc<dyn ReadSink>,
    cb: impl FnMut(&H, Result<usize>) + 'static,
) -> Result<()> {
    let state = h.owned().state();
    let old = state.sink.replace(Some(sink));
    if let Err(e) = start_reading(h, ReadMode::Sink) {
        drop(state.sink.replace(old));
        return Err(e);
    }
    drop(old);
    state.count_cb.set(Box::new(cb));
    state.read_cb.clear();
    state.has_read_cb.set(true);
    Ok(())
}

pub(crate) fn read_resume<H: StreamHandle>(h: &H) -> Result<()> {
    let state = h.owned().state();
    if !state.has_read_cb.get() {
        return Err(Error::EINVAL);
    }
    start_reading(h, state.mode.get())
}

fn start_reading<H: StreamHandle>(h: &H, mode: ReadMode) -> Result<()> {
    let raw = stream(h)?;
    let (alloc, read): (uv_alloc_cb, uv_read_cb) = match mode {
        ReadMode::Owned => (Some(alloc_own::<H>), Some(on_read_own::<H>)),
        ReadMode::Sink => (Some(alloc_sink::<H>), Some(on_read_sink::<H>)),
        ReadMode::Loop => (Some(alloc_read_buffer), Some(on_read::<H>)),
    };
    // SAFETY: `raw` is an open stream made by `H`; the callbacks are those of its type.
    let rc = unsafe { uv_read_start(raw, alloc, read) };
    check(rc)?;
    let state = h.owned().state();
    state.reading.set(true);
    state.mode.set(mode);
    Ok(())
}

/// The alloc callback of reads into a reader's sink: the memory it provides.
unsafe extern "C" fn alloc_sink<H: StreamHandle>(
    raw: *mut uv_handle_t,
    suggested: usize,
    buf: *mut uv_buf_t,
) {
    let mut lent: (*mut u8, usize) = (std::ptr::null_mut(), 0);
    // SAFETY: libuv calls this only for open streams made by `H`; `dispatch` catches a panic
    // of the sink (resumed from the loop's run) and leaves the buffer empty (ENOBUFS).
    unsafe {
        dispatch(raw, H::wrap, |h| {
            let state = h.owned().state();
            let sink = state.sink.borrow().clone();
            if let Some(sink) = sink {
                lent = sink.buffer(suggested);
            }
            state
                .sink_lent
                .set(if lent.0.is_null() { 0 } else { lent.1 });
        });
    }
    let (base, len) = if lent.0.is_null() { (lent.0, 0) } else { lent };
    // SAFETY: `buf` points to the uv_buf_t libuv asks us to fill.
    unsafe {
        *buf = uv_buf_t {
            base: base.cast(),
            len,
        }
    };
}

unsafe extern "C" fn on_read_sink<H: StreamHandle>(
    raw: *mut uv_stream_t,
    n: isize,
    _buf: *const uv_buf_t,
) {
    if n == 0 {
        return; // EAGAIN: nothing read
    }
    // SAFETY: libuv calls this only for open streams made by `H`.
    unsafe {
        dispatch(raw.cast(), H::wrap, |h| {
            let owned = h.owned();
            let state = owned.state();
            let lent = state.sink_lent.replace(0);
            let r = if n < 0 {
                state.reading.set(false); // libuv stopped reading (EOF or error)
                Err(Error::from_raw(n as i32))
            } else if n as usize > lent {
                Err(Error::ENOBUFS) // more than the sink lent: cannot happen
            } else {
                Ok(n as usize)
            };
            state.count_cb.call(owned.core(), |f| f(h, r));
        })
    }
}

/// The alloc callback of reads into a stream's own buffer: its spare capacity.
unsafe extern "C" fn alloc_own<H: StreamHandle>(
    raw: *mut uv_handle_t,
    _suggested: usize,
    buf: *mut uv_buf_t,
) {
    // SAFETY: libuv calls this only for open streams made by `H`; no user code runs here.
    let owned = unsafe { Owned::<StreamState<H>>::borrow(raw) };
    let (base, len) = match owned.state().inbuf.try_borrow_mut() {
        Ok(mut v) => {
            v.reserve(OWN_READ_CHUNK);
            let spare = v.spare_capacity_mut();
            (spare.as_mut_ptr().cast::<u8>(), spare.len())
        }
        Err(_) => (std::ptr::null_mut(), 0), // libuv reports ENOBUFS
    };
    // SAFETY: `buf` points to the uv_buf_t libuv asks us to fill.
    unsafe {
        *buf = uv_buf_t {
            base: base.cast(),
            len,
        }
    };
}

unsafe extern "C" fn on_read_own<H: StreamHandle>(
    raw: *mut uv_stream_t,
    n: isize,
    buf: *const uv_buf_t,
) {
    if n == 0 {
        return; // EAGAIN: nothing read
    }
    // SAFETY: `buf` is the buffer `alloc_own` gave (or null on some errors).
    let base = unsafe { buf.as_ref() }.map_or(std::ptr::null(), |b| b.base.cast_const().cast());
    // SAFETY: libuv calls this only for open streams made by `H`.
    unsafe {
        dispatch(raw.cast(), H::wrap, |h| {
            let owned = h.owned();
            let state = owned.state();
            let r = if n < 0 {
                state.reading.set(false); // libuv stopped reading (EOF or error)
                Err(Error::from_raw(n as i32))
            } else {
                commit_own_read(&mut state.inbuf.borrow_mut(), base, n as usize)
            };
            state.count_cb.call(owned.core(), |f| f(h, r));
        })
    }
}

/// Counts the `n` bytes libuv read at `base` into `v`'s spare capacity as part of `v`.
fn commit_own_read(v: &mut Vec<u8>, base: *const u8, n: usize) -> Result<usize> {
    let spare = v.spare_capacity_mut();
    if base != spare.as_ptr().cast::<u8>() || n > spare.len() {
        return Err(Error::ENOBUFS); // not the buffer we lent: cannot happen
    }
    // SAFETY: libuv wrote `n` bytes at the start of the spare capacity `alloc_own` lent it
    // (checked above); nothing touched the vector between the alloc and the read callbacks.
    unsafe { v.set_len(v.len() + n) };
    Ok(n)
}

/// Exchanges the stream's own read buffer with `other` (whole, no copy): the bytes read so far
/// go to the caller, and `other` (emptied first, its capacity kept) takes the next reads.
pub(crate) fn swap_read_buffer<H: StreamHandle>(h: &H, other: &mut Vec<u8>) {
    other.clear();
    if let Ok(mut v) = h.owned().state().inbuf.try_borrow_mut() {
        std::mem::swap(&mut *v, other);
    }
}

/// How many bytes wait in the stream's own read buffer.
pub(crate) fn read_buffer_len<H: StreamHandle>(h: &H) -> usize {
    h.owned().state().inbuf.try_borrow().map_or(0, |v| v.len())
}

pub(crate) fn read_stop<H: StreamHandle>(h: &H) -> Result<()> {
    // SAFETY: the stream is open.
    check(unsafe { uv_read_stop(stream(h)?) })?;
    h.owned().state().reading.set(false);
    Ok(())
}

pub(crate) fn is_reading<H: StreamHandle>(h: &H) -> bool {
    !h.owned().core().is_closing() && h.owned().state().reading.get()
}

// ---- writing ----

unsafe extern "C" fn on_write<H: StreamHandle>(req: *mut uv_write_t, status: c_int) {
    // SAFETY: `req` was handed to libuv by `write2` through `ReqPool::submit`.
    let (owner, cb) = unsafe { BufReq::<H, uv_write_t>::complete(req) };
    // SAFETY: a write request's `handle` is the stream it writes to, still open (or closing,
    // for ECANCELED): its memory is freed only after its close callback, which runs later.
    let raw = unsafe { (*req).handle };
    // SAFETY: as above.
    unsafe {
        dispatch(raw.cast(), H::wrap, |h| {
            h.owned().state().write_pool.give_back(owner);
            if let Some(cb) = cb {
                cb.call(h, check(status).map(drop));
            }
        })
    }
}

/// A write of one buffer (the common case: no iterator, its `uv_buf_t` on the stack).
#[inline]
pub(crate) fn write_one<H: StreamHandle>(
    h: &H,
    buf: WriteBuf,
    cb: Option<WriteDone<H>>,
) -> Result<()> {
    let raw = stream(h)?;
    let pool = &h.owned().state().write_pool;
    let slot = pool.submit_one(buf, cb, |req: *mut uv_write_t, ptr, count| {
        // SAFETY: `raw` is an open stream; the buffer stays alive in the request until
        // `on_write` (or, recycled, until written: below).
        unsafe { uv_write(req, raw, ptr, count, Some(on_write::<H>)) }
    })?;
    // SAFETY: `raw` is an open stream. libuv counts the bytes queued and not yet written; none
    // left means this request was written in full inside `uv_write` (its callback, which never
    // runs from inside `uv_write`, is still to come).
    if unsafe { uv_stream_get_write_queue_size(raw) } == 0 {
        // SAFETY: as just said.
        unsafe { pool.release_written(slot) };
    }
    Ok(())
}

pub(crate) fn write_bufs<H: StreamHandle>(
    h: &H,
    bufs: impl IntoIterator<Item = WriteBuf>,
    cb: Option<WriteDone<H>>,
) -> Result<()> {
    write2(h, bufs, std::ptr::null_mut(), cb)
}

/// A write that may also send a handle over an IPC pipe (`send` non-null).
pub(crate) fn write2<H: StreamHandle>(
    h: &H,
    bufs: impl IntoIterator<Item = WriteBuf>,
    send: *mut uv_stream_t,
    cb: Option<WriteDone<H>>,
) -> Result<()> {
    let raw = stream(h)?;
    let pool = &h.owned().state().write_pool;
    pool.submit(bufs, cb, |req: *mut uv_write_t, ptr, count| {
        // SAFETY: `raw` is an open stream; the buffers stay alive in the request until
        // `on_write`; `send` is null or an open stream (checked by the caller).
        unsafe { uv_write2(req, raw, ptr, count, send, Some(on_write::<H>)) }
    })
}

pub(crate) fn write_copy<H: StreamHandle>(h: &H, data: &[u8]) -> Result<()> {
    let done = match try_write(h, &[data]) {
        Ok(n) => n,
        Err(Error::EAGAIN) => 0,
        Err(e) => return Err(e),
    };
    if done == data.len() {
        return Ok(());
    }
    write_one(h, WriteBuf::Vec(data[done..].to_vec()), None)
}

pub(crate) fn try_write<H: StreamHandle>(h: &H, bufs: &[&[u8]]) -> Result<usize> {
    let raw = stream(h)?;
    if bufs.is_empty() {
        return Ok(0);
    }
    let mut uv_bufs = [uv_buf_t {
        base: std::ptr::null_mut(),
        len: 0,
    }; 16];
    let count = bufs.len().min(uv_bufs.len());
    for (slot, b) in uv_bufs.iter_mut().zip(bufs) {
        *slot = super::buf::uv_buf(b)?; // uv_try_write reads the bytes before returning
    }
    // SAFETY: `raw` is an open stream; the buffers outlive the call.
    check(unsafe { uv_try_write(raw, uv_bufs.as_ptr(), count as u32) }).map(|n| n as usize)
}

// ---- connect, shutdown, listen, accept ----

/// A stream request whose only payload is its completion callback: connect or shutdown.
struct DoneReq<H: 'static> {
    mem: ReqMem,
    cb: DoneCb<H>,
}

impl<H> ReqOwner for DoneReq<H> {
    fn mem(&self) -> &ReqMem {
        &self.mem
    }
}

/// The libuv request types a [`DoneReq`] rides in.
trait StreamReq {
    const TYPE: uv_req_type;
    /// The request's stream.
    ///
    /// # Safety
    ///
    /// `req` must be a request of this type that libuv is calling back.
    unsafe fn stream(req: *mut Self) -> *mut uv_stream_t;
}

impl StreamReq for uv_connect_t {
    const TYPE: uv_req_type = uv_req_type_UV_CONNECT;
    unsafe fn stream(req: *mut Self) -> *mut uv_stream_t {
        // SAFETY: per the contract.
        unsafe { (*req).handle }
    }
}

impl StreamReq for uv_shutdown_t {
    const TYPE: uv_req_type = uv_req_type_UV_SHUTDOWN;
    unsafe fn stream(req: *mut Self) -> *mut uv_stream_t {
        // SAFETY: per the contract.
        unsafe { (*req).handle }
    }
}

unsafe extern "C" fn on_done<H: StreamHandle, R: StreamReq>(req: *mut R, status: c_int) {
    // SAFETY: `req` was handed to libuv by `submit_done` through `into_data`.
    let owner = unsafe { from_data::<DoneReq<H>, _>(req) };
    // SAFETY: the request's stream is open or closing (memory alive until its close callback).
    let raw = unsafe { R::stream(req) };
    // SAFETY: as above.
    unsafe {
        dispatch(raw.cast(), H::wrap, |h| {
            (owner.cb)(h, check(status).map(drop))
        })
    }
}

/// Starts a connect or shutdown request: `start` makes the libuv call with the request and the
/// callback to pass on; a refused request is taken back at once.
fn submit_done<H: StreamHandle, R: StreamReq>(
    h: &H,
    cb: DoneCb<H>,
    start: impl FnOnce(*mut R, Option<unsafe extern "C" fn(*mut R, c_int)>) -> c_int,
) -> Result<()> {
    stream(h)?;
    let req = into_data::<_, R>(Box::new(DoneReq {
        mem: ReqMem::new(R::TYPE),
        cb,
    }));
    let rc = start(req, Some(on_done::<H, R>));
    if rc < 0 {
        // SAFETY: refused, so libuv never saw the request.
        drop(unsafe { from_data::<DoneReq<H>, _>(req) });
    }
    check(rc).map(drop)
}

/// Starts a connect request: `start` calls `uv_tcp_connect`/`uv_pipe_connect2` with the request
/// and the callback to pass on.
pub(crate) fn connect<H: StreamHandle>(
    h: &H,
    cb: DoneCb<H>,
    start: impl FnOnce(*mut uv_connect_t, uv_connect_cb) -> c_int,
) -> Result<()> {
    let done = Box::new(move |h: &H, r: Result<()>| {
        h.owned().state().connecting.set(false);
        cb(h, r);
    });
    submit_done(h, done, start)?;
    h.owned().state().connecting.set(true);
    Ok(())
}

/// Refused with `ENOTCONN` while a connect is pending: libuv would queue it and never complete
/// it (a successful connect with nothing to write stops watching for writability).
pub(crate) fn shutdown<H: StreamHandle>(h: &H, cb: DoneCb<H>) -> Result<()> {
    let raw = stream(h)?;
    if h.owned().state().connecting.get() {
        return Err(Error::ENOTCONN);
    }
    // SAFETY: `raw` is an open stream; the request is ours until its callback.
    submit_done(h, cb, |req, done| unsafe { uv_shutdown(req, raw, done) })
}

unsafe extern "C" fn on_connection<H: StreamHandle>(raw: *mut uv_stream_t, status: c_int) {
    // SAFETY: libuv calls this only for open listening streams made by `H`.
    unsafe {
        dispatch(raw.cast(), H::wrap, |h| {
            let owned = h.owned();
            owned
                .state()
                .connection_cb
                .call(owned.core(), |f| f(h, check(status).map(drop)));
        })
    }
}

pub(crate) fn listen<H: StreamHandle>(
    h: &H,
    backlog: i32,
    cb: impl FnMut(&H, Result<()>) + 'static,
) -> Result<()> {
    let raw = stream(h)?;
    // SAFETY: `raw` is an open stream.
    check(unsafe { uv_listen(raw, backlog, Some(on_connection::<H>)) })?;
    // Installed only once libuv accepted the start: a refused start keeps the old one.
    h.owned().state().connection_cb.set(Box::new(cb));
    Ok(())
}

pub(crate) fn accept<H: StreamHandle>(h: &H) -> Result<H> {
    let server = stream(h)?;
    let client = h.new_peer()?;
    // SAFETY: both are open streams of the same kind on the same loop.
    check(unsafe { uv_accept(server, stream(&client)?) })?;
    Ok(client)
}

pub(crate) fn write_queue_size<H: StreamHandle>(h: &H) -> usize {
    // SAFETY: the stream is open.
    stream(h).map_or(0, |raw| unsafe { uv_stream_get_write_queue_size(raw) })
}

pub(crate) fn is_readable<H: StreamHandle>(h: &H) -> bool {
    // SAFETY: the stream is open.
    stream(h).is_ok_and(|raw| unsafe { uv_is_readable(raw) } != 0)
}

pub(crate) fn is_writable<H: StreamHandle>(h: &H) -> bool {
    // SAFETY: the stream is open.
    stream(h).is_ok_and(|raw| unsafe { uv_is_writable(raw) } != 0)
}

pub(crate) fn fileno<H: StreamHandle>(h: &H) -> Result<RawFd> {
    let mut fd: uv_os_fd_t = -1;
    // SAFETY: the handle is open; `fd` is a valid out-pointer.
    check(unsafe { uv_fileno(h.owned().raw()?, &mut fd) })?;
    Ok(fd)
}

pub(crate) fn set_blocking<H: StreamHandle>(h: &H, on: bool) -> Result<()> {
    // SAFETY: the stream is open.
    check(unsafe { uv_stream_set_blocking(stream(h)?, c_int::from(on)) }).map(drop)
}

/// Adds the stream methods to a stream type.
macro_rules! stream_methods {
    ($ty:ident) => {
        impl $ty {
            /// Starts reading: `cb` gets each chunk read (a `&[u8]` lent for the call; copy what
            /// you keep), then `Err(Error::EOF)` at end of stream or another error. After an
            /// error or EOF reading has stopped.
            ///
            /// # Errors
            ///
            /// `ENOTCONN` if not connected; [`Error::CLOSED`](crate::Error::CLOSED) if closing.
            #[doc(alias = "uv_read_start")]
            pub fn read_start(
                &self,
                cb: impl FnMut(&$ty, crate::Result<&[u8]>) + 'static,
            ) -> crate::Result<()> {
                $crate::uv::stream::read_start(self, cb)
            }

            /// Starts reading into memory that `sink` provides for each read (see
            /// [`ReadSink`](crate::ReadSink)): `cb` gets how many bytes a read put into the
            /// buffer the sink gave last, then `Err(Error::EOF)` at end of stream or another
            /// error. No copy but the kernel's: for readers that hand the memory on (a
            /// language runtime's byte strings, say).
            ///
            /// # Errors
            ///
            /// As `read_start`.
            #[doc(alias = "uv_read_start")]
            pub fn read_start_into(
                &self,
                sink: std::rc::Rc<dyn $crate::ReadSink>,
                cb: impl FnMut(&$ty, crate::Result<usize>) + 'static,
            ) -> crate::Result<()> {
                $crate::uv::stream::read_start_into(self, sink, cb)
            }

            /// Reads again with the callback of the last `read_start` (after `read_stop`, for
            /// backpressure).
            ///
            /// # Errors
            ///
            /// `EINVAL` if `read_start` never installed a callback; `ENOTCONN` after EOF;
            /// [`Error::CLOSED`](crate::Error::CLOSED) if closing.
            #[doc(alias = "uv_read_start")]
            pub fn read_resume(&self) -> crate::Result<()> {
                $crate::uv::stream::read_resume(self)
            }

            /// Whether reading is on: started and not stopped, and no EOF or read error yet.
            pub fn is_reading(&self) -> bool {
                $crate::uv::stream::is_reading(self)
            }

            /// Stops reading. The read callback stays installed, for `read_resume`.
            ///
            /// # Errors
            ///
            /// [`Error::CLOSED`](crate::Error::CLOSED) if closing.
            #[doc(alias = "uv_read_stop")]
            pub fn read_stop(&self) -> crate::Result<()> {
                $crate::uv::stream::read_stop(self)
            }

            /// Queues a write of `buf`; `cb` runs once it is written, or failed, or with
            /// `ECANCELED` if the handle was closed before it could be written (a write that
            /// completed just before the close still reports `Ok`). The buffer is kept alive
            /// until then. The request is pooled: no allocation per write on the steady path
            /// (a `cb` that captures nothing is not allocated either).
            ///
            /// # Errors
            ///
            /// `EPIPE` or `ENOTCONN` when the stream cannot be written;
            /// [`Error::CLOSED`](crate::Error::CLOSED) if closing.
            #[doc(alias = "uv_write")]
            pub fn write(
                &self,
                buf: impl Into<$crate::uv::WriteBuf>,
                cb: impl FnOnce(&$ty, crate::Result<()>) + 'static,
            ) -> crate::Result<()> {
                $crate::uv::stream::write_one(
                    self,
                    buf.into(),
                    Some($crate::uv::buf::WriteDone::Once(Box::new(cb))),
                )
            }

            /// As [`write`](Self::write), with a callback shared by many writes (cloning the
            /// `Rc` is all a write costs: no allocation for the callback).
            ///
            /// # Errors
            ///
            /// As for `write`.
            #[doc(alias = "uv_write")]
            pub fn write_shared(
                &self,
                buf: impl Into<$crate::uv::WriteBuf>,
                cb: &std::rc::Rc<dyn Fn(&$ty, crate::Result<()>)>,
            ) -> crate::Result<()> {
                $crate::uv::stream::write_one(
                    self,
                    buf.into(),
                    Some($crate::uv::buf::WriteDone::Shared(cb.clone())),
                )
            }

            /// Prepares `n` write requests ahead, so that the next `n` queued writes allocate
            /// nothing (for a known burst; they are freed again once a burst has drained).
            ///
            /// # Errors
            ///
            /// [`Error::CLOSED`](crate::Error::CLOSED) if closing.
            pub fn reserve_writes(&self, n: usize) -> crate::Result<()> {
                self.0.raw::<libuv_sys2::uv_stream_t>()?;
                self.0.state().write_pool.reserve(n);
                Ok(())
            }

            /// Queues a write with no completion callback (errors then surface on the next
            /// read or write).
            ///
            /// # Errors
            ///
            /// As for `write`.
            #[doc(alias = "uv_write")]
            pub fn write_nocb(&self, buf: impl Into<$crate::uv::WriteBuf>) -> crate::Result<()> {
                $crate::uv::stream::write_one(self, buf.into(), None)
            }

            /// Queues one vectored write of several buffers.
            ///
            /// # Errors
            ///
            /// As for `write`.
            #[doc(alias = "uv_write")]
            pub fn write_vectored(
                &self,
                bufs: impl IntoIterator<Item = $crate::uv::WriteBuf>,
                cb: impl FnOnce(&$ty, crate::Result<()>) + 'static,
            ) -> crate::Result<()> {
                $crate::uv::stream::write_bufs(
                    self,
                    bufs,
                    Some($crate::uv::buf::WriteDone::Once(Box::new(cb))),
                )
            }

            /// Writes borrowed bytes: what the socket takes right now without a copy, then a
            /// queued copy of the rest, with no callback (watch `write_queue_size` for
            /// backpressure). What uvloop does for `transport.write`.
            ///
            /// # Errors
            ///
            /// As for `write`.
            pub fn write_copy(&self, data: &[u8]) -> crate::Result<()> {
                $crate::uv::stream::write_copy(self, data)
            }

            /// Writes what the socket takes right now, without queueing: returns the number
            /// of bytes written. No request, no copy.
            ///
            /// # Errors
            ///
            /// `EAGAIN` if nothing could be written now (or writes are already queued);
            /// [`Error::CLOSED`](crate::Error::CLOSED) if closing.
            #[doc(alias = "uv_try_write")]
            pub fn try_write(&self, buf: &[u8]) -> crate::Result<usize> {
                $crate::uv::stream::try_write(self, &[buf])
            }

            /// Like `try_write`, for up to 16 buffers at once.
            ///
            /// # Errors
            ///
            /// As for `try_write`.
            #[doc(alias = "uv_try_write")]
            pub fn try_write_vectored(&self, bufs: &[&[u8]]) -> crate::Result<usize> {
                $crate::uv::stream::try_write(self, bufs)
            }

            /// Shuts down the write side once queued writes are done; `cb` runs then.
            ///
            /// # Errors
            ///
            /// `ENOTCONN` if not connected, also while a connect is still pending (libuv
            /// would never complete that shutdown); [`Error::CLOSED`](crate::Error::CLOSED) if
            /// closing.
            #[doc(alias = "uv_shutdown")]
            pub fn shutdown(
                &self,
                cb: impl FnOnce(&$ty, crate::Result<()>) + 'static,
            ) -> crate::Result<()> {
                $crate::uv::stream::shutdown(self, Box::new(cb))
            }

            /// Listens for connections; `cb` runs for each one, which
            /// [`accept`](Self::accept) then takes.
            ///
            /// # Errors
            ///
            /// `EADDRINUSE`, `EINVAL` (not bound), ...; [`Error::CLOSED`](crate::Error::CLOSED).
            #[doc(alias = "uv_listen")]
            pub fn listen(
                &self,
                backlog: i32,
                cb: impl FnMut(&$ty, crate::Result<()>) + 'static,
            ) -> crate::Result<()> {
                $crate::uv::stream::listen(self, backlog, cb)
            }

            /// Accepts a pending connection as a new handle on the same loop.
            ///
            /// # Errors
            ///
            /// `EAGAIN` when no connection is pending; [`Error::CLOSED`](crate::Error::CLOSED).
            #[doc(alias = "uv_accept")]
            pub fn accept(&self) -> crate::Result<$ty> {
                $crate::uv::stream::accept(self)
            }

            /// Bytes queued for writing and not yet written.
            #[doc(alias = "uv_stream_get_write_queue_size")]
            pub fn write_queue_size(&self) -> usize {
                $crate::uv::stream::write_queue_size(self)
            }

            /// Whether the stream can be read (`false` once closing).
            #[doc(alias = "uv_is_readable")]
            pub fn is_readable(&self) -> bool {
                $crate::uv::stream::is_readable(self)
            }

            /// Whether the stream can be written (`false` once closing).
            #[doc(alias = "uv_is_writable")]
            pub fn is_writable(&self) -> bool {
                $crate::uv::stream::is_writable(self)
            }

            /// The underlying descriptor, still owned by the handle.
            ///
            /// # Errors
            ///
            /// `EBADF` before it has one; [`Error::CLOSED`](crate::Error::CLOSED).
            #[doc(alias = "uv_fileno")]
            pub fn fileno(&self) -> crate::Result<std::os::fd::RawFd> {
                $crate::uv::stream::fileno(self)
            }

            /// Makes writes block until done (`true`) or not (the default): for a program
            /// that must not lose output at exit (libuv advises it for ttys and pipes).
            ///
            /// # Errors
            ///
            /// What the system reports; [`Error::CLOSED`](crate::Error::CLOSED).
            #[doc(alias = "uv_stream_set_blocking")]
            pub fn set_blocking(&self, on: bool) -> crate::Result<()> {
                $crate::uv::stream::set_blocking(self, on)
            }
        }
    };
}
pub(crate) use stream_methods;
