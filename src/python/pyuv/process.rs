//! `pyuv.Process` and `pyuv.StdIO`: children spawned by libuv, their stdio on pipes,
//! descriptors or streams, `exit_callback(proc, exit_status, term_signal)`.

use std::cell::Ref;
use std::os::fd::{AsFd, OwnedFd};

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};
use std::sync::atomic::{AtomicI32, Ordering};

use super::errors::{ErrKind, uv_err};
use super::handle::{AUX, HState, Handle, Uv, check_callable_opt};
use super::loop_::Loop;
use super::stream::Stream;
use super::watchers::base;
use crate::uv;

const UV_IGNORE: i32 = 0;
const UV_CREATE_PIPE: i32 = 1;
const UV_INHERIT_FD: i32 = 2;
const UV_INHERIT_STREAM: i32 = 4;
const UV_READABLE_PIPE: i32 = 16;
const UV_WRITABLE_PIPE: i32 = 32;
const UV_PROCESS_SETUID: u32 = 1;
const UV_PROCESS_SETGID: u32 = 2;
const UV_PROCESS_DETACHED: u32 = 8;

/// `StdIO(stream=None, fd=-1, flags=UV_IGNORE)`: how one of a child's descriptors is set.
#[pyclass(
    module = "pyuv._cpyuv",
    name = "StdIO",
    subclass,
    frozen,
    weakref,
    dict
)]
pub struct StdIO {
    stream: Option<Py<PyAny>>,
    fd: i32,
    flags: i32,
}

#[pymethods]
impl StdIO {
    #[new]
    #[pyo3(signature = (stream = None, fd = -1, flags = UV_IGNORE))]
    fn new(stream: Option<Bound<'_, PyAny>>, fd: i32, flags: i32) -> PyResult<StdIO> {
        let stream = stream.filter(|s| !s.is_none());
        if stream.is_some() && fd != -1 {
            return Err(PyValueError::new_err(
                "either stream or fd must be specified, but not both",
            ));
        }
        if let Some(s) = &stream {
            if !s.is_instance_of::<Stream>() {
                return Err(PyTypeError::new_err("Only stream objects are supported"));
            }
            let ok = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE | UV_INHERIT_STREAM;
            if flags & !ok != 0 {
                return Err(PyValueError::new_err("invalid flags specified for stream"));
            }
        }
        if fd != -1 && flags & !UV_INHERIT_FD != 0 {
            return Err(PyValueError::new_err("invalid flags specified for fd"));
        }
        if stream.is_none() && fd == -1 && flags != UV_IGNORE {
            return Err(PyValueError::new_err("invalid flags specified for ignore"));
        }
        Ok(StdIO {
            stream: stream.map(Bound::unbind),
            fd,
            flags,
        })
    }

    #[getter]
    fn stream(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.stream.as_ref().map(|s| s.clone_ref(py))
    }

    #[getter]
    fn fd(&self) -> i32 {
        self.fd
    }

    #[getter]
    fn flags(&self) -> i32 {
        self.flags
    }
}

/// `Process(loop)`; children come from the class method `spawn`.
#[pyclass(module = "pyuv._cpyuv", name = "Process", extends = Handle, subclass, frozen)]
pub struct Process {
    /// The child's pid once spawned (0 before), kept after close as pyuv does.
    pid: AtomicI32,
}

fn strs(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if obj.is_instance_of::<PyString>() {
        return Ok(vec![obj.extract()?]);
    }
    if let Ok(b) = obj.extract::<Vec<u8>>()
        && obj.is_instance_of::<pyo3::types::PyBytes>()
    {
        return Ok(vec![String::from_utf8_lossy(&b).into_owned()]);
    }
    obj.try_iter()
        .map_err(|_| PyTypeError::new_err("only iterable objects are supported for 'args'"))?
        .map(|a| a.and_then(|a| a.extract::<String>()))
        .collect()
}

/// One child descriptor's setting, with what it borrows held alive.
enum Io<'a> {
    Ignore,
    Fd(OwnedFd),
    /// A new socketpair; the directions (child reads, child writes) as pyuv gave them.
    Pipe(Ref<'a, HState>, bool, bool),
    Stream(Ref<'a, HState>),
}

fn ios<'a>(
    py: Python<'a>,
    cfg: &'a [Bound<'a, StdIO>],
    handles: &'a [Option<Bound<'a, Handle>>],
) -> PyResult<Vec<Io<'a>>> {
    let mut out = Vec::new();
    for (c, h) in cfg.iter().zip(handles) {
        let s = c.get();
        let io = if s.flags & UV_CREATE_PIPE != 0 || s.flags & UV_INHERIT_STREAM != 0 {
            let h = h
                .as_ref()
                .ok_or_else(|| PyValueError::new_err("a stream is required"))?;
            let st = h.get().st.borrow(py);
            if s.flags & UV_CREATE_PIPE != 0 {
                if !matches!(st.uv, Uv::Pipe(_)) {
                    return Err(PyTypeError::new_err("UV_CREATE_PIPE needs a Pipe"));
                }
                Io::Pipe(
                    st,
                    s.flags & UV_READABLE_PIPE != 0,
                    s.flags & UV_WRITABLE_PIPE != 0,
                )
            } else {
                Io::Stream(st)
            }
        } else if s.flags & UV_INHERIT_FD != 0 {
            Io::Fd(uv::dup_fd(s.fd).map_err(|e| uv_err(ErrKind::Process, e))?)
        } else {
            Io::Ignore
        };
        out.push(io);
    }
    Ok(out)
}

#[pymethods]
impl Process {
    #[new]
    #[pyo3(signature = (r#loop, *_a, **_k))]
    fn new(
        r#loop: &Bound<'_, Loop>,
        _a: &Bound<'_, PyTuple>,
        _k: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        Handle::uv_loop(r#loop, ErrKind::Process)?;
        Ok(
            PyClassInitializer::from(Handle::new(r#loop, ErrKind::Process, Uv::None)).add_subclass(
                Process {
                    pid: AtomicI32::new(0),
                },
            ),
        )
    }

    /// Spawns `args` (a string or a sequence; `args[0]` is the child's `argv[0]`, the
    /// program `executable` or `args[0]`); returns the `Process`.
    #[classmethod]
    #[pyo3(signature = (r#loop, args, executable = None, env = None, cwd = None, uid = 0, gid = 0, flags = 0, stdio = None, exit_callback = None))]
    #[allow(clippy::too_many_arguments)]
    fn spawn(
        cls: &Bound<'_, PyType>,
        r#loop: &Bound<'_, Loop>,
        args: &Bound<'_, PyAny>,
        executable: Option<String>,
        env: Option<&Bound<'_, PyDict>>,
        cwd: Option<String>,
        uid: i32,
        gid: i32,
        flags: u32,
        stdio: Option<&Bound<'_, PyAny>>,
        exit_callback: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = cls.py();
        check_callable_opt(py, exit_callback.as_ref())?;
        let argv = strs(args)?;
        if argv.is_empty() {
            return Err(PyValueError::new_err(
                "'args' must contain at least one element",
            ));
        }
        let mut cfg: Vec<Bound<'_, StdIO>> = Vec::new();
        if let Some(list) = stdio.filter(|s| !s.is_none()) {
            for item in list.try_iter()? {
                cfg.push(
                    item?
                        .cast_into::<StdIO>()
                        .map_err(|_| PyTypeError::new_err("a StdIO instance is required"))?,
                );
            }
        }
        let obj = cls.call1((r#loop,))?;
        let h = obj.cast::<Handle>()?.clone();
        let ctx = Handle::ctx(&h)?;
        let handles: Vec<Option<Bound<'_, Handle>>> = cfg
            .iter()
            .map(|c| {
                c.get()
                    .stream
                    .as_ref()
                    .and_then(|s| s.bind(py).cast::<Handle>().ok().cloned())
            })
            .collect();
        let program = executable.clone().unwrap_or_else(|| argv[0].clone());
        let mut opts = uv::ProcessOptions::new(&program)
            .arg0(&argv[0])
            .args(&argv[1..]);
        if let Some(env) = env {
            opts = opts.env_clear();
            for (k, v) in env.iter() {
                opts = opts.env(k.extract::<String>()?, v.extract::<String>()?);
            }
        }
        if let Some(d) = &cwd {
            opts = opts.cwd(d);
        }
        if flags & UV_PROCESS_SETUID != 0 {
            opts = opts.uid(uid as u32); // a C int in pyuv: -1 wraps
        }
        if flags & UV_PROCESS_SETGID != 0 {
            opts = opts.gid(gid as u32);
        }
        opts = opts.detached(flags & UV_PROCESS_DETACHED != 0);
        let io = ios(py, &cfg, &handles)?;
        for i in 0..io.len().max(3) {
            let how = match io.get(i) {
                None | Some(Io::Ignore) => uv::Stdio::Ignore,
                Some(Io::Fd(fd)) => uv::Stdio::Fd(fd.as_fd()),
                Some(Io::Pipe(st, readable, writable)) => match &st.uv {
                    Uv::Pipe(p) => uv::Stdio::PipeWith {
                        pipe: p,
                        readable: *readable,
                        writable: *writable,
                    },
                    _ => uv::Stdio::Ignore,
                },
                Some(Io::Stream(st)) => match &st.uv {
                    Uv::Pipe(p) => uv::Stdio::Stream(p),
                    Uv::Tcp(t) => uv::Stdio::Stream(t),
                    _ => {
                        return Err(PyTypeError::new_err(
                            "only TCP and Pipe streams can be inherited",
                        ));
                    }
                },
            };
            opts = opts.stdio(i, how);
        }
        let lh = Handle::uv_loop(r#loop, ErrKind::Process)?;
        let p = uv::Process::spawn(&lh, &opts, move |_, status| {
            let code = status.code().unwrap_or(0);
            let sig = status.signal().unwrap_or(0);
            Python::attach(|py| ctx.fire(py, AUX, |h| Ok((h.clone(), code, sig))))
        })
        .map_err(|e| uv_err(ErrKind::Process, e))?;
        drop(opts);
        drop(io);
        Handle::set_cb(&h, AUX, exit_callback);
        if let Ok(me) = obj.cast::<Process>() {
            me.get().pid.store(p.pid(), Ordering::Relaxed);
        }
        Handle::set_uv(&h, Uv::Process(p));
        Handle::sync_keep(&h);
        Ok(obj.unbind())
    }

    fn kill(slf: &Bound<'_, Self>, signum: i32) -> PyResult<()> {
        Handle::with_uv(base(slf), |u| match u {
            Uv::Process(p) => p.kill(signum),
            _ => Err(uv::Error::ESRCH),
        })
    }

    /// The child's pid; `None` before `spawn`, kept once the handle closed (as pyuv).
    #[getter]
    fn pid(&self) -> Option<i32> {
        Some(self.pid.load(Ordering::Relaxed)).filter(|&p| p != 0)
    }

    /// As `Handle.close`; a `Process` that was never spawned raises `RuntimeError`.
    #[pyo3(signature = (callback = None))]
    fn close(slf: &Bound<'_, Self>, callback: Option<Py<PyAny>>) -> PyResult<()> {
        {
            let st = base(slf).get().st.borrow(slf.py());
            if matches!(st.uv, Uv::None) && !st.closing {
                return Err(PyRuntimeError::new_err(
                    "Object was not initialized, spawn was not called.",
                ));
            }
        }
        Handle::do_close(base(slf), callback)
    }

    #[classmethod]
    fn disable_stdio_inheritance(_cls: &Bound<'_, PyType>) {
        uv::disable_stdio_inheritance();
    }
}
