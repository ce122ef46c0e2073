//! `pyuv.error` and `pyuv.errno`: pyuv's exception hierarchy, libuv's codes by name, and the
//! one place a libuv code becomes a pyuv exception.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::uv;

create_exception!(
    pyuv.error,
    UVError,
    PyException,
    "Base of every pyuv error."
);
create_exception!(pyuv.error, ThreadError, UVError, "pyuv.thread errors.");
create_exception!(pyuv.error, FSError, UVError, "File-system request errors.");
create_exception!(
    pyuv.error,
    HandleError,
    UVError,
    "Base of the handles' errors."
);
create_exception!(
    pyuv.error,
    HandleClosedError,
    HandleError,
    "The handle is closing or closed."
);
create_exception!(pyuv.error, StreamError, HandleError, "Stream errors.");
create_exception!(pyuv.error, AsyncError, HandleError, "Async errors.");
create_exception!(pyuv.error, CheckError, HandleError, "Check errors.");
create_exception!(pyuv.error, FSEventError, HandleError, "FSEvent errors.");
create_exception!(pyuv.error, FSPollError, HandleError, "FSPoll errors.");
create_exception!(pyuv.error, IdleError, HandleError, "Idle errors.");
create_exception!(pyuv.error, PollError, HandleError, "Poll errors.");
create_exception!(pyuv.error, PrepareError, HandleError, "Prepare errors.");
create_exception!(pyuv.error, ProcessError, HandleError, "Process errors.");
create_exception!(pyuv.error, SignalError, HandleError, "Signal errors.");
create_exception!(pyuv.error, TimerError, HandleError, "Timer errors.");
create_exception!(pyuv.error, UDPError, HandleError, "UDP errors.");
create_exception!(pyuv.error, PipeError, StreamError, "Pipe errors.");
create_exception!(pyuv.error, TCPError, StreamError, "TCP errors.");
create_exception!(pyuv.error, TTYError, StreamError, "TTY errors.");
create_exception!(
    pyuv.error,
    TLSError,
    StreamError,
    "TLS handle errors (rsuv's addition)."
);

/// The exception type a handle kind raises (pyuv's `<Type>Error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrKind {
    Handle,
    Async,
    Check,
    FsEvent,
    FsPoll,
    Idle,
    Poll,
    Prepare,
    Process,
    Signal,
    Timer,
    Udp,
    Pipe,
    Tcp,
    Tty,
    Tls,
    Fs,
    Thread,
    Uv,
}

/// pyuv's `<Kind>Error(errno, strerror)` for a libuv code; rsuv's "closed" code is pyuv's
/// `HandleClosedError`.
pub(crate) fn uv_err(kind: ErrKind, e: uv::Error) -> PyErr {
    if e == uv::Error::CLOSED {
        return closed();
    }
    let args = (e.code(), strerror(e.code()));
    match kind {
        ErrKind::Handle => HandleError::new_err(args),
        ErrKind::Async => AsyncError::new_err(args),
        ErrKind::Check => CheckError::new_err(args),
        ErrKind::FsEvent => FSEventError::new_err(args),
        ErrKind::FsPoll => FSPollError::new_err(args),
        ErrKind::Idle => IdleError::new_err(args),
        ErrKind::Poll => PollError::new_err(args),
        ErrKind::Prepare => PrepareError::new_err(args),
        ErrKind::Process => ProcessError::new_err(args),
        ErrKind::Signal => SignalError::new_err(args),
        ErrKind::Timer => TimerError::new_err(args),
        ErrKind::Udp => UDPError::new_err(args),
        ErrKind::Pipe => PipeError::new_err(args),
        ErrKind::Tcp => TCPError::new_err(args),
        ErrKind::Tty => TTYError::new_err(args),
        ErrKind::Tls => TLSError::new_err(args),
        ErrKind::Fs => FSError::new_err(args),
        ErrKind::Thread => ThreadError::new_err(args),
        ErrKind::Uv => UVError::new_err(args),
    }
}

/// pyuv's `HandleClosedError("Handle is closing/closed")` (its args are the message only).
pub(crate) fn closed() -> PyErr {
    HandleClosedError::new_err("Handle is closing/closed")
}

/// The callback form of an outcome: `None` or the libuv code.
pub(crate) fn code_of(r: uv::Result<()>) -> Option<i32> {
    r.err().map(uv::Error::code)
}

/// `pyuv.errno.strerror(errorno)`: libuv's message for a code.
#[pyfunction]
pub(crate) fn strerror(errorno: i32) -> String {
    uv::Error::from_raw(errorno).message()
}

/// Fills `pyuv.error`.
pub(crate) fn error_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    macro_rules! add {
        ($($t:ident),*) => { $( m.add(stringify!($t), py.get_type::<$t>())?; )* };
    }
    add!(
        UVError,
        ThreadError,
        FSError,
        HandleError,
        HandleClosedError,
        StreamError,
        AsyncError,
        CheckError,
        FSEventError,
        FSPollError,
        IdleError,
        PollError,
        PrepareError,
        ProcessError,
        SignalError,
        TimerError,
        UDPError,
        PipeError,
        TCPError,
        TTYError,
        TLSError
    );
    Ok(())
}

/// Fills `pyuv.errno`: `UV_<NAME>` constants, `errorcode` (code -> name) and `strerror`.
pub(crate) fn errno_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let codes = PyDict::new(m.py());
    for (name, e) in uv::Error::ALL {
        let full = format!("UV_{name}");
        m.add(full.as_str(), e.code())?;
        codes.set_item(e.code(), full)?;
    }
    m.add("errorcode", codes)?;
    m.add_function(wrap_pyfunction!(strerror, m)?)?;
    Ok(())
}

/// `del` of a property: pyuv's `TypeError`.
pub(crate) fn no_delete() -> PyErr {
    pyo3::exceptions::PyTypeError::new_err("cannot delete attribute")
}

/// `getsockname()` before a socket exists: `UV_EINVAL`, as pyuv 1.4's libuv reported it.
pub(crate) fn ebadf_is_einval(e: crate::uv::Error) -> crate::uv::Error {
    if e == crate::uv::Error::EBADF {
        crate::uv::Error::EINVAL
    } else {
        e
    }
}
