//! `TlsProtocol`'s Python methods: the protocol face the socket's transport calls
//! (`connection_made`, `data_received`, `eof_received`, `pause_writing`, ...), and the
//! application transport's methods, which `python/rsuv/_tls.py` binds onto its
//! `asyncio.Transport` subclass so that a `write` goes from Python to Rust directly.

use std::cell::Cell;
use std::collections::VecDeque;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMemoryView};
use pyo3::{PyTraverseError, intern};

use super::gil::GilCell;
use super::tls_proto::{AppProto, AppState, Engine, Lower, State, TlsProtocol, raw_of};
use super::transport::StreamCore;

/// asyncio's `constants.FLOW_CONTROL_HIGH_WATER_SSL_READ` / `_WRITE`, in KiB.
const HIGH_READ_KIB: i64 = 256;
const HIGH_WRITE_KIB: i64 = 512;

/// `sslproto.add_flowcontrol_defaults`.
fn flow_limits(high: Option<i64>, low: Option<i64>, kib: i64) -> PyResult<(usize, usize)> {
    let hi = match (high, low) {
        (Some(h), _) => h,
        (None, Some(l)) => 4 * l,
        (None, None) => kib * 1024,
    };
    let lo = low.unwrap_or(hi / 4);
    if !(hi >= lo && lo >= 0) {
        return Err(PyValueError::new_err(format!(
            "high ({hi}) must be >= low ({lo}) must be >= 0"
        )));
    }
    Ok((hi as usize, lo as usize))
}

#[pymethods]
impl TlsProtocol {
    /// The engine for one connection: `sslobj` made by `sslcontext.wrap_bio(incoming,
    /// outgoing, ...)`; timeouts in seconds, already checked.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        py: Python<'_>,
        r#loop: Py<PyAny>,
        app_protocol: &Bound<'_, PyAny>,
        sslcontext: &Bound<'_, PyAny>,
        sslobj: &Bound<'_, PyAny>,
        incoming: Py<PyAny>,
        outgoing: Py<PyAny>,
        waiter: Option<Py<PyAny>>,
        call_connection_made: bool,
        handshake_timeout: f64,
        shutdown_timeout: f64,
    ) -> PyResult<Self> {
        let extra = PyDict::new(py);
        extra.set_item("sslcontext", sslcontext)?;
        let (in_high, in_low) = flow_limits(None, None, HIGH_READ_KIB)?;
        let (out_high, out_low) = flow_limits(None, None, HIGH_WRITE_KIB)?;
        let (raw, raw_is_c) = raw_of(py, sslobj)?;
        Ok(TlsProtocol::new(Engine {
            loop_: r#loop,
            extra: extra.unbind(),
            raw,
            raw_is_c,
            sslobj: sslobj.clone().unbind(),
            incoming,
            outgoing,
            handshake_timeout,
            shutdown_timeout,
            app: GilCell::new(Some(AppProto::new(py, app_protocol)?)),
            app_transport: GilCell::new(None),
            app_transport_created: Cell::new(false),
            app_closed: Cell::new(false),
            lower: GilCell::new(None),
            waiter: GilCell::new(waiter.filter(|w| !w.is_none(py))),
            handshake_handle: GilCell::new(None),
            shutdown_handle: GilCell::new(None),
            handshake_start: Cell::new(None),
            state: Cell::new(State::Unwrapped),
            app_state: Cell::new(if call_connection_made {
                AppState::Init
            } else {
                AppState::ConMade
            }),
            conn_lost: Cell::new(0),
            backlog: GilCell::new(VecDeque::new()),
            backlog_size: Cell::new(0),
            ssl_writing_paused: Cell::new(false),
            app_reading_paused: Cell::new(false),
            ssl_reading_paused: Cell::new(false),
            eof_received: Cell::new(false),
            app_writing_paused: Cell::new(false),
            in_high: Cell::new(in_high),
            in_low: Cell::new(in_low),
            out_high: Cell::new(out_high),
            out_low: Cell::new(out_low),
        }))
    }

    /// Sets the application transport (made by `_tls.py` right after the engine, once).
    fn _init_app_transport(&self, py: Python<'_>, transport: Py<PyAny>) -> PyResult<()> {
        if self.app_transport_created.replace(true) {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "Creating _SSLProtocolTransport twice",
            ));
        }
        *self.app_transport.borrow_mut(py) = Some(transport);
        Ok(())
    }

    #[getter]
    fn _app_transport(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.app_transport
            .borrow(py)
            .as_ref()
            .map(|t| t.clone_ref(py))
    }

    #[getter]
    fn _sslobj(&self, py: Python<'_>) -> Py<PyAny> {
        self.sslobj.clone_ref(py)
    }

    #[getter]
    fn _state(&self) -> &'static str {
        match self.state.get() {
            State::Unwrapped => "UNWRAPPED",
            State::DoHandshake => "DO_HANDSHAKE",
            State::Wrapped => "WRAPPED",
            State::Flushing => "FLUSHING",
            State::Shutdown => "SHUTDOWN",
        }
    }

    // ---- the protocol face (called by the transport under us) ------------------------------

    fn connection_made(slf: &Bound<'_, Self>, transport: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let core = transport
            .getattr(intern!(py, "_core"))
            .ok()
            .and_then(|c| c.cast_into::<StreamCore>().ok())
            .map(Bound::unbind);
        *slf.get().lower.borrow_mut(py) = Some(Lower {
            transport: transport.clone().unbind(),
            core,
        });
        TlsProtocol::start_handshake(slf)
    }

    fn connection_lost(slf: &Bound<'_, Self>, exc: Py<PyAny>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let backlog = std::mem::take(&mut *this.backlog.borrow_mut(py));
        drop(backlog);
        this.backlog_size.set(0);
        this.outgoing.call_method0(py, intern!(py, "read"))?;
        this.conn_lost.set(this.conn_lost.get() + 1);
        if this.app_transport.borrow(py).is_some() {
            this.app_closed.set(true);
        }
        if this.state.get() != State::DoHandshake
            && matches!(this.app_state.get(), AppState::ConMade | AppState::Eof)
        {
            this.app_state.set(AppState::ConLost);
            if let Some(p) = this.app_protocol(py) {
                let lost = p.bind(py).getattr(intern!(py, "connection_lost"))?;
                this.call_soon(py, &lost, Some(exc.clone_ref(py)))?;
            }
        }
        this.set_state(State::Unwrapped)?;
        let old = (
            this.lower.borrow_mut(py).take(),
            this.app_transport.borrow_mut(py).take(),
            this.app.borrow_mut(py).take(),
        );
        drop(old);
        let exc = exc.bind(py);
        this.wakeup_waiter(py, (!exc.is_none()).then_some(exc));
        this.cancel_handle(py, &this.shutdown_handle);
        this.cancel_handle(py, &this.handshake_handle);
        Ok(())
    }

    /// Ciphertext from a transport that is not rsuv's socket core (TLS over TLS).
    fn data_received(slf: &Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        slf.get()
            .incoming
            .call_method1(py, intern!(py, "write"), (data,))?;
        TlsProtocol::advance(slf)
    }

    fn eof_received(slf: &Bound<'_, Self>) -> PyResult<Option<bool>> {
        let py = slf.py();
        let this = slf.get();
        this.eof_received.set(true);
        let r = (|| -> PyResult<Option<bool>> {
            match this.state.get() {
                State::DoHandshake => {
                    let e = pyo3::exceptions::PyConnectionResetError::new_err(());
                    TlsProtocol::on_handshake_complete(slf, Some(e))?;
                }
                State::Wrapped => {
                    this.set_state(State::Flushing)?;
                    if this.app_reading_paused.get() {
                        return Ok(Some(true));
                    }
                    TlsProtocol::do_flush(slf)?;
                }
                State::Flushing => {
                    TlsProtocol::do_write(slf)?;
                    this.set_state(State::Shutdown)?;
                    TlsProtocol::do_shutdown(slf)?;
                }
                State::Shutdown => TlsProtocol::do_shutdown(slf)?,
                State::Unwrapped => {}
            }
            Ok(None)
        })();
        if r.is_err() {
            if let Some(t) = this.lower_transport(py) {
                t.call_method0(py, intern!(py, "close"))?;
            }
        }
        r
    }

    fn pause_writing(&self) {
        self.ssl_writing_paused.set(true);
    }

    fn resume_writing(slf: &Bound<'_, Self>) -> PyResult<()> {
        slf.get().ssl_writing_paused.set(false);
        TlsProtocol::process_outgoing(slf)
    }

    fn _check_handshake_timeout(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if this.state.get() != State::DoHandshake {
            return Ok(());
        }
        let msg = format!(
            "SSL handshake is taking longer than {} seconds: aborting the connection",
            py_float_repr(this.handshake_timeout)
        );
        let exc = pyo3::exceptions::PyConnectionAbortedError::new_err(msg);
        TlsProtocol::fatal_error(slf, exc.value(py).as_any(), "Fatal error on transport")
    }

    fn _check_shutdown_timeout(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if !matches!(this.state.get(), State::Flushing | State::Shutdown) {
            return Ok(());
        }
        let exc = py
            .import("asyncio")?
            .getattr("TimeoutError")?
            .call1(("SSL shutdown timed out",))?;
        if let Some(t) = this.lower_transport(py) {
            t.call_method1(py, intern!(py, "_force_close"), (exc,))?;
        }
        Ok(())
    }

    fn _do_read(slf: &Bound<'_, Self>) -> PyResult<()> {
        TlsProtocol::do_read(slf)
    }

    /// What `resume_reading` schedules: the engine goes on in whatever state it is in.
    fn _resume(slf: &Bound<'_, Self>) -> PyResult<()> {
        match slf.get().state.get() {
            State::Wrapped => TlsProtocol::do_read(slf),
            State::Flushing => TlsProtocol::do_flush(slf),
            State::Shutdown => TlsProtocol::do_shutdown(slf),
            _ => Ok(()),
        }
    }

    // ---- the application transport's methods -----------------------------------------------

    fn write(slf: &Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        if !(data.is_instance_of::<PyBytes>()
            || data.is_instance_of::<PyByteArray>()
            || data.is_instance_of::<PyMemoryView>())
        {
            return Err(PyTypeError::new_err(format!(
                "data: expecting a bytes-like instance, got {}",
                data.get_type().name()?
            )));
        }
        if data.len()? == 0 {
            return Ok(());
        }
        if TlsProtocol::write_now(slf, data)? {
            return Ok(());
        }
        TlsProtocol::write_appdata(slf, [data.clone()])
    }

    fn writelines(slf: &Bound<'_, Self>, list_of_data: &Bound<'_, PyAny>) -> PyResult<()> {
        let items = list_of_data.try_iter()?.collect::<PyResult<Vec<_>>>()?;
        TlsProtocol::write_appdata(slf, items)
    }

    fn is_closing(&self) -> bool {
        self.app_closed.get()
    }

    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        let this = slf.get();
        if this.app_closed.replace(true) {
            return Ok(());
        }
        TlsProtocol::start_shutdown(slf)
    }

    fn abort(slf: &Bound<'_, Self>) -> PyResult<()> {
        slf.get().app_closed.set(true);
        TlsProtocol::abort_with(slf, None)
    }

    #[pyo3(signature = (exc=None))]
    fn _force_close(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        slf.get().app_closed.set(true);
        TlsProtocol::abort_with(slf, exc.as_ref().filter(|e| !e.is_none()))
    }

    /// Marks the application transport closed (its `__del__`, for an unclosed one).
    fn _mark_closed(&self) {
        self.app_closed.set(true);
    }

    fn is_reading(&self) -> bool {
        !self.app_reading_paused.get()
    }

    fn pause_reading(&self) {
        self.app_reading_paused.set(true);
    }

    fn resume_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if this.app_reading_paused.replace(false) {
            let resume = slf.getattr(intern!(py, "_resume"))?;
            this.call_soon(py, &resume, None)?;
        }
        Ok(())
    }

    #[pyo3(signature = (high=None, low=None))]
    fn set_write_buffer_limits(
        slf: &Bound<'_, Self>,
        high: Option<i64>,
        low: Option<i64>,
    ) -> PyResult<()> {
        let this = slf.get();
        let (h, l) = flow_limits(high, low, HIGH_WRITE_KIB)?;
        this.out_high.set(h);
        this.out_low.set(l);
        TlsProtocol::control_app_writing(slf)
    }

    fn get_write_buffer_limits(&self) -> (usize, usize) {
        (self.out_low.get(), self.out_high.get())
    }

    fn get_write_buffer_size(&self, py: Python<'_>) -> PyResult<usize> {
        self.write_buffer_size(py)
    }

    #[pyo3(signature = (high=None, low=None))]
    fn set_read_buffer_limits(
        &self,
        py: Python<'_>,
        high: Option<i64>,
        low: Option<i64>,
    ) -> PyResult<()> {
        let (h, l) = flow_limits(high, low, HIGH_READ_KIB)?;
        self.in_high.set(h);
        self.in_low.set(l);
        self.control_ssl_reading(py)
    }

    fn get_read_buffer_limits(&self) -> (usize, usize) {
        (self.in_low.get(), self.in_high.get())
    }

    fn get_read_buffer_size(&self, py: Python<'_>) -> PyResult<usize> {
        self.incoming
            .getattr(py, intern!(py, "pending"))?
            .extract(py)
    }

    /// Whether the application is paused for writing (`loop.sendfile`'s fallback reads it).
    #[getter]
    fn _app_writing_paused(&self) -> bool {
        self.app_writing_paused.get()
    }

    #[pyo3(signature = (name, default=None))]
    fn get_extra_info(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let default = default.unwrap_or_else(|| py.None());
        if let Some(v) = self.extra.bind(py).get_item(name)? {
            return Ok(v.unbind());
        }
        match self.lower_transport(py) {
            Some(t) => t.call_method1(py, intern!(py, "get_extra_info"), (name, default)),
            None => Ok(default),
        }
    }

    fn set_protocol(&self, py: Python<'_>, protocol: &Bound<'_, PyAny>) -> PyResult<()> {
        let new = AppProto::new(py, protocol)?;
        let old = self.app.borrow_mut(py).replace(new);
        drop(old);
        Ok(())
    }

    fn get_protocol(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.app_protocol(py)
    }

    /// asyncio's test hook: data straight into the write backlog.
    #[pyo3(name = "_test__append_write_backlog")]
    fn test_append_write_backlog(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        self.backlog_size.set(self.backlog_size.get() + data.len()?);
        self.backlog.borrow_mut(py).push_back(data.clone().unbind());
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("<rsuv TlsProtocol {}>", self._state())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.loop_)?;
        visit.call(&self.extra)?;
        visit.call(&self.sslobj)?;
        visit.call(&self.raw)?;
        if let Some(a) = self.app.peek() {
            if let Some(a) = a.as_ref() {
                a.visit(&visit)?;
            }
        }
        for slot in [
            &self.app_transport,
            &self.waiter,
            &self.handshake_handle,
            &self.shutdown_handle,
        ] {
            if let Some(v) = slot.peek() {
                if let Some(v) = v.as_ref() {
                    visit.call(v)?;
                }
            }
        }
        if let Some(l) = self.lower.peek() {
            if let Some(l) = l.as_ref() {
                visit.call(&l.transport)?;
                if let Some(c) = &l.core {
                    visit.call(c)?;
                }
            }
        }
        if let Some(b) = self.backlog.peek() {
            for d in b.iter() {
                visit.call(d)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        Python::attach(|py| {
            let old = (
                self.app.borrow_mut(py).take(),
                self.app_transport.borrow_mut(py).take(),
                self.waiter.borrow_mut(py).take(),
                self.handshake_handle.borrow_mut(py).take(),
                self.shutdown_handle.borrow_mut(py).take(),
                self.lower.borrow_mut(py).take(),
                std::mem::take(&mut *self.backlog.borrow_mut(py)),
            );
            drop(old);
        });
    }
}

/// Python's `repr` of a float (`60.0`, `0.1`), as asyncio's timeout message prints it.
fn py_float_repr(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}
