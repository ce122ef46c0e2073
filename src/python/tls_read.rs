//! The incoming half of `TlsProtocol` (`tls_proto.rs`): ciphertext from the socket into the
//! incoming BIO, plaintext out to the application (as one `bytes`, or into a
//! `BufferedProtocol`'s buffer), close_notify, and read flow control towards the socket.

use std::cell::Cell;
use std::os::raw::c_char;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::{ffi, intern};

use super::tls_proto::{AppProto, AppState, MAX_SIZE, State, TlsProtocol, api, is_fatal};

/// A memoryview over `len` bytes at `ptr`, released by the guard's drop, so that nothing can
/// reach the memory through it after the call it was made for.
struct View<'py>(Bound<'py, PyAny>);

impl<'py> View<'py> {
    /// # Safety
    /// `ptr..ptr + len` must stay valid (and, for `writable`, writable and unaliased) until
    /// the view is dropped.
    unsafe fn new(py: Python<'py>, ptr: *mut u8, len: usize, writable: bool) -> PyResult<Self> {
        let flags = if writable {
            ffi::PyBUF_WRITE
        } else {
            ffi::PyBUF_READ
        };
        // SAFETY: the caller keeps the memory valid while the view lives; `len` fits
        // `Py_ssize_t` (it is the length of a Rust allocation).
        let obj = unsafe {
            let p = ffi::PyMemoryView_FromMemory(ptr as *mut c_char, len as ffi::Py_ssize_t, flags);
            Bound::from_owned_ptr_or_err(py, p)?
        };
        Ok(View(obj))
    }
}

impl Drop for View<'_> {
    fn drop(&mut self) {
        // Nobody else holds the view (the usual case: `_ssl` used it during the call only):
        // dropping it frees it. Otherwise it is released; one still exported (someone kept
        // a buffer of it) refuses with BufferError, which only the `_ssl` C objects could
        // cause, and they keep none.
        // SAFETY: reading the reference count of a live object.
        let shared = unsafe { ffi::Py_REFCNT(self.0.as_ptr()) } > 1;
        if shared
            && self
                .0
                .call_method0(intern!(self.0.py(), "release"))
                .is_err()
        {
            PyErr::fetch(self.0.py());
        }
    }
}

thread_local! {
    /// The buffer plaintext is read into before it becomes the `bytes` given to
    /// `data_received`: one per thread, taken while in use (a nested read makes its own).
    static PLAIN: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl TlsProtocol {
    /// Ciphertext from the socket: into the incoming BIO, then on with the state.
    pub(super) fn feed(slf: &Bound<'_, Self>, data: &[u8]) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        {
            // SAFETY: `data` outlives the view, which is released when the block ends;
            // MemoryBIO.write only reads it during the call.
            let view = unsafe { View::new(py, data.as_ptr() as *mut u8, data.len(), false)? };
            this.incoming
                .call_method1(py, intern!(py, "write"), (&view.0,))?;
        }
        Self::advance(slf)
    }

    /// `buffer_updated`'s dispatch on the state.
    pub(super) fn advance(slf: &Bound<'_, Self>) -> PyResult<()> {
        match slf.get().state.get() {
            State::DoHandshake => Self::do_handshake(slf),
            State::Wrapped => Self::do_read(slf),
            State::Flushing => Self::do_flush(slf),
            State::Shutdown => Self::do_shutdown(slf),
            State::Unwrapped => Ok(()),
        }
    }

    pub(super) fn do_read(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if !matches!(this.state.get(), State::Wrapped | State::Flushing) {
            return Ok(());
        }
        let r = (|| {
            if !this.app_reading_paused.get() {
                let buffered = matches!(&*this.app.borrow(py), Some(AppProto::Buffered { .. }));
                if buffered {
                    Self::read_buffered(slf)?;
                } else {
                    Self::read_copied(slf)?;
                }
                if this.backlog.borrow(py).is_empty() {
                    Self::process_outgoing(slf)?;
                } else {
                    Self::do_write(slf)?;
                }
            }
            this.control_ssl_reading(py)
        })();
        match r {
            Ok(()) => Ok(()),
            Err(e) => Self::fail(slf, e, "Fatal error on SSL protocol"),
        }
    }

    /// Reads what plaintext there is (until OpenSSL wants more) into the thread's buffer;
    /// `(bytes, close_notify seen)`.
    fn read_plain(&self, py: Python<'_>, buf: &mut Vec<u8>) -> PyResult<bool> {
        const CHUNK: usize = 64 * 1024;
        buf.clear();
        loop {
            if buf.capacity() - buf.len() < CHUNK / 4 {
                buf.reserve(CHUNK.max(buf.len()).min(MAX_SIZE));
            }
            let room = (buf.capacity() - buf.len()).min(MAX_SIZE - buf.len());
            if room == 0 {
                return Ok(false);
            }
            if !self.raw_is_c {
                // A subclass of SSLObject is Python code: it gets no view of our memory.
                match self.raw.call_method1(py, intern!(py, "read"), (room,)) {
                    Ok(b) => {
                        let b = b.bind(py).cast::<PyBytes>()?.as_bytes().to_vec();
                        if b.is_empty() {
                            return Ok(true);
                        }
                        buf.extend_from_slice(&b);
                        continue;
                    }
                    Err(e) if api(py)?.again(py, &e) => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
            let r = {
                // SAFETY: the spare capacity `len..len + room` of `buf` is writable and not
                // otherwise borrowed while the view lives; only the bytes OpenSSL reports
                // written are committed below.
                let view = unsafe { View::new(py, buf.as_mut_ptr().add(buf.len()), room, true)? };
                this_read(&self.raw, py, room, &view.0)
            };
            match r {
                Ok(0) => return Ok(true),
                Ok(n) => {
                    let n = n.min(room);
                    // SAFETY: OpenSSL wrote `n <= room` bytes into the spare capacity.
                    unsafe { buf.set_len(buf.len() + n) };
                    if buf.len() >= MAX_SIZE || !self.more_to_read(py)? {
                        return Ok(false);
                    }
                }
                Err(e) if api(py)?.again(py, &e) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether another read could bring anything: input left in the incoming BIO, or
    /// plaintext of a record already decrypted. (OpenSSL reads records with read-ahead off,
    /// as `_ssl` leaves it, so it holds no whole record beyond these.) Saves the
    /// `SSLWantReadError` a read would raise at the end of every batch.
    fn more_to_read(&self, py: Python<'_>) -> PyResult<bool> {
        let input: usize = self
            .incoming
            .getattr(py, intern!(py, "pending"))?
            .extract(py)?;
        if input > 0 {
            return Ok(true);
        }
        let plain: usize = self
            .raw
            .call_method0(py, intern!(py, "pending"))?
            .extract(py)?;
        Ok(plain > 0)
    }

    /// `_do_read__copied`: the plaintext as one `bytes` to `data_received`; at close_notify,
    /// `eof_received` and our shutdown.
    fn read_copied(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let mut buf = PLAIN.with(Cell::take);
        let r = this.read_plain(py, &mut buf);
        let full = buf.len() >= MAX_SIZE;
        let data = match &r {
            Ok(_) if !buf.is_empty() => Some(PyBytes::new(py, &buf)),
            _ => None,
        };
        if buf.capacity() <= MAX_SIZE * 2 {
            PLAIN.with(|p| p.set(buf));
        }
        let eof = r?;
        // A read stops at MAX_SIZE with the rest still in the BIO or the session: another
        // read is scheduled, for the socket may bring nothing more (asyncio reads it all).
        if !eof && full {
            let again = slf.getattr(intern!(py, "_do_read"))?;
            this.call_soon(py, &again, None)?;
        }
        if let Some(data) = data {
            let cb = match &*this.app.borrow(py) {
                Some(AppProto::Plain { data_received, .. }) => Some(data_received.clone_ref(py)),
                _ => None,
            };
            if let Some(cb) = cb {
                cb.call1(py, (data,))?;
            }
        }
        if eof {
            Self::call_eof_received(slf)?;
            Self::start_shutdown(slf)?;
        }
        Ok(())
    }

    /// `_do_read__buffered`: straight into the protocol's buffer; another read is scheduled
    /// when the buffer filled up.
    fn read_buffered(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let (get_buffer, updated) = match &*this.app.borrow(py) {
            Some(AppProto::Buffered {
                get_buffer,
                buffer_updated,
                ..
            }) => (get_buffer.clone_ref(py), buffer_updated.clone_ref(py)),
            _ => return Ok(()),
        };
        let pending: usize = this
            .incoming
            .getattr(py, intern!(py, "pending"))?
            .extract(py)?;
        let buf = get_buffer.call1(py, (pending,))?;
        let buf = buf.bind(py);
        let wants = buf.len()?;
        let mut offset = 0;
        let mut eof = false;
        let mut full = true;
        while offset < wants {
            // A slice of a memoryview, not of the object: slicing a bytearray would copy it,
            // and the plaintext would land in the copy (asyncio's own sslproto loses it so).
            let target = if offset == 0 {
                buf.clone()
            } else {
                view_of(buf)?.get_item(pyo3::types::PySlice::new(
                    py,
                    offset as isize,
                    wants as isize,
                    1,
                ))?
            };
            match this_read(&this.raw, py, wants - offset, &target) {
                Ok(0) => {
                    eof = true;
                    full = false;
                    break;
                }
                Ok(n) => {
                    offset += n;
                    if offset < wants && !this.more_to_read(py)? {
                        full = false;
                        break;
                    }
                }
                Err(e) if api(py)?.again(py, &e) => {
                    full = false;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if full && wants > 0 {
            let again = slf.getattr(intern!(py, "_do_read"))?;
            this.call_soon(py, &again, None)?;
        }
        if offset > 0 {
            updated.call1(py, (offset,))?;
        }
        if eof {
            Self::call_eof_received(slf)?;
            Self::start_shutdown(slf)?;
        }
        Ok(())
    }

    pub(super) fn call_eof_received(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        if this.app_state.get() != AppState::ConMade {
            return Ok(());
        }
        this.app_state.set(AppState::Eof);
        let Some(p) = this.app_protocol(py) else {
            return Ok(());
        };
        match p.call_method0(py, intern!(py, "eof_received")) {
            Ok(keep) => {
                if keep.bind(py).is_truthy()? {
                    let msg = "returning true from eof_received() has no effect when using ssl";
                    api(py)?
                        .logger
                        .call_method1(py, intern!(py, "warning"), (msg,))?;
                }
                Ok(())
            }
            Err(e) if is_fatal(py, &e) => Err(e),
            Err(e) => Self::fatal_error(slf, e.value(py).as_any(), "Error calling eof_received()"),
        }
    }

    pub(super) fn control_ssl_reading(&self, py: Python<'_>) -> PyResult<()> {
        let size: usize = self
            .incoming
            .getattr(py, intern!(py, "pending"))?
            .extract(py)?;
        let method = if size >= self.in_high.get() && !self.ssl_reading_paused.get() {
            self.ssl_reading_paused.set(true);
            "pause_reading"
        } else if size <= self.in_low.get() && self.ssl_reading_paused.get() {
            self.ssl_reading_paused.set(false);
            "resume_reading"
        } else {
            return Ok(());
        };
        if let Some(t) = self.lower_transport(py) {
            t.call_method0(py, method)?;
        }
        Ok(())
    }
}

/// `memoryview(obj)`.
fn view_of<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    Ok(pyo3::types::PyMemoryView::from(obj)?.into_any())
}

/// `raw.read(n, buffer)`: the bytes read into `buffer` (0 at close_notify).
fn this_read(
    raw: &Py<PyAny>,
    py: Python<'_>,
    n: usize,
    buffer: &Bound<'_, PyAny>,
) -> PyResult<usize> {
    raw.call_method1(py, intern!(py, "read"), (n, buffer))?
        .extract(py)
}
