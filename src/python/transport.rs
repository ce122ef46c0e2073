//! `StreamCore`: the Rust half of rsuv's stream transports (TCP and Unix sockets), on a
//! `uv::Tcp` or `uv::Pipe` of the loop. `python/rsuv/_transports.py` wraps it in a subclass of
//! `asyncio.Transport`, binding the hot methods (`write`, ...) straight to it.
//!
//! Reading: libuv reads into the loop's read buffer and the read callback hands the bytes to
//! `protocol.data_received` (or copies them into `BufferedProtocol.get_buffer()` and calls
//! `buffer_updated`) at once, from inside the loop's poll. Writing: `write` tries the socket at
//! once when nothing is queued; what the socket does not take is queued, keeping a reference
//! to a `bytes` object instead of copying it. Flow control follows asyncio's: the protocol is
//! paused above the high-water mark of queued bytes and resumed at or below the low one.
//! `connection_lost` runs exactly once, from a callback, as in asyncio.

use std::cell::Cell;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit, PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pyo3::{PyTraverseError, buffer::PyBuffer};

use super::gil::GilCell;
use super::loop_core::LoopCore;
use super::readbuf::{BufSink, into_buffers};
use super::readers::os_error;
use super::tls_proto::TlsProtocol;
use crate::uv::{self, Pipe, Tcp};

/// asyncio's default write-buffer limits (`_FlowControlMixin`): 64 KiB high, a quarter low.
const DEFAULT_HIGH: usize = 64 * 1024;

/// The libuv stream under a transport.
enum Stream {
    Tcp(Tcp),
    Pipe(Pipe),
}

macro_rules! on_stream {
    ($s:expr, $v:ident => $e:expr) => {
        match $s {
            Stream::Tcp($v) => $e,
            Stream::Pipe($v) => $e,
        }
    };
}

#[path = "transport_write.rs"]
mod write;

/// The bytes of a `bytes` object, kept alive while a queued write needs them.
struct BytesTail {
    _obj: Py<PyBytes>,
    ptr: *const u8,
    len: usize,
}

impl AsRef<[u8]> for BytesTail {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr..ptr + len` lies inside the immutable buffer of `obj`, which `self`
        // keeps alive.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// The state shared by the Python object and the libuv callbacks (which hold a `Weak`).
struct Conn {
    stream: GilCell<Option<Stream>>,
    protocol: GilCell<Option<Py<PyAny>>>,
    /// `data_received` of a plain protocol, or `get_buffer`/`buffer_updated` of a buffered one.
    on_data: GilCell<Option<OnData>>,
    /// The Python transport (passed to the exception handler; its `_call_connection_lost`
    /// is what runs `connection_lost`).
    transport: GilCell<Option<Py<PyAny>>>,
    loop_: Py<LoopCore>,
    closing: Cell<bool>,
    eof_written: Cell<bool>,
    reading_paused: Cell<bool>,
    /// Reading was started (by the transport's first callback, after `connection_made`).
    started: Cell<bool>,
    writing_paused: Cell<bool>,
    /// `connection_lost` is scheduled (asyncio's `_conn_lost > 0`), and writes since then.
    lost: Cell<bool>,
    writes_after_lost: Cell<u32>,
    high: Cell<usize>,
    low: Cell<usize>,
    /// A future to set once no write is queued (`loop.sendfile` waits for it).
    empty_waiter: GilCell<Option<Py<PyAny>>>,
    /// `loop.sendfile` owns the socket: `write` is refused meanwhile.
    sendfile: Cell<bool>,
    /// What a `BufferedProtocol`'s reads land in (`readbuf.rs`), and how libuv's reading
    /// was started: `Some(true)` into it, `Some(false)` into the loop's buffer.
    bufsink: Rc<BufSink>,
    read_mode: Cell<Option<bool>>,
    /// A pipe's transport (`connect_read_pipe`/`connect_write_pipe`), not a socket's: its end
    /// of stream ends the connection, and `write_eof` closes it.
    pipe: bool,
}

enum OnData {
    Plain(Py<PyAny>),
    Buffered {
        get_buffer: Py<PyAny>,
        buffer_updated: Py<PyAny>,
    },
    /// rsuv's TLS engine: handed the bytes as a slice, with no Python object made.
    Tls(Py<TlsProtocol>),
    /// Nothing reads (a write pipe's protocol).
    None,
}

struct Shared(Rc<Conn>);
// SAFETY: as `loop_core::Shared`: everything in `Conn` is reached with the GIL held only
// (Python methods, and libuv callbacks inside the loop's `uv_run`, run with the GIL held).
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

/// The Rust half of a stream transport.
#[pyclass(module = "rsuv._rsuv", frozen, weakref)]
pub struct StreamCore {
    conn: Shared,
}

fn is_fatal(py: Python<'_>, e: &PyErr) -> bool {
    e.is_instance_of::<PyKeyboardInterrupt>(py) || e.is_instance_of::<PySystemExit>(py)
}

impl Conn {
    fn py_loop<'py>(&self, py: Python<'py>) -> &Bound<'py, LoopCore> {
        self.loop_.bind(py)
    }

    fn queued(&self, py: Python<'_>) -> usize {
        self.stream
            .borrow(py)
            .as_ref()
            .map_or(0, |s| on_stream!(s, st => st.write_queue_size()))
    }

    /// An exception from a protocol callback: KeyboardInterrupt and SystemExit stop the loop
    /// (kept for `run_once`), others are a fatal error of the connection.
    fn protocol_error(self: &Rc<Self>, py: Python<'_>, e: PyErr, message: &str) {
        if is_fatal(py, &e) {
            self.py_loop(py).get().inner().keep_fatal(py, e);
            return;
        }
        self.fatal_error(py, e, message);
    }

    /// asyncio's `_fatal_error`: the exception handler hears of it (unless it is an
    /// `OSError`, which is only the connection's), then the connection is force-closed.
    fn fatal_error(self: &Rc<Self>, py: Python<'_>, e: PyErr, message: &str) {
        if !e.is_instance_of::<pyo3::exceptions::PyOSError>(py) {
            let _ = self.report(py, &e, message);
        }
        self.force_close(py, Some(e));
    }

    fn report(&self, py: Python<'_>, e: &PyErr, message: &str) -> PyResult<()> {
        let ctx = PyDict::new(py);
        ctx.set_item("message", message)?;
        ctx.set_item("exception", e.value(py))?;
        if let Some(t) = &*self.transport.borrow(py) {
            ctx.set_item("transport", t.clone_ref(py))?;
        }
        if let Some(p) = &*self.protocol.borrow(py) {
            ctx.set_item("protocol", p.clone_ref(py))?;
        }
        match self
            .py_loop(py)
            .call_method1("call_exception_handler", (ctx,))
        {
            Err(e) if is_fatal(py, &e) => {
                self.py_loop(py).get().inner().keep_fatal(py, e);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// asyncio's `_force_close`: stop reading, drop queued writes, schedule
    /// `connection_lost(exc)` once.
    fn force_close(self: &Rc<Self>, py: Python<'_>, exc: Option<PyErr>) {
        if self.lost.replace(true) {
            return;
        }
        self.closing.set(true);
        if let Some(s) = &*self.stream.borrow(py) {
            let _ = on_stream!(s, st => st.read_stop());
        }
        self.schedule_lost(py, exc);
    }

    fn schedule_lost(&self, py: Python<'_>, exc: Option<PyErr>) {
        let t = self.transport.borrow(py).as_ref().map(|t| t.clone_ref(py));
        let Some(t) = t else { return };
        let exc = exc.map_or_else(|| py.None(), |e| e.into_value(py).into_any());
        let r = t
            .bind(py)
            .getattr("_call_connection_lost")
            .and_then(|cb| self.py_loop(py).call_method1("call_soon", (cb, exc)));
        if let Err(e) = r {
            e.write_unraisable(py, None);
        }
    }

    fn on_read(self: &Rc<Self>, py: Python<'_>, r: uv::Result<&[u8]>) {
        match r {
            Ok(data) => self.deliver(py, data),
            Err(e) => self.on_read_error(py, e),
        }
    }

    /// A read into a `BufferedProtocol`'s buffer (`BufSink`): `n` bytes, or why not.
    fn on_read_into(self: &Rc<Self>, py: Python<'_>, r: uv::Result<usize>) {
        match r {
            Ok(n) => {
                self.bufsink.release(py);
                let updated = match &*self.on_data.borrow(py) {
                    Some(OnData::Buffered { buffer_updated, .. }) => buffer_updated.clone_ref(py),
                    _ => return,
                };
                if let Err(e) = updated.call1(py, (n,)) {
                    self.protocol_error(
                        py,
                        e,
                        "Fatal error: protocol.buffer_updated() call failed.",
                    );
                }
            }
            Err(e) => match self.bufsink.take_error(py) {
                Some((err, message)) => self.protocol_error(py, err, message),
                None => self.on_read_error(py, e),
            },
        }
    }

    fn on_read_error(self: &Rc<Self>, py: Python<'_>, e: uv::Error) {
        match e {
            uv::Error::EOF => self.on_eof(py),
            e => self.fatal_error(py, os_error(e), "Fatal read error on socket transport"),
        }
    }

    /// Bytes read into the loop's buffer: to `data_received` as a `bytes`, or (a protocol
    /// just switched to a buffered one) copied into `get_buffer`'s buffers.
    fn deliver(self: &Rc<Self>, py: Python<'_>, data: &[u8]) {
        let cbs = match &*self.on_data.borrow(py) {
            Some(OnData::Tls(t)) => {
                let t = t.clone_ref(py);
                return self.deliver_tls(py, t, data);
            }
            Some(OnData::Plain(f)) => (f.clone_ref(py), None),
            Some(OnData::Buffered {
                get_buffer,
                buffer_updated,
            }) => (get_buffer.clone_ref(py), Some(buffer_updated.clone_ref(py))),
            Some(OnData::None) | None => return,
        };
        let r = match cbs {
            (f, None) => f.call1(py, (PyBytes::new(py, data),)).map(drop),
            (get, Some(updated)) => into_buffers(py, data, &get, &updated),
        };
        if let Err(e) = r {
            self.protocol_error(py, e, "Fatal error: protocol.data_received() call failed.");
        }
    }

    fn deliver_tls(self: &Rc<Self>, py: Python<'_>, tls: Py<TlsProtocol>, data: &[u8]) {
        if let Err(e) = TlsProtocol::feed(tls.bind(py), data) {
            self.protocol_error(py, e, "Fatal error: protocol.data_received() call failed.");
        }
    }

    fn on_eof(self: &Rc<Self>, py: Python<'_>) {
        let p = self.protocol.borrow(py).as_ref().map(|p| p.clone_ref(py));
        let Some(p) = p else { return };
        match p.call_method0(py, "eof_received") {
            Err(e) => {
                self.protocol_error(py, e, "Fatal error: protocol.eof_received() call failed.")
            }
            // A pipe has no half-open state: its end ends the connection (as asyncio's).
            Ok(keep) => {
                if self.pipe || !keep.bind(py).is_truthy().unwrap_or(false) {
                    self.close(py);
                }
            }
        }
    }

    /// `close()`: stop reading; `connection_lost(None)` once the queued writes are out.
    fn close(self: &Rc<Self>, py: Python<'_>) {
        if self.closing.replace(true) {
            return;
        }
        if let Some(s) = &*self.stream.borrow(py) {
            let _ = on_stream!(s, st => st.read_stop());
        }
        if self.queued(py) == 0 && !self.lost.replace(true) {
            self.schedule_lost(py, None);
        }
    }

    fn call_protocol(self: &Rc<Self>, py: Python<'_>, method: &str, message: &str) {
        let p = self.protocol.borrow(py).as_ref().map(|p| p.clone_ref(py));
        if let Some(p) = p {
            if let Err(e) = p.call_method0(py, method) {
                if is_fatal(py, &e) {
                    self.py_loop(py).get().inner().keep_fatal(py, e);
                } else {
                    let _ = self.report(py, &e, message);
                }
            }
        }
    }

    fn set_protocol(&self, py: Python<'_>, protocol: &Bound<'_, PyAny>) -> PyResult<()> {
        let buffered = py
            .import("asyncio")?
            .getattr("BufferedProtocol")
            .and_then(|c| protocol.is_instance(&c))?;
        let on_data = if let Ok(tls) = protocol.cast::<TlsProtocol>() {
            self.bufsink.set_get_buffer(py, None);
            OnData::Tls(tls.clone().unbind())
        } else if buffered {
            let get_buffer = protocol.getattr("get_buffer")?.unbind();
            self.bufsink
                .set_get_buffer(py, Some(get_buffer.clone_ref(py)));
            OnData::Buffered {
                get_buffer,
                buffer_updated: protocol.getattr("buffer_updated")?.unbind(),
            }
        } else {
            self.bufsink.set_get_buffer(py, None);
            match protocol.getattr("data_received") {
                Ok(f) => OnData::Plain(f.unbind()),
                // A write pipe's protocol need only be a BaseProtocol: it never reads.
                Err(_) if self.pipe => OnData::None,
                Err(e) => return Err(e),
            }
        };
        let old = (
            self.on_data.borrow_mut(py).replace(on_data),
            self.protocol
                .borrow_mut(py)
                .replace(protocol.clone().unbind()),
        );
        drop(old);
        Ok(())
    }
}

/// Whether `obj` exports the buffer protocol.
fn is_buffer(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: a live object; the check reads its type's slots only.
    unsafe { pyo3::ffi::PyObject_CheckBuffer(obj.as_ptr()) != 0 }
}

impl StreamCore {
    fn conn(&self) -> &Rc<Conn> {
        &self.conn.0
    }

    /// `write(data)` from rsuv's TLS engine: its records, by a Rust call.
    pub(super) fn write_records(&self, py: Python<'_>, data: &Bound<'_, PyBytes>) -> PyResult<()> {
        self.conn().write(py, data.as_any())
    }

    /// Turns libuv's reading on (first time: installs the read callback).
    fn read_on(&self, py: Python<'_>) -> PyResult<()> {
        // The read callback holds the connection strongly: an open transport lives as long
        // as its handle (as asyncio's selector keeps a reading transport alive), until
        // `lost` takes the handle out and closes it.
        let c = self.conn().clone();
        let buffered = matches!(&*c.on_data.borrow(py), Some(OnData::Buffered { .. }));
        let same = c.read_mode.get() == Some(buffered);
        let r = self.with_stream(py, |s| {
            let sink: Rc<dyn uv::ReadSink> = c.bufsink.clone();
            let c2 = c.clone();
            match s {
                Stream::Tcp(t) if same && t.is_reading() => Ok(()),
                Stream::Tcp(t) if same => t.read_resume(),
                Stream::Tcp(t) => {
                    let _ = t.read_stop(); // reading the other way (set_protocol)
                    if buffered {
                        t.read_start_into(sink, move |_, r| {
                            Python::attach(|py| c2.on_read_into(py, r))
                        })
                    } else {
                        t.read_start(move |_, r| Python::attach(|py| c2.on_read(py, r)))
                    }
                }
                Stream::Pipe(p) if same && p.is_reading() => Ok(()),
                Stream::Pipe(p) if same => p.read_resume(),
                Stream::Pipe(p) => {
                    let _ = p.read_stop();
                    if buffered {
                        p.read_start_into(sink, move |_, r| {
                            Python::attach(|py| c2.on_read_into(py, r))
                        })
                    } else {
                        p.read_start(move |_, r| Python::attach(|py| c2.on_read(py, r)))
                    }
                }
            }
        });
        if matches!(r, Some(Ok(()))) {
            c.read_mode.set(Some(buffered));
        }
        match r {
            Some(Err(e)) if e != uv::Error::ENOTCONN => Err(os_error(e)), // ENOTCONN: after EOF
            _ => Ok(()),
        }
    }

    fn with_stream<R>(&self, py: Python<'_>, f: impl FnOnce(&Stream) -> R) -> Option<R> {
        self.conn().stream.borrow(py).as_ref().map(f)
    }
}

#[pymethods]
impl StreamCore {
    /// A transport core on descriptor `fd` (owned from now on: a connected TCP socket, or a
    /// Unix socket when `unix`, or with `pipe` a pipe, FIFO or character device), for
    /// `protocol`, reporting to `transport`.
    #[new]
    #[pyo3(signature = (r#loop, fd, unix, protocol, transport, pipe=false))]
    fn py_new(
        py: Python<'_>,
        r#loop: &Bound<'_, LoopCore>,
        fd: RawFd,
        unix: bool,
        protocol: &Bound<'_, PyAny>,
        transport: Py<PyAny>,
        pipe: bool,
    ) -> PyResult<Self> {
        if fd < 0 {
            return Err(PyValueError::new_err(format!("invalid descriptor {fd}")));
        }
        let lp = r#loop.get().inner().loop_handle(py)?;
        // SAFETY: the caller hands the descriptor over (`socket.detach()`); it is closed by
        // the handle, or here on failure.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let stream = if unix || pipe {
            Pipe::open(&lp, owned, false).map(Stream::Pipe)
        } else {
            Tcp::open(&lp, owned).map(Stream::Tcp)
        }
        .map_err(os_error)?;
        let conn = Rc::new(Conn {
            stream: GilCell::new(Some(stream)),
            protocol: GilCell::new(None),
            on_data: GilCell::new(None),
            transport: GilCell::new(Some(transport)),
            loop_: r#loop.clone().unbind(),
            closing: Cell::new(false),
            eof_written: Cell::new(false),
            reading_paused: Cell::new(false),
            started: Cell::new(false),
            writing_paused: Cell::new(false),
            lost: Cell::new(false),
            writes_after_lost: Cell::new(0),
            high: Cell::new(DEFAULT_HIGH),
            low: Cell::new(DEFAULT_HIGH / 4),
            empty_waiter: GilCell::new(None),
            sendfile: Cell::new(false),
            bufsink: Rc::new(BufSink::new()),
            read_mode: Cell::new(None),
            pipe,
        });
        conn.set_protocol(py, protocol)?;
        Ok(StreamCore { conn: Shared(conn) })
    }

    /// Starts reading, unless the protocol paused it meanwhile (scheduled after
    /// `connection_made`, as asyncio starts watching the socket).
    fn start_reading(&self, py: Python<'_>) -> PyResult<()> {
        let conn = self.conn();
        conn.started.set(true);
        if conn.closing.get() || conn.reading_paused.get() {
            return Ok(());
        }
        self.read_on(py)
    }

    /// Resumes reading after `pause_reading`.
    fn resume_reading(&self, py: Python<'_>) -> PyResult<()> {
        let conn = self.conn();
        if conn.closing.get() || !conn.reading_paused.replace(false) {
            return Ok(());
        }
        if !conn.started.get() {
            return Ok(());
        }
        self.read_on(py)
    }

    fn pause_reading(&self, py: Python<'_>) -> PyResult<()> {
        let conn = self.conn();
        if conn.closing.get() || conn.reading_paused.replace(true) || !conn.started.get() {
            return Ok(());
        }
        if let Some(Err(e)) = self.with_stream(py, |s| on_stream!(s, st => st.read_stop())) {
            return Err(os_error(e));
        }
        Ok(())
    }

    fn is_reading(&self) -> bool {
        let conn = self.conn();
        !conn.reading_paused.get() && !conn.closing.get()
    }

    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        self.conn().write(py, data)
    }

    fn writelines(&self, py: Python<'_>, list: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut joined = Vec::new();
        for item in list.try_iter()? {
            let item = item?;
            if let Ok(b) = item.cast::<PyBytes>() {
                joined.extend_from_slice(b.as_bytes());
            } else if is_buffer(&item) && !item.is_instance_of::<pyo3::types::PyString>() {
                joined.extend_from_slice(&PyBuffer::<u8>::get(&item)?.to_vec(py)?);
            } else {
                return Err(PyTypeError::new_err(format!(
                    "data argument must be a bytes-like object, not '{}'",
                    item.get_type().name()?
                )));
            }
        }
        self.conn().write_bytes(py, &joined, None)
    }

    fn write_eof(&self, py: Python<'_>) -> PyResult<()> {
        let conn = self.conn();
        if conn.pipe {
            conn.close(py); // a pipe's end of stream is its close, once the queue is out
            return Ok(());
        }
        if conn.closing.get() || conn.eof_written.replace(true) {
            return Ok(());
        }
        let weak = Rc::downgrade(conn);
        let r = self.with_stream(py, |s| {
            on_stream!(s, st => st.shutdown(move |_, r| {
                if let (Some(c), Err(e)) = (weak.upgrade(), r) {
                    if e != uv::Error::ECANCELED && e != uv::Error::ENOTCONN {
                        Python::attach(|py| {
                            c.fatal_error(py, os_error(e), "Fatal error on write_eof()")
                        });
                    }
                }
            }))
        });
        match r {
            Some(Err(e)) if e != uv::Error::ENOTCONN => Err(os_error(e)),
            _ => Ok(()),
        }
    }

    fn close(&self, py: Python<'_>) {
        self.conn().close(py)
    }

    fn abort(&self, py: Python<'_>) {
        self.conn().force_close(py, None)
    }

    /// asyncio's `_force_close(exc)` (what `sslproto` calls on a fatal TLS error): as
    /// `abort`, with `connection_lost(exc)`.
    #[pyo3(signature = (exc=None))]
    fn _force_close(&self, py: Python<'_>, exc: Option<Bound<'_, PyAny>>) {
        let exc = exc.filter(|e| !e.is_none()).map(PyErr::from_value);
        self.conn().force_close(py, exc)
    }

    fn is_closing(&self) -> bool {
        self.conn().closing.get()
    }

    fn get_write_buffer_size(&self, py: Python<'_>) -> usize {
        self.conn().queued(py)
    }

    fn get_write_buffer_limits(&self) -> (usize, usize) {
        let conn = self.conn();
        (conn.low.get(), conn.high.get())
    }

    #[pyo3(signature = (high=None, low=None))]
    fn set_write_buffer_limits(
        &self,
        py: Python<'_>,
        high: Option<i64>,
        low: Option<i64>,
    ) -> PyResult<()> {
        let (high, low) = match (high, low) {
            (None, None) => (DEFAULT_HIGH as i64, (DEFAULT_HIGH / 4) as i64),
            (Some(h), None) => (h, h / 4),
            (None, Some(l)) => (l.max(0) * 4, l), // asyncio: high = 4 * low
            (Some(h), Some(l)) => (h, l),
        };
        if !(high >= low && low >= 0) {
            return Err(PyValueError::new_err(format!(
                "high ({high}) must be >= low ({low}) must be >= 0"
            )));
        }
        let conn = self.conn();
        conn.high.set(high as usize);
        conn.low.set(low as usize);
        conn.maybe_pause(py);
        let queued = conn.queued(py);
        conn.maybe_resume(py, queued);
        Ok(())
    }

    /// Sets the protocol; reading switches to its kind's way (into `get_buffer`'s buffer
    /// or the loop's) if it is on.
    fn set_protocol(&self, py: Python<'_>, protocol: &Bound<'_, PyAny>) -> PyResult<()> {
        let conn = self.conn();
        conn.set_protocol(py, protocol)?;
        let reading = conn.started.get() && !conn.reading_paused.get() && !conn.closing.get();
        if reading && conn.read_mode.get().is_some() {
            self.read_on(py)?;
        }
        Ok(())
    }

    fn get_protocol(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.conn()
            .protocol
            .borrow(py)
            .as_ref()
            .map(|p| p.clone_ref(py))
    }

    /// The socket's descriptor (still owned by the transport), or -1 once closed.
    fn fileno(&self, py: Python<'_>) -> RawFd {
        self.with_stream(py, |s| on_stream!(s, st => st.fileno()))
            .and_then(Result::ok)
            .unwrap_or(-1)
    }

    /// Sets `future` once no write is queued (at once if none is).
    fn empty_waiter(&self, py: Python<'_>, future: Py<PyAny>) -> PyResult<()> {
        let conn = self.conn();
        if conn.lost.get() {
            let exc = pyo3::exceptions::PyConnectionError::new_err("Connection is closed by peer");
            future.call_method1(py, "set_exception", (exc.into_value(py),))?;
            return Ok(());
        }
        let old = conn.empty_waiter.borrow_mut(py).replace(future);
        drop(old);
        if conn.queued(py) == 0 {
            conn.wake_empty(py, None);
        }
        Ok(())
    }

    /// `loop.sendfile` takes the socket over (`write` refused) or gives it back.
    fn set_sendfile(&self, on: bool) {
        self.conn().sendfile.set(on);
    }

    /// Whether the protocol is paused for writing (queued bytes above the high-water mark).
    fn writing_paused(&self) -> bool {
        self.conn().writing_paused.get()
    }

    /// Runs `connection_lost(exc)` and closes the handle (what the transport's
    /// `_call_connection_lost` calls, once).
    fn lost(&self, py: Python<'_>, exc: Py<PyAny>) -> PyResult<()> {
        let conn = self.conn();
        conn.lost.set(true);
        conn.closing.set(true);
        let closed = pyo3::exceptions::PyConnectionError::new_err("Connection is closed by peer");
        conn.wake_empty(py, Some(closed));
        let p = conn.protocol.borrow(py).as_ref().map(|p| p.clone_ref(py));
        let r = match p {
            Some(p) => p.call_method1(py, "connection_lost", (exc,)).map(drop),
            None => Ok(()),
        };
        let stream = conn.stream.borrow_mut(py).take();
        let on_data = conn.on_data.borrow_mut(py).take();
        let protocol = conn.protocol.borrow_mut(py).take();
        let transport = conn.transport.borrow_mut(py).take();
        drop((stream, on_data, protocol, transport));
        conn.bufsink.clear(py);
        r
    }

    /// What the collector sees: the connection's references, but only while this object is
    /// their sole owner. While the handle is open its read callback owns the connection
    /// too (that is what keeps an open transport alive, as asyncio's selector does), and
    /// reporting those references as this object's would let the collector find the
    /// transport, its protocol and this core "unreachable" and clear them under the
    /// running connection.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let conn = self.conn();
        if Rc::strong_count(conn) != 1 {
            return Ok(());
        }
        if let Some(p) = conn.protocol.peek() {
            visit.call(&*p)?;
        }
        if let Some(t) = conn.transport.peek() {
            visit.call(&*t)?;
        }
        if let Some(Some(d)) = conn.on_data.peek().as_deref() {
            match d {
                OnData::Plain(f) => visit.call(f)?,
                OnData::Tls(t) => visit.call(t)?,
                OnData::None => {}
                OnData::Buffered {
                    get_buffer,
                    buffer_updated,
                } => {
                    visit.call(get_buffer)?;
                    visit.call(buffer_updated)?;
                }
            }
        }
        if let Some(w) = conn.empty_waiter.peek() {
            visit.call(&*w)?;
        }
        conn.bufsink.traverse(&visit)?;
        visit.call(&conn.loop_)
    }
}
