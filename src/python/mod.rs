//! The Python extension `rsuv._rsuv` and the embedding API (feature `python`).
//!
//! The asyncio loop core is Rust: the ready queue, the timer heap, the wait in the kernel
//! (with the GIL released), descriptors watched for `add_reader`/`add_writer`, DNS on libuv's
//! threadpool, the signal wake-up. `python/rsuv/_loop.py` builds `rsuv.Loop` on it, adding the
//! parts of `asyncio.AbstractEventLoop` that are not on a hot path (tasks, executors, the
//! exception handler, signal handler bookkeeping). See ARCHITECTURE.md, "The Python loop".

mod dns;
mod embed;
mod fastcall;
mod freelist;
mod gil;
mod handle;
mod loop_core;
mod pyuv;
mod readbuf;
mod readers;
mod sockops;
mod timers;
mod tls_methods;
mod tls_proto;
mod tls_read;
mod transport;

use pyo3::prelude::*;

pub use embed::{EventLoop, PyFuture, prepare};
pub use handle::{Handle, TimerHandle};
pub use loop_core::{LoopCore, LoopSeed};

/// The version of the linked libuv, as `(major, minor, patch)`.
#[pyfunction]
fn libuv_version() -> (u32, u32, u32) {
    crate::uv::version()
}

/// The extension module: every class and function, registered here only.
#[pymodule]
fn _rsuv(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Handle>()?;
    m.add_class::<TimerHandle>()?;
    handle::install_traverse(m.py());
    m.add_class::<LoopCore>()?;
    fastcall::install(m.py())?;
    m.add_class::<LoopSeed>()?;
    m.add_class::<transport::StreamCore>()?;
    m.add_class::<tls_proto::TlsProtocol>()?;
    m.add_function(wrap_pyfunction!(libuv_version, m)?)?;
    pyuv::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
