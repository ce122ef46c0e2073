//! pyuv 1.4's API on rsuv (`pyuv-compat/` is the `pyuv` package over it): the handle
//! classes, `pyuv.fs`, `pyuv.dns`, `pyuv.thread`, `pyuv.util`, `pyuv.errno`, `pyuv.error`,
//! and a TLS handle (rsuv's addition). One file per handle kind, as in pyuv's source.

// The class names are pyuv's public API (`pyuv.TCP`, `pyuv.UDP`, `pyuv.TTY`, `pyuv.TLS`).
#![allow(clippy::upper_case_acronyms)]

mod dns;
mod errors;
mod fs;
mod fs_watch;
mod handle;
mod loop_;
mod pipe;
mod process;
mod requests;
mod stream;
mod tcp;
mod thread;
mod tls;
mod udp;
mod util;
mod watchers;

use pyo3::prelude::*;

/// The `_pyuv` submodule of `rsuv._rsuv`, with its own submodules (`fs`, `dns`, `thread`,
/// `util`, `errno`, `error`), registered here only.
pub(crate) fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = parent.py();
    let m = PyModule::new(py, "_pyuv")?;
    m.add_class::<loop_::Loop>()?;
    m.add_class::<handle::Handle>()?;
    m.add_class::<watchers::Timer>()?;
    m.add_class::<watchers::Prepare>()?;
    m.add_class::<watchers::Check>()?;
    m.add_class::<watchers::Idle>()?;
    m.add_class::<watchers::Async>()?;
    m.add_class::<watchers::Signal>()?;
    m.add_class::<watchers::Poll>()?;
    m.add_class::<stream::Stream>()?;
    m.add_class::<tcp::TCP>()?;
    m.add_class::<pipe::Pipe>()?;
    m.add_class::<pipe::TTY>()?;
    m.add_class::<udp::UDP>()?;
    m.add_class::<process::Process>()?;
    m.add_class::<process::StdIO>()?;
    m.add_class::<tls::TLS>()?;
    m.add_class::<requests::Request>()?;
    m.add_class::<requests::WorkRequest>()?;
    // `__init__` registers a handle with its loop: a method descriptor, so it binds.
    let ht = py.get_type::<handle::Handle>();
    ht.setattr("__init__", ht.getattr("_pyuv_init")?)?;
    for (name, value) in CONSTANTS {
        m.add(*name, *value)?;
    }
    m.add("LIBUV_VERSION", crate::uv::version_string())?;
    sub(&m, "errno", errors::errno_module)?;
    sub(&m, "error", errors::error_module)?;
    sub(&m, "thread", thread::thread_module)?;
    sub(&m, "fs", fs::fs_module)?;
    sub(&m, "dns", dns::dns_module)?;
    m.add_class::<dns::GAIRequest>()?;
    m.add_class::<dns::GNIRequest>()?;
    m.add_class::<fs::FSRequest>()?;
    sub(&m, "util", util::util_module)?;
    parent.add_submodule(&m)?;
    Ok(())
}

fn sub(
    parent: &Bound<'_, PyModule>,
    name: &str,
    fill: impl FnOnce(&Bound<'_, PyModule>) -> PyResult<()>,
) -> PyResult<()> {
    let m = PyModule::new(parent.py(), name)?;
    fill(&m)?;
    parent.add_submodule(&m)
}

/// pyuv's module constants (libuv's values; pyuv 1.4 exported the same).
const CONSTANTS: &[(&str, i64)] = &[
    ("UV_UNKNOWN_HANDLE", 0),
    ("UV_ASYNC", 1),
    ("UV_CHECK", 2),
    ("UV_FS_EVENT", 3),
    ("UV_FS_POLL", 4),
    ("UV_HANDLE", 5),
    ("UV_IDLE", 6),
    ("UV_NAMED_PIPE", 7),
    ("UV_POLL", 8),
    ("UV_PREPARE", 9),
    ("UV_PROCESS", 10),
    ("UV_STREAM", 11),
    ("UV_TCP", 12),
    ("UV_TIMER", 13),
    ("UV_TTY", 14),
    ("UV_UDP", 15),
    ("UV_SIGNAL", 16),
    ("UV_FILE", 17),
    ("UV_RUN_DEFAULT", 0),
    ("UV_RUN_ONCE", 1),
    ("UV_RUN_NOWAIT", 2),
    ("UV_READABLE", 1),
    ("UV_WRITABLE", 2),
    ("UV_DISCONNECT", 4),
    ("UV_PRIORITIZED", 8),
    ("UV_IGNORE", 0),
    ("UV_CREATE_PIPE", 1),
    ("UV_INHERIT_FD", 2),
    ("UV_INHERIT_STREAM", 4),
    ("UV_READABLE_PIPE", 16),
    ("UV_WRITABLE_PIPE", 32),
    ("UV_PROCESS_SETUID", 1),
    ("UV_PROCESS_SETGID", 2),
    ("UV_PROCESS_WINDOWS_VERBATIM_ARGUMENTS", 4),
    ("UV_PROCESS_DETACHED", 8),
    ("UV_PROCESS_WINDOWS_HIDE", 16),
    ("UV_JOIN_GROUP", 1),
    ("UV_LEAVE_GROUP", 0),
    ("UV_TCP_IPV6ONLY", 1),
    ("UV_UDP_IPV6ONLY", 1),
    ("UV_UDP_PARTIAL", 2),
    ("UV_UDP_REUSEADDR", 4),
];
