//! `TlsProtocol`: rsuv's TLS engine for asyncio connections, in Rust.
//!
//! It is CPython 3.11+'s `asyncio.sslproto.SSLProtocol` state machine (handshake,
//! application data, flushing, shutdown, flow control both ways, timeouts) over the standard
//! `ssl.SSLObject` and its two `ssl.MemoryBIO`s, so that everything set on a user's
//! `ssl.SSLContext` keeps working. What differs is where it runs: the ciphertext the socket
//! reads goes from the loop's read buffer into the incoming BIO with no Python object in
//! between (`StreamCore` hands it over as a slice), plaintext is read out in a reused
//! buffer, records go to the socket's transport by a Rust call, and no Python frame runs
//! per record. `python/rsuv/_tls.py` builds the `asyncio.Transport` the application sees
//! on the methods in `tls_methods.rs`.

use std::cell::Cell;
use std::collections::VecDeque;

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PySystemExit};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyType};

use super::gil::GilCell;
use super::transport::StreamCore;

/// asyncio's `SSLProtocol.max_size`: the most plaintext one read hands over.
pub(super) const MAX_SIZE: usize = 256 * 1024;
/// asyncio's `constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES`.
const LOG_THRESHOLD: u32 = 5;

/// `sslproto.SSLProtocolState`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum State {
    Unwrapped,
    DoHandshake,
    Wrapped,
    Flushing,
    Shutdown,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Unwrapped => "UNWRAPPED",
            State::DoHandshake => "DO_HANDSHAKE",
            State::Wrapped => "WRAPPED",
            State::Flushing => "FLUSHING",
            State::Shutdown => "SHUTDOWN",
        }
    }
}

/// `sslproto.AppProtocolState`: INIT -made-> CON_MADE [-eof-> EOF] -lost-> CON_LOST.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum AppState {
    Init,
    ConMade,
    Eof,
    ConLost,
}

/// The `ssl` names the engine tells errors apart by, looked up once.
pub(super) struct Api {
    want_read: Py<PyType>,
    syscall: Py<PyType>,
    ssl_error: Py<PyType>,
    cert_error: Py<PyType>,
    cancelled: Py<PyType>,
    sslobject: Py<PyType>,
    buffered: Py<PyType>,
    pub(super) logger: Py<PyAny>,
}

pub(super) fn api(py: Python<'_>) -> PyResult<&Api> {
    static API: PyOnceLock<Api> = PyOnceLock::new();
    API.get_or_try_init(py, || {
        let ssl = py.import("ssl")?;
        let ty = |m: &Bound<'_, PyModule>, n: &str| -> PyResult<Py<PyType>> {
            Ok(m.getattr(n)?.cast_into::<PyType>()?.unbind())
        };
        let asyncio = py.import("asyncio")?;
        Ok(Api {
            want_read: ty(&ssl, "SSLWantReadError")?,
            syscall: ty(&ssl, "SSLSyscallError")?,
            ssl_error: ty(&ssl, "SSLError")?,
            cert_error: ty(&ssl, "CertificateError")?,
            cancelled: ty(&asyncio, "CancelledError")?,
            sslobject: ty(&ssl, "SSLObject")?,
            buffered: ty(&asyncio, "BufferedProtocol")?,
            logger: py.import("asyncio.log")?.getattr("logger")?.unbind(),
        })
    })
}

impl Api {
    /// asyncio's `SSLAgainErrors`: the engine waits for more input.
    pub(super) fn again(&self, py: Python<'_>, e: &PyErr) -> bool {
        e.is_instance(py, self.want_read.bind(py)) || e.is_instance(py, self.syscall.bind(py))
    }
    fn ssl(&self, py: Python<'_>, e: &PyErr) -> bool {
        e.is_instance(py, self.ssl_error.bind(py))
    }
}

pub(super) fn is_fatal(py: Python<'_>, e: &PyErr) -> bool {
    e.is_instance_of::<PyKeyboardInterrupt>(py) || e.is_instance_of::<PySystemExit>(py)
}

/// Whether `e` is an `Exception` (what asyncio's `except Exception` catches), not a bare
/// `BaseException` such as `KeyboardInterrupt` or `CancelledError`.
fn is_exception(py: Python<'_>, e: &PyErr) -> bool {
    e.is_instance_of::<pyo3::exceptions::PyException>(py)
}

/// How plaintext reaches the application's protocol.
pub(super) enum AppProto {
    Plain {
        protocol: Py<PyAny>,
        data_received: Py<PyAny>,
    },
    Buffered {
        protocol: Py<PyAny>,
        get_buffer: Py<PyAny>,
        buffer_updated: Py<PyAny>,
    },
}

impl AppProto {
    pub(super) fn new(py: Python<'_>, protocol: &Bound<'_, PyAny>) -> PyResult<Self> {
        let p = protocol.clone().unbind();
        if protocol.hasattr(intern!(py, "get_buffer"))?
            && protocol.is_instance(api(py)?.buffered.bind(py))?
        {
            Ok(AppProto::Buffered {
                protocol: p,
                get_buffer: protocol.getattr(intern!(py, "get_buffer"))?.unbind(),
                buffer_updated: protocol.getattr(intern!(py, "buffer_updated"))?.unbind(),
            })
        } else {
            Ok(AppProto::Plain {
                protocol: p,
                data_received: protocol.getattr(intern!(py, "data_received"))?.unbind(),
            })
        }
    }

    pub(super) fn protocol(&self) -> &Py<PyAny> {
        match self {
            AppProto::Plain { protocol, .. } | AppProto::Buffered { protocol, .. } => protocol,
        }
    }

    pub(super) fn visit(&self, visit: &pyo3::gc::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        match self {
            AppProto::Plain {
                protocol,
                data_received,
            } => {
                visit.call(protocol)?;
                visit.call(data_received)
            }
            AppProto::Buffered {
                protocol,
                get_buffer,
                buffer_updated,
            } => {
                visit.call(protocol)?;
                visit.call(get_buffer)?;
                visit.call(buffer_updated)
            }
        }
    }
}

/// The transport under the engine: the socket's, whose Rust core takes records directly
/// when it is rsuv's own, or any transport `start_tls` accepts.
pub(super) struct Lower {
    pub(super) transport: Py<PyAny>,
    pub(super) core: Option<Py<StreamCore>>,
}

/// The engine of one TLS connection (see the module's documentation).
#[pyclass(module = "rsuv._rsuv", frozen, weakref)]
pub struct TlsProtocol(Shared);

pub struct Shared(pub(super) Engine);
// SAFETY: as `transport::Shared`: the engine is only touched with the GIL held (its Python
// methods, and the read callback inside the loop's `uv_run`), which orders every access.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl std::ops::Deref for TlsProtocol {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.0.0
    }
}

impl TlsProtocol {
    pub(super) fn new(engine: Engine) -> Self {
        TlsProtocol(Shared(engine))
    }
}

/// The state of a `TlsProtocol`.
pub struct Engine {
    pub(super) loop_: Py<PyAny>,
    pub(super) extra: Py<PyDict>,
    pub(super) sslobj: Py<PyAny>,
    /// What the hot calls go to: the `SSLObject`'s C object (`_ssl._SSLSocket`) when the
    /// context made a plain `ssl.SSLObject`, the object itself for a subclass.
    pub(super) raw: Py<PyAny>,
    pub(super) raw_is_c: bool,
    pub(super) incoming: Py<PyAny>,
    pub(super) outgoing: Py<PyAny>,
    pub(super) handshake_timeout: f64,
    pub(super) shutdown_timeout: f64,
    pub(super) app: GilCell<Option<AppProto>>,
    pub(super) app_transport: GilCell<Option<Py<PyAny>>>,
    pub(super) app_transport_created: Cell<bool>,
    /// The application transport's `_closed`.
    pub(super) app_closed: Cell<bool>,
    pub(super) lower: GilCell<Option<Lower>>,
    pub(super) waiter: GilCell<Option<Py<PyAny>>>,
    pub(super) handshake_handle: GilCell<Option<Py<PyAny>>>,
    pub(super) shutdown_handle: GilCell<Option<Py<PyAny>>>,
    pub(super) handshake_start: Cell<Option<f64>>,
    pub(super) state: Cell<State>,
    pub(super) app_state: Cell<AppState>,
    pub(super) conn_lost: Cell<u32>,
    pub(super) backlog: GilCell<VecDeque<Py<PyAny>>>,
    pub(super) backlog_size: Cell<usize>,
    pub(super) ssl_writing_paused: Cell<bool>,
    pub(super) app_reading_paused: Cell<bool>,
    pub(super) ssl_reading_paused: Cell<bool>,
    pub(super) eof_received: Cell<bool>,
    pub(super) app_writing_paused: Cell<bool>,
    pub(super) in_high: Cell<usize>,
    pub(super) in_low: Cell<usize>,
    pub(super) out_high: Cell<usize>,
    pub(super) out_low: Cell<usize>,
}

impl TlsProtocol {
    pub(super) fn set_state(&self, new: State) -> PyResult<()> {
        use State::*;
        let allowed = matches!(
            (self.state.get(), new),
            (_, Unwrapped)
                | (Unwrapped, DoHandshake)
                | (DoHandshake, Wrapped)
                | (Wrapped, Flushing)
                | (Flushing, Shutdown)
        );
        if !allowed {
            return Err(PyRuntimeError::new_err(format!(
                "cannot switch state from SSLProtocolState.{} to SSLProtocolState.{}",
                self.state.get().name(),
                new.name()
            )));
        }
        self.state.set(new);
        Ok(())
    }

    pub(super) fn lower_transport(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.lower
            .borrow(py)
            .as_ref()
            .map(|l| l.transport.clone_ref(py))
    }

    pub(super) fn app_protocol(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.app
            .borrow(py)
            .as_ref()
            .map(|a| a.protocol().clone_ref(py))
    }

    pub(super) fn call_soon(
        &self,
        py: Python<'_>,
        cb: &Bound<'_, PyAny>,
        arg: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let lp = self.loop_.bind(py);
        let h = match arg {
            Some(a) => lp.call_method1(intern!(py, "call_soon"), (cb, a))?,
            None => lp.call_method1(intern!(py, "call_soon"), (cb,))?,
        };
        Ok(h.unbind())
    }

    fn debug(&self, py: Python<'_>) -> bool {
        self.loop_
            .bind(py)
            .call_method0(intern!(py, "get_debug"))
            .and_then(|d| d.is_truthy())
            .unwrap_or(false)
    }

    pub(super) fn wakeup_waiter(&self, py: Python<'_>, exc: Option<&Bound<'_, PyAny>>) {
        let Some(w) = self.waiter.borrow_mut(py).take() else {
            return;
        };
        let w = w.bind(py);
        let cancelled = w
            .call_method0(intern!(py, "cancelled"))
            .and_then(|c| c.is_truthy())
            .unwrap_or(true);
        if cancelled {
            return;
        }
        let r = match exc {
            Some(e) => w.call_method1(intern!(py, "set_exception"), (e,)),
            None => w.call_method1(intern!(py, "set_result"), (py.None(),)),
        };
        if let Err(e) = r {
            e.write_unraisable(py, None);
        }
    }

    pub(super) fn cancel_handle(&self, py: Python<'_>, slot: &GilCell<Option<Py<PyAny>>>) {
        let h = slot.borrow_mut(py).take();
        if let Some(h) = h {
            let _ = h.call_method0(py, intern!(py, "cancel"));
        }
    }

    /// asyncio's `_fatal_error`: the transport is force-closed with `exc`, and the exception
    /// handler hears of anything but an `OSError` or a cancellation.
    pub(super) fn fatal_error(
        slf: &Bound<'_, Self>,
        exc: &Bound<'_, PyAny>,
        message: &str,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let lower = this.lower_transport(py);
        if let Some(t) = &lower {
            t.call_method1(py, intern!(py, "_force_close"), (exc,))?;
        }
        if exc.is_instance_of::<pyo3::exceptions::PyOSError>() {
            return Ok(());
        }
        if exc.is_instance(api(py)?.cancelled.bind(py))? {
            return Ok(());
        }
        let ctx = PyDict::new(py);
        ctx.set_item("message", message)?;
        ctx.set_item("exception", exc)?;
        ctx.set_item("transport", lower)?;
        ctx.set_item("protocol", slf)?;
        this.loop_
            .call_method1(py, intern!(py, "call_exception_handler"), (ctx,))?;
        Ok(())
    }

    /// As `fatal_error`, from an error caught in the engine: only an `Exception` is the
    /// connection's; `KeyboardInterrupt` and the like go on up.
    pub(super) fn fail(slf: &Bound<'_, Self>, e: PyErr, message: &str) -> PyResult<()> {
        let py = slf.py();
        if !is_exception(py, &e) {
            return Err(e);
        }
        Self::fatal_error(slf, e.value(py).as_any(), message)
    }

    // ---- handshake ------------------------------------------------------------------------

    pub(super) fn start_handshake(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if this.debug(py) {
            let t = this.loop_.call_method0(py, intern!(py, "time"))?;
            this.handshake_start.set(Some(t.extract(py)?));
        }
        this.set_state(State::DoHandshake)?;
        let check = slf.getattr(intern!(py, "_check_handshake_timeout"))?;
        let h = this.loop_.call_method1(
            py,
            intern!(py, "call_later"),
            (this.handshake_timeout, check),
        )?;
        *this.handshake_handle.borrow_mut(py) = Some(h);
        Self::do_handshake(slf)
    }

    pub(super) fn do_handshake(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        match this.raw.call_method0(py, intern!(py, "do_handshake")) {
            Ok(_) => Self::on_handshake_complete(slf, None),
            Err(e) if api(py)?.again(py, &e) => Self::process_outgoing(slf),
            Err(e) if api(py)?.ssl(py, &e) => Self::on_handshake_complete(slf, Some(e)),
            Err(e) => Err(e),
        }
    }

    pub(super) fn on_handshake_complete(slf: &Bound<'_, Self>, exc: Option<PyErr>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        this.cancel_handle(py, &this.handshake_handle);
        let peercert = match exc {
            None => this
                .set_state(State::Wrapped)
                .and_then(|()| this.sslobj.call_method0(py, intern!(py, "getpeercert"))),
            Some(e) => Err(e),
        };
        let peercert = match peercert {
            Ok(p) => p,
            Err(e) if is_exception(py, &e) => {
                this.set_state(State::Unwrapped)?;
                let value = e.value(py);
                let msg = if value.is_instance(api(py)?.cert_error.bind(py))? {
                    "SSL handshake failed on verifying the certificate"
                } else {
                    "SSL handshake failed"
                };
                Self::fatal_error(slf, value.as_any(), msg)?;
                this.wakeup_waiter(py, Some(value.as_any()));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if let Some(start) = this.handshake_start.get() {
            let now: f64 = this
                .loop_
                .call_method0(py, intern!(py, "time"))?
                .extract(py)?;
            let msg = format!(
                "{:?}: SSL handshake took {:.1} ms",
                slf.as_ptr(),
                (now - start) * 1e3
            );
            api(py)?
                .logger
                .call_method1(py, intern!(py, "debug"), (msg,))?;
        }
        let extra = this.extra.bind(py);
        let sslobj = this.sslobj.bind(py);
        extra.set_item("peercert", peercert)?;
        extra.set_item("cipher", sslobj.call_method0(intern!(py, "cipher"))?)?;
        extra.set_item(
            "compression",
            sslobj.call_method0(intern!(py, "compression"))?,
        )?;
        extra.set_item("ssl_object", sslobj)?;
        if this.app_state.get() == AppState::Init {
            this.app_state.set(AppState::ConMade);
            let t = this.app_transport_for_app(py)?;
            if let Some(p) = this.app_protocol(py) {
                p.call_method1(py, intern!(py, "connection_made"), (t,))?;
            }
        }
        this.wakeup_waiter(py, None);
        Self::do_read(slf)
    }

    /// `_get_app_transport`: the application's transport (made once).
    pub(super) fn app_transport_for_app(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &*self.app_transport.borrow(py) {
            Some(t) => Ok(t.clone_ref(py)),
            None => Err(PyRuntimeError::new_err(
                "Creating _SSLProtocolTransport twice",
            )),
        }
    }

    // ---- shutdown -------------------------------------------------------------------------

    pub(super) fn start_shutdown(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if matches!(
            this.state.get(),
            State::Flushing | State::Shutdown | State::Unwrapped
        ) {
            return Ok(());
        }
        if this.app_transport.borrow(py).is_some() {
            this.app_closed.set(true);
        }
        if this.state.get() == State::DoHandshake {
            return Self::abort_with(slf, None);
        }
        this.set_state(State::Flushing)?;
        let check = slf.getattr(intern!(py, "_check_shutdown_timeout"))?;
        let h = this.loop_.call_method1(
            py,
            intern!(py, "call_later"),
            (this.shutdown_timeout, check),
        )?;
        *this.shutdown_handle.borrow_mut(py) = Some(h);
        Self::do_flush(slf)
    }

    pub(super) fn do_flush(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::do_read(slf)?;
        slf.get().set_state(State::Shutdown)?;
        Self::do_shutdown(slf)
    }

    pub(super) fn do_shutdown(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let r = if this.eof_received.get() {
            Ok(())
        } else {
            let name = if this.raw_is_c {
                intern!(py, "shutdown")
            } else {
                intern!(py, "unwrap")
            };
            this.raw.call_method0(py, name).map(drop)
        };
        match r {
            Ok(()) => {
                Self::process_outgoing(slf)?;
                Self::call_eof_received(slf)?;
                Self::on_shutdown_complete(slf, None)
            }
            Err(e) if api(py)?.again(py, &e) => Self::process_outgoing(slf),
            Err(e) if api(py)?.ssl(py, &e) => Self::on_shutdown_complete(slf, Some(e)),
            Err(e) => Err(e),
        }
    }

    fn on_shutdown_complete(slf: &Bound<'_, Self>, exc: Option<PyErr>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        this.cancel_handle(py, &this.shutdown_handle);
        match exc {
            Some(e) => Self::fatal_error(slf, e.value(py).as_any(), "Fatal error on transport"),
            None => match this.lower_transport(py) {
                Some(t) => {
                    let close = t.bind(py).getattr(intern!(py, "close"))?;
                    this.call_soon(py, &close, None).map(drop)
                }
                None => Ok(()),
            },
        }
    }

    /// `_abort(exc)`: unwrapped at once; the transport force-closed (`abort()` for `None`).
    pub(super) fn abort_with(
        slf: &Bound<'_, Self>,
        exc: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        this.set_state(State::Unwrapped)?;
        if let Some(t) = this.lower_transport(py) {
            match exc {
                Some(e) => t.call_method1(py, intern!(py, "_force_close"), (e,))?,
                None => t.call_method0(py, intern!(py, "abort"))?,
            };
        }
        Ok(())
    }

    // ---- outgoing -------------------------------------------------------------------------

    /// `_write_appdata`: the application's data, encrypted at once when the connection is
    /// open (queued during a handshake or renegotiation), dropped once it is closing.
    pub(super) fn write_appdata<'py>(
        slf: &Bound<'py, Self>,
        items: impl IntoIterator<Item = Bound<'py, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if matches!(
            this.state.get(),
            State::Flushing | State::Shutdown | State::Unwrapped
        ) {
            if this.conn_lost.get() >= LOG_THRESHOLD {
                api(py)?.logger.call_method1(
                    py,
                    intern!(py, "warning"),
                    ("SSL connection is closed",),
                )?;
            }
            this.conn_lost.set(this.conn_lost.get() + 1);
            return Ok(());
        }
        for data in items {
            let n = data.len()?;
            // A mutable buffer is copied: the caller may reuse it before it is encrypted.
            let kept = if data.is_exact_instance_of::<PyBytes>() {
                data.unbind()
            } else {
                PyBytes::new(py, &pyo3::buffer::PyBuffer::<u8>::get(&data)?.to_vec(py)?)
                    .into_any()
                    .unbind()
            };
            this.backlog.borrow_mut(py).push_back(kept);
            this.backlog_size.set(this.backlog_size.get() + n);
        }
        if this.state.get() == State::Wrapped {
            if let Err(e) = Self::do_write(slf) {
                return Self::fail(slf, e, "Fatal error on SSL protocol");
            }
        }
        Ok(())
    }

    /// The fast path of `write(data)`: nothing queued and the connection open, so the data
    /// is encrypted straight from the caller's object.
    pub(super) fn write_now(slf: &Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        let py = slf.py();
        let this = slf.get();
        if this.state.get() != State::Wrapped || !this.backlog.borrow(py).is_empty() {
            return Ok(false);
        }
        let n = data.len()?;
        let r = this
            .raw
            .call_method1(py, intern!(py, "write"), (data,))
            .and_then(|c| c.extract::<usize>(py));
        match r {
            Ok(count) if count >= n => {}
            Ok(count) => {
                // Partial (only with SSL_MODE_ENABLE_PARTIAL_WRITE, which `_ssl` leaves off):
                // the rest waits in the backlog, as asyncio keeps `data[count:]`.
                let all = pyo3::buffer::PyBuffer::<u8>::get(data)?.to_vec(py)?;
                let rest = PyBytes::new(py, &all[count.min(all.len())..]);
                this.backlog_size
                    .set(this.backlog_size.get() + rest.as_bytes().len());
                this.backlog
                    .borrow_mut(py)
                    .push_back(rest.into_any().unbind());
                if let Err(e) = Self::do_write(slf) {
                    Self::fail(slf, e, "Fatal error on SSL protocol")?;
                }
                return Ok(true);
            }
            Err(e) if api(py)?.again(py, &e) => return Ok(false),
            Err(e) => {
                Self::fail(slf, e, "Fatal error on SSL protocol")?;
                return Ok(true);
            }
        }
        if let Err(e) = Self::process_outgoing(slf) {
            Self::fail(slf, e, "Fatal error on SSL protocol")?;
        }
        Ok(true)
    }

    pub(super) fn do_write(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        loop {
            let front = match this.backlog.borrow(py).front() {
                Some(d) => d.clone_ref(py),
                None => break,
            };
            let len = front.bind(py).len()?;
            let count = match this.raw.call_method1(py, intern!(py, "write"), (&front,)) {
                Ok(c) => c.extract::<usize>(py)?,
                Err(e) if api(py)?.again(py, &e) => break,
                Err(e) => return Err(e),
            };
            let mut backlog = this.backlog.borrow_mut(py);
            if count < len {
                let rest = PyBytes::new(py, &front.bind(py).cast::<PyBytes>()?.as_bytes()[count..]);
                if let Some(f) = backlog.front_mut() {
                    *f = rest.into_any().unbind();
                }
                this.backlog_size.set(this.backlog_size.get() - count);
            } else {
                backlog.pop_front();
                this.backlog_size
                    .set(this.backlog_size.get().saturating_sub(len));
            }
        }
        Self::process_outgoing(slf)
    }

    /// `_process_outgoing`: the records OpenSSL wrote go to the transport (unless it asked
    /// us to pause), then the application's write flow control.
    pub(super) fn process_outgoing(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if !this.ssl_writing_paused.get() {
            let data = this.outgoing.call_method0(py, intern!(py, "read"))?;
            let data = data.bind(py).cast::<PyBytes>()?;
            if !data.as_bytes().is_empty() {
                this.send(py, data)?;
            }
        }
        Self::control_app_writing(slf)
    }

    /// Records to the transport: by a Rust call into rsuv's socket core, else `write()`.
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyBytes>) -> PyResult<()> {
        let (core, transport) = match &*self.lower.borrow(py) {
            Some(l) => (
                l.core.as_ref().map(|c| c.clone_ref(py)),
                l.transport.clone_ref(py),
            ),
            None => return Ok(()),
        };
        match core {
            Some(c) => c.get().write_records(py, data),
            None => transport
                .call_method1(py, intern!(py, "write"), (data,))
                .map(drop),
        }
    }

    pub(super) fn write_buffer_size(&self, py: Python<'_>) -> PyResult<usize> {
        let pending: usize = self
            .outgoing
            .getattr(py, intern!(py, "pending"))?
            .extract(py)?;
        Ok(pending + self.backlog_size.get())
    }

    pub(super) fn control_app_writing(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let size = this.write_buffer_size(py)?;
        let method = if size >= this.out_high.get() && !this.app_writing_paused.get() {
            this.app_writing_paused.set(true);
            "pause_writing"
        } else if size <= this.out_low.get() && this.app_writing_paused.get() {
            this.app_writing_paused.set(false);
            "resume_writing"
        } else {
            return Ok(());
        };
        let Some(p) = this.app_protocol(py) else {
            return Ok(());
        };
        match p.call_method0(py, method) {
            Ok(_) => Ok(()),
            Err(e) if is_fatal(py, &e) => Err(e),
            Err(e) => {
                let ctx = PyDict::new(py);
                ctx.set_item("message", format!("protocol.{method}() failed"))?;
                ctx.set_item("exception", e.value(py))?;
                ctx.set_item("transport", this.app_transport.borrow(py).as_ref())?;
                ctx.set_item("protocol", slf)?;
                this.loop_
                    .call_method1(py, intern!(py, "call_exception_handler"), (ctx,))?;
                Ok(())
            }
        }
    }
}

/// What takes the hot calls of `sslobj`: its C object when it is the standard class
/// (`true`), else the object itself.
pub(super) fn raw_of(py: Python<'_>, sslobj: &Bound<'_, PyAny>) -> PyResult<(Py<PyAny>, bool)> {
    if sslobj.get_type().is(api(py)?.sslobject.bind(py)) {
        if let Ok(inner) = sslobj.getattr(intern!(py, "_sslobj")) {
            return Ok((inner.unbind(), true));
        }
    }
    Ok((sslobj.clone().unbind(), false))
}
