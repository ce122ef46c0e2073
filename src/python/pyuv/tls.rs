//! `pyuv.TLS`, rsuv's addition to pyuv: a TLS stream with `pyuv.TCP`'s shape (`bind`,
//! `listen`, `accept`, `connect`, `start_read`, `write`, `shutdown`, `close`) on the Rust
//! `rsuv::tls::TlsStream` (OpenSSL over rsuv's own BIO, over a libuv TCP handle).
//!
//! Reads end with `on_read(handle, None, UV_EOF)` after the peer's `close_notify`; a peer that
//! closes the connection without one is a truncation: `on_read(handle, None, UV_ECONNRESET)`
//! with `handle.truncated` true. Other TLS failures give `UV_EPROTO` (`UV_ETIMEDOUT` for a
//! timeout) and their message in `handle.tls_error`.

use std::time::Duration;

use pyo3::PyTraverseError;
use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple, PyWeakrefMethods, PyWeakrefReference};

use super::errors::{ErrKind, closed, uv_err};
use super::handle::check_callable_opt;
use super::loop_::{Loop, report};
use super::stream::{buffers, joined};
use super::util::{addr_tuple, sockaddr};
use crate::python::gil::GilCell;
use crate::tls::{TlsContext, TlsError, TlsRead, TlsStream};
use crate::uv;

enum Conn {
    None,
    Listener(uv::Tcp),
    Stream(TlsStream),
}

struct TState {
    lp: Option<Py<Loop>>,
    ctx: TlsContext,
    server_hostname: Option<String>,
    handshake_timeout: Duration,
    conn: Conn,
    on_read: Option<Py<PyAny>>,
    on_listen: Option<Py<PyAny>>,
    on_close: Option<Py<PyAny>>,
    /// The handle itself while it listens, connects or reads.
    keep: Option<Py<PyAny>>,
    weak: Option<Py<PyWeakrefReference>>,
    closing: bool,
    truncated: bool,
    error: Option<String>,
}

/// A TLS stream handle (rsuv's addition to pyuv).
#[pyclass(module = "pyuv", name = "TLS", subclass, frozen, dict, weakref)]
pub struct TLS {
    st: GilCell<TState>,
}

fn tls_err(e: impl std::fmt::Display) -> PyErr {
    super::errors::TLSError::new_err((uv::Error::EINVAL.code(), e.to_string()))
}

/// The libuv code pyuv callbacks get for a TLS failure.
fn code(e: &TlsError) -> i32 {
    match e {
        TlsError::Io(io) => io.raw_os_error().map_or(uv::Error::EIO.code(), |n| -n),
        TlsError::Timeout => uv::Error::ETIMEDOUT.code(),
        TlsError::Truncated => uv::Error::ECONNRESET.code(),
        TlsError::Closed => uv::Error::ECANCELED.code(),
        _ => uv::Error::EPROTO.code(),
    }
}

fn build_ctx(
    server_side: bool,
    certfile: Option<&str>,
    keyfile: Option<&str>,
    cafile: Option<&str>,
    alpn: &[String],
    verify: bool,
) -> PyResult<TlsContext> {
    let protos: Vec<&str> = alpn.iter().map(String::as_str).collect();
    if server_side {
        let (Some(cert), Some(key)) = (certfile, keyfile) else {
            return Err(tls_err("a server needs certfile and keyfile"));
        };
        let mut b = TlsContext::server()
            .cert_chain_pem_file(cert)
            .private_key_pem_file(key);
        if !protos.is_empty() {
            b = b.alpn(&protos);
        }
        b.build().map_err(tls_err)
    } else if cafile.is_none() && certfile.is_none() {
        default_client_ctx(verify, &protos)
    } else {
        let mut b = TlsContext::client().verify(verify);
        if let Some(ca) = cafile {
            b = b.system_roots(false).ca_pem_file(ca);
        }
        if let Some((c, k)) = certfile.zip(keyfile) {
            b = b.client_cert_pem_file(c, k);
        }
        if !protos.is_empty() {
            b = b.alpn(&protos);
        }
        b.build().map_err(tls_err)
    }
}

/// (verify, ALPN protocols) and the context made for them.
type ClientCtxs = Vec<((bool, Vec<String>), TlsContext)>;

thread_local! {
    /// Client contexts on the system's trust store, by (verify, ALPN): loading the store
    /// takes tens of milliseconds, and a server makes a `TLS(loop)` for every client it
    /// accepts.
    static DEFAULT_CLIENTS: std::cell::RefCell<ClientCtxs> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn default_client_ctx(verify: bool, protos: &[&str]) -> PyResult<TlsContext> {
    let key = (
        verify,
        protos.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>(),
    );
    if let Some(c) =
        DEFAULT_CLIENTS.with_borrow(|m| m.iter().find(|(k, _)| *k == key).map(|(_, c)| c.clone()))
    {
        return Ok(c);
    }
    let mut b = TlsContext::client().verify(verify);
    if !protos.is_empty() {
        b = b.alpn(protos);
    }
    let ctx = b.build().map_err(tls_err)?;
    DEFAULT_CLIENTS.with_borrow_mut(|m| m.push((key, ctx.clone())));
    Ok(ctx)
}

impl TLS {
    fn weak(slf: &Bound<'_, Self>) -> PyResult<Py<PyWeakrefReference>> {
        let py = slf.py();
        if let Some(w) = slf.get().st.borrow(py).weak.as_ref() {
            return Ok(w.clone_ref(py));
        }
        let w = PyWeakrefReference::new(slf.as_any())?.unbind();
        slf.get().st.borrow_mut(py).weak = Some(w.clone_ref(py));
        Ok(w)
    }

    fn keep(slf: &Bound<'_, Self>, on: bool) {
        let old = {
            let mut st = slf.get().st.borrow_mut(slf.py());
            if on && !st.closing {
                st.keep
                    .get_or_insert_with(|| slf.clone().into_any().unbind());
                None
            } else {
                st.keep.take()
            }
        };
        drop(old);
    }

    fn open<'a>(slf: &'a Bound<'_, Self>) -> PyResult<std::cell::Ref<'a, TState>> {
        let st = slf.get().st.borrow(slf.py());
        if st.closing {
            return Err(closed());
        }
        Ok(st)
    }

    fn stream(slf: &Bound<'_, Self>) -> PyResult<TlsStream> {
        match &TLS::open(slf)?.conn {
            Conn::Stream(s) => Ok(s.clone()),
            _ => Err(uv_err(ErrKind::Tls, uv::Error::ENOTCONN)),
        }
    }

    fn report(slf: &Bound<'_, Self>, e: PyErr) {
        let py = slf.py();
        let lp = slf.get().st.borrow(py).lp.as_ref().map(|l| l.clone_ref(py));
        match lp {
            Some(lp) => report(py, lp.bind(py), e),
            None => e.print(py),
        }
    }

    fn call<'py>(
        slf: &Bound<'py, Self>,
        cb: Option<Py<PyAny>>,
        args: impl pyo3::call::PyCallArgs<'py>,
    ) {
        if let Some(cb) = cb
            && let Err(e) = cb.bind(slf.py()).call1(args)
        {
            TLS::report(slf, e);
        }
    }

    /// A write's or shutdown's completion: `callback(handle, error)`.
    fn done(
        slf: &Bound<'_, Self>,
        callback: Option<Py<PyAny>>,
    ) -> impl FnOnce(&TlsStream, Result<(), TlsError>) + 'static {
        let me = slf.clone().unbind();
        move |_, r| {
            Python::attach(|py| {
                let me = me.bind(py);
                TLS::call(me, callback, (me.clone(), r.err().map(|e| code(&e))));
            })
        }
    }

    /// Records a failure's message (and a truncation) on the handle.
    fn note(slf: &Bound<'_, Self>, e: &TlsError) {
        let mut st = slf.get().st.borrow_mut(slf.py());
        st.truncated |= matches!(e, TlsError::Truncated);
        st.error = Some(e.to_string());
    }

    fn with_weak<'py>(py: Python<'py>, w: &Py<PyWeakrefReference>) -> Option<Bound<'py, TLS>> {
        w.bind(py).upgrade().and_then(|o| o.cast_into::<TLS>().ok())
    }
}

#[pymethods]
impl TLS {
    /// `TLS(loop, server_side=False, certfile=None, keyfile=None, cafile=None,
    /// server_hostname=None, alpn=None, verify=True, handshake_timeout=30.0)`.
    #[new]
    #[pyo3(signature = (r#loop, server_side = false, certfile = None, keyfile = None, cafile = None, server_hostname = None, alpn = None, verify = true, handshake_timeout = 30.0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        r#loop: &Bound<'_, Loop>,
        server_side: bool,
        certfile: Option<String>,
        keyfile: Option<String>,
        cafile: Option<String>,
        server_hostname: Option<String>,
        alpn: Option<Vec<String>>,
        verify: bool,
        handshake_timeout: f64,
    ) -> PyResult<TLS> {
        let ctx = build_ctx(
            server_side,
            certfile.as_deref(),
            keyfile.as_deref(),
            cafile.as_deref(),
            &alpn.unwrap_or_default(),
            verify,
        )?;
        Ok(TLS {
            st: GilCell::new(TState {
                lp: Some(r#loop.clone().unbind()),
                ctx,
                server_hostname,
                handshake_timeout: Duration::from_secs_f64(handshake_timeout.clamp(0.001, 1e6)),
                conn: Conn::None,
                on_read: None,
                on_listen: None,
                on_close: None,
                keep: None,
                weak: None,
                closing: false,
                truncated: false,
                error: None,
            }),
        })
    }

    #[pyo3(signature = (addr, flags = 0))]
    fn bind(slf: &Bound<'_, Self>, addr: &Bound<'_, PyAny>, flags: u32) -> PyResult<()> {
        let _ = flags;
        let a = sockaddr(addr, false)?;
        let py = slf.py();
        let lh = {
            let st = TLS::open(slf)?;
            let lp = st.lp.as_ref().ok_or_else(closed)?;
            lp.bind(py)
                .get()
                .uv_handle(py)
                .map_err(|e| uv_err(ErrKind::Tls, e))?
        };
        let t = uv::Tcp::new(&lh).map_err(|e| uv_err(ErrKind::Tls, e))?;
        t.bind(a).map_err(|e| uv_err(ErrKind::Tls, e))?;
        slf.get().st.borrow_mut(py).conn = Conn::Listener(t);
        Ok(())
    }

    /// `callback(server, error)` for each connection; call `accept(client)` in it.
    #[pyo3(signature = (callback, backlog = 511))]
    fn listen(slf: &Bound<'_, Self>, callback: Py<PyAny>, backlog: i32) -> PyResult<()> {
        let w = TLS::weak(slf)?;
        {
            let st = TLS::open(slf)?;
            let Conn::Listener(t) = &st.conn else {
                return Err(uv_err(ErrKind::Tls, uv::Error::EINVAL));
            };
            t.listen(backlog, move |_, r| {
                let err = r.err().map(uv::Error::code);
                Python::attach(|py| {
                    let Some(me) = TLS::with_weak(py, &w) else {
                        return;
                    };
                    let cb = me
                        .get()
                        .st
                        .borrow(py)
                        .on_listen
                        .as_ref()
                        .map(|c| c.clone_ref(py));
                    TLS::call(&me, cb, (me.clone(), err));
                })
            })
            .map_err(|e| uv_err(ErrKind::Tls, e))?;
        }
        slf.get().st.borrow_mut(slf.py()).on_listen = Some(callback);
        TLS::keep(slf, true);
        Ok(())
    }

    /// Takes the pending connection into `client` (a `TLS`), which does the server
    /// handshake with this server's certificate.
    fn accept(slf: &Bound<'_, Self>, client: &Bound<'_, PyAny>) -> PyResult<()> {
        let client = client
            .cast::<TLS>()
            .map_err(|_| PyTypeError::new_err("the client must be a TLS handle"))?;
        let (tcp, ctx) = {
            let st = TLS::open(slf)?;
            let Conn::Listener(t) = &st.conn else {
                return Err(uv_err(ErrKind::Tls, uv::Error::EINVAL));
            };
            (
                t.accept().map_err(|e| uv_err(ErrKind::Tls, e))?,
                st.ctx.clone(),
            )
        };
        let w = TLS::weak(client)?;
        // A failed server handshake ends the read side: the reader (if any) hears of it.
        let s = TlsStream::server(tcp, &ctx, move |_, r| {
            if let Err(e) = r {
                Python::attach(|py| {
                    let Some(me) = TLS::with_weak(py, &w) else {
                        return;
                    };
                    TLS::note(&me, &e);
                    let cb = me
                        .get()
                        .st
                        .borrow(py)
                        .on_read
                        .as_ref()
                        .map(|c| c.clone_ref(py));
                    TLS::call(&me, cb, (me.clone(), py.None(), code(&e)));
                    TLS::keep(&me, false);
                })
            }
        })
        .map_err(tls_err)?;
        let timeout = client.get().st.borrow(client.py()).handshake_timeout;
        let _ = s.set_handshake_timeout(timeout);
        let mut st = client.get().st.borrow_mut(client.py());
        st.ctx = ctx;
        st.conn = Conn::Stream(s);
        Ok(())
    }

    /// Connects and runs the client handshake; `callback(handle, error)` once it is done.
    fn connect(
        slf: &Bound<'_, Self>,
        addr: &Bound<'_, PyAny>,
        callback: Py<PyAny>,
    ) -> PyResult<()> {
        let py = slf.py();
        let a = sockaddr(addr, false)?;
        let (lh, ctx, name, timeout) = {
            let st = TLS::open(slf)?;
            let lp = st.lp.as_ref().ok_or_else(closed)?;
            let lh = lp
                .bind(py)
                .get()
                .uv_handle(py)
                .map_err(|e| uv_err(ErrKind::Tls, e))?;
            let name = st
                .server_hostname
                .clone()
                .unwrap_or_else(|| a.ip().to_string());
            (lh, st.ctx.clone(), name, st.handshake_timeout)
        };
        let me = slf.clone().unbind();
        let mut cb = Some(callback);
        let s = TlsStream::connect(&lh, a, &ctx, &name, move |_, r| {
            Python::attach(|py| {
                let me = me.bind(py);
                let err = r.as_ref().err().map(code);
                if let Err(e) = &r {
                    TLS::note(me, e);
                }
                TLS::call(me, cb.take(), (me.clone(), err));
                let reading = me.get().st.borrow(py).on_read.is_some();
                TLS::keep(me, reading && r.is_ok());
            })
        })
        .map_err(tls_err)?;
        let _ = s.set_handshake_timeout(timeout);
        slf.get().st.borrow_mut(py).conn = Conn::Stream(s);
        Ok(())
    }

    /// `callback(handle, data, error)`: plaintext, then `(None, UV_EOF)` after the peer's
    /// `close_notify`, or `(None, code)` on a failure (`UV_ECONNRESET` for a truncation).
    fn start_read(slf: &Bound<'_, Self>, callback: Py<PyAny>) -> PyResult<()> {
        let s = TLS::stream(slf)?;
        let w = TLS::weak(slf)?;
        slf.get().st.borrow_mut(slf.py()).on_read = Some(callback);
        TLS::keep(slf, true);
        s.read_start(move |_, r| {
            Python::attach(|py| {
                let Some(me) = TLS::with_weak(py, &w) else {
                    return;
                };
                let cb = me
                    .get()
                    .st
                    .borrow(py)
                    .on_read
                    .as_ref()
                    .map(|c| c.clone_ref(py));
                let ended = !matches!(r, TlsRead::Data(_));
                match r {
                    TlsRead::Data(d) => {
                        TLS::call(&me, cb, (me.clone(), PyBytes::new(py, d), None::<i32>))
                    }
                    TlsRead::Eof => {
                        TLS::call(&me, cb, (me.clone(), py.None(), uv::Error::EOF.code()))
                    }
                    TlsRead::Error(e) => {
                        TLS::note(&me, &e);
                        TLS::call(&me, cb, (me.clone(), py.None(), code(&e)));
                    }
                }
                if ended {
                    TLS::keep(&me, false);
                }
            })
        });
        Ok(())
    }

    fn stop_read(slf: &Bound<'_, Self>) -> PyResult<()> {
        TLS::stream(slf)?.read_stop();
        TLS::keep(slf, false);
        Ok(())
    }

    /// Encrypts and queues `data`; `callback(handle, error)` once written.
    #[pyo3(signature = (data, callback = None))]
    fn write(
        slf: &Bound<'_, Self>,
        data: &Bound<'_, PyAny>,
        callback: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        check_callable_opt(slf.py(), callback.as_ref())?;
        let bytes = joined(&buffers(data)?);
        TLS::stream(slf)?
            .write(&bytes, TLS::done(slf, callback))
            .map_err(tls_err)
    }

    /// Sends `close_notify`, then shuts the socket's write side; `callback(handle, error)`.
    #[pyo3(signature = (callback = None))]
    fn shutdown(slf: &Bound<'_, Self>, callback: Option<Py<PyAny>>) -> PyResult<()> {
        check_callable_opt(slf.py(), callback.as_ref())?;
        TLS::stream(slf)?
            .shutdown(TLS::done(slf, callback))
            .map_err(tls_err)
    }

    /// Closes the connection (without `close_notify`: `shutdown` first for a clean end);
    /// `callback(handle)` once closed.
    #[pyo3(signature = (callback = None))]
    fn close(slf: &Bound<'_, Self>, callback: Option<Py<PyAny>>) -> PyResult<()> {
        let py = slf.py();
        check_callable_opt(py, callback.as_ref())?;
        let conn = {
            let mut st = slf.get().st.borrow_mut(py);
            if st.closing {
                return Err(closed());
            }
            st.closing = true;
            st.on_close = callback;
            std::mem::replace(&mut st.conn, Conn::None)
        };
        let me = slf.clone().unbind();
        let done = move || {
            Python::attach(|py| {
                let me = me.bind(py);
                let (cb, rest) = {
                    let mut st = me.get().st.borrow_mut(py);
                    let rest = (
                        st.on_read.take(),
                        st.on_listen.take(),
                        st.keep.take(),
                        st.lp.take(),
                    );
                    (st.on_close.take(), rest)
                };
                drop(rest);
                TLS::call(me, cb, (me.clone(),));
            })
        };
        match conn {
            Conn::Listener(t) => {
                let _ = t.close_with(done);
            }
            Conn::Stream(s) if !s.is_closed() => s.close_with(done),
            // A stream that failed closes its socket itself: once that has begun, nothing is
            // left to wait for (as a handle with nothing open in libuv, closed at once).
            Conn::Stream(s) if s.tcp().is_closing() => done(),
            Conn::Stream(s) => {
                let _ = s.tcp().close_with(done);
            }
            Conn::None => done(),
        }
        Ok(())
    }

    fn getsockname<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let a = match &TLS::open(slf)?.conn {
            Conn::Listener(t) => t.sockname(),
            Conn::Stream(s) => s.tcp().sockname(),
            Conn::None => Err(uv::Error::EINVAL),
        }
        .map_err(|e| uv_err(ErrKind::Tls, e))?;
        addr_tuple(slf.py(), a)
    }

    fn getpeername<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let a = TLS::stream(slf)?
            .tcp()
            .peername()
            .map_err(|e| uv_err(ErrKind::Tls, e))?;
        addr_tuple(slf.py(), a)
    }

    fn nodelay(slf: &Bound<'_, Self>, enable: bool) -> PyResult<()> {
        TLS::stream(slf)?
            .tcp()
            .set_nodelay(enable)
            .map_err(|e| uv_err(ErrKind::Tls, e))
    }

    /// The protocol ALPN chose, once the handshake is done.
    #[getter]
    fn alpn_protocol(slf: &Bound<'_, Self>) -> PyResult<Option<String>> {
        let info = TLS::stream(slf).ok().and_then(|s| s.info());
        Ok(info
            .and_then(|i| i.alpn)
            .map(|a| String::from_utf8_lossy(&a).into_owned()))
    }

    /// `"TLSv1.3"` or `"TLSv1.2"`, once the handshake is done.
    #[getter]
    fn version(slf: &Bound<'_, Self>) -> Option<&'static str> {
        TLS::stream(slf)
            .ok()
            .and_then(|s| s.info())
            .map(|i| i.version)
    }

    #[getter]
    fn cipher(slf: &Bound<'_, Self>) -> Option<String> {
        TLS::stream(slf)
            .ok()
            .and_then(|s| s.info())
            .map(|i| i.cipher)
    }

    /// The peer closed the connection without `close_notify`.
    #[getter]
    fn truncated(&self, py: Python<'_>) -> bool {
        self.st.borrow(py).truncated
    }

    /// The last TLS failure's message.
    #[getter]
    fn tls_error(&self, py: Python<'_>) -> Option<String> {
        self.st.borrow(py).error.clone()
    }

    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        self.st.borrow(py).closing
    }

    #[getter]
    fn active(&self, py: Python<'_>) -> bool {
        let st = self.st.borrow(py);
        !st.closing && st.keep.is_some()
    }

    #[getter(r#loop)]
    fn get_loop(&self, py: Python<'_>) -> Option<Py<Loop>> {
        self.st.borrow(py).lp.as_ref().map(|l| l.clone_ref(py))
    }

    #[getter]
    fn write_queue_size(slf: &Bound<'_, Self>) -> PyResult<usize> {
        Ok(TLS::stream(slf)?.write_queue_size())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let Some(st) = self.st.peek() else {
            return Ok(());
        };
        visit.call(&st.lp)?;
        visit.call(&st.on_read)?;
        visit.call(&st.on_listen)?;
        visit.call(&st.on_close)
    }

    fn __clear__(&self) {
        Python::attach(|py| {
            let old = {
                let mut st = self.st.borrow_mut(py);
                (st.on_read.take(), st.on_listen.take(), st.on_close.take())
            };
            drop(old);
        });
    }
}
