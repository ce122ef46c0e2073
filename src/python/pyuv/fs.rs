//! `pyuv.fs`: libuv's file-system requests, synchronous when no callback is given (the
//! result returned, `FSError` raised), asynchronous otherwise (an `FSRequest` returned,
//! `callback(req)` with `req.path`, `req.result`, `req.error`).

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use pyo3::{IntoPyObjectExt, PyTraverseError};

use super::errors::{ErrKind, uv_err};
use super::handle::check_callable;
use super::loop_::{Loop, report};
use super::requests::{Pending, Request};
use super::util::ResultType;
use crate::python::gil::GilCell;
use crate::uv::{self, fs};

static STAT: ResultType = ResultType::new(
    "pyuv.fs.stat_result",
    "st_mode st_ino st_dev st_nlink st_uid st_gid st_size st_atime st_mtime st_ctime \
     st_blksize st_blocks st_rdev st_flags st_gen st_birthtime",
);
static DIRENT: ResultType = ResultType::new("pyuv.fs.DirEnt", "name type");
static FLOAT_TIMES: AtomicBool = AtomicBool::new(true);

struct FsRes {
    path: Option<Py<PyAny>>,
    result: Option<Py<PyAny>>,
    error: Option<i32>,
}

/// What an asynchronous `pyuv.fs` call returns.
#[pyclass(module = "pyuv._cpyuv", name = "FSRequest", extends = Request, subclass, frozen)]
pub struct FSRequest {
    res: GilCell<FsRes>,
}

#[pymethods]
impl FSRequest {
    #[getter]
    fn path(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.res.borrow(py).path.as_ref().map(|p| p.clone_ref(py))
    }

    #[getter]
    fn result(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.res.borrow(py).result.as_ref().map(|p| p.clone_ref(py))
    }

    #[getter]
    fn error(&self, py: Python<'_>) -> Option<i32> {
        self.res.borrow(py).error
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let Some(r) = self.res.peek() else {
            return Ok(());
        };
        visit.call(&r.path)?;
        visit.call(&r.result)
    }
}

type Conv<T> = fn(Python<'_>, T) -> PyResult<Py<PyAny>>;

fn none<T>(py: Python<'_>, _: T) -> PyResult<Py<PyAny>> {
    Ok(py.None())
}

fn int<T: for<'py> IntoPyObject<'py>>(py: Python<'_>, v: T) -> PyResult<Py<PyAny>> {
    v.into_py_any(py)
}

fn bytes(py: Python<'_>, v: Vec<u8>) -> PyResult<Py<PyAny>> {
    Ok(PyBytes::new(py, &v).into_any().unbind())
}

fn path_str(py: Python<'_>, p: std::path::PathBuf) -> PyResult<Py<PyAny>> {
    int(py, p.to_string_lossy().into_owned())
}

fn time(py: Python<'_>, t: fs::Timespec) -> Py<PyAny> {
    if FLOAT_TIMES.load(Ordering::Relaxed) {
        (t.sec as f64 + 1e-9 * t.nsec as f64)
            .into_pyobject(py)
            .map(|v| v.into_any().unbind())
    } else {
        t.sec.into_pyobject(py).map(|v| v.into_any().unbind())
    }
    .unwrap_or_else(|_| py.None())
}

/// A `stat_result` named tuple.
pub(crate) fn stat_obj(py: Python<'_>, s: fs::Stat) -> PyResult<Py<PyAny>> {
    let n = |v: u64| {
        v.into_pyobject(py)
            .map(|v| v.into_any().unbind())
            .unwrap_or_else(|_| py.None())
    };
    let v = vec![
        n(s.mode),
        n(s.ino),
        n(s.dev),
        n(s.nlink),
        n(s.uid),
        n(s.gid),
        n(s.size),
        time(py, s.atime),
        time(py, s.mtime),
        time(py, s.ctime),
        n(s.blksize),
        n(s.blocks),
        n(s.rdev),
        n(s.flags),
        n(s.generation),
        time(py, s.birthtime),
    ];
    Ok(STAT.make(py, pyo3::types::PyTuple::new(py, v)?)?.unbind())
}

fn dirents(py: Python<'_>, v: Vec<fs::DirEntry>) -> PyResult<Py<PyAny>> {
    let list = PyList::empty(py);
    for e in v {
        let kind = match e.kind {
            fs::EntryType::Unknown => 0,
            fs::EntryType::File => 1,
            fs::EntryType::Dir => 2,
            fs::EntryType::Link => 3,
            fs::EntryType::Fifo => 4,
            fs::EntryType::Socket => 5,
            fs::EntryType::Char => 6,
            fs::EntryType::Block => 7,
        };
        list.append(DIRENT.make(py, (e.name.to_string_lossy().into_owned(), kind))?)?;
    }
    Ok(list.into_any().unbind())
}

/// Runs `op` now (no callback) or submits it (`callback(req)` when done).
fn go<T: 'static>(
    lp: &Bound<'_, Loop>,
    path: Option<&str>,
    op: fs::FsOp<T>,
    callback: Option<Py<PyAny>>,
    conv: Conv<T>,
) -> PyResult<Py<PyAny>> {
    let py = lp.py();
    let lh = lp.get().uv_handle(py).map_err(|e| uv_err(ErrKind::Fs, e))?;
    let Some(cb) = callback else {
        let v = op.run(&lh).map_err(|e| uv_err(ErrKind::Fs, e))?;
        return conv(py, v);
    };
    check_callable(cb.bind(py))?;
    let res = FsRes {
        path: path
            .map(|p| p.into_pyobject(py).map(|s| s.into_any().unbind()))
            .transpose()?,
        result: None,
        error: None,
    };
    let init = PyClassInitializer::from(Request::new(lp)).add_subclass(FSRequest {
        res: GilCell::new(res),
    });
    let req = Py::new(py, init)?;
    let (req2, lp2) = (req.clone_ref(py), lp.clone().unbind());
    let done = move |r: uv::Result<T>| {
        Python::attach(|py| {
            let req = req2.bind(py);
            Request::finish(req.as_super());
            let (result, error) = match r.map(|v| conv(py, v)) {
                Ok(Ok(v)) => (Some(v), None),
                Ok(Err(e)) => {
                    report(py, lp2.bind(py), e);
                    (None, None)
                }
                Err(e) => (None, Some(e.code())),
            };
            {
                let mut st = req.get().res.borrow_mut(py);
                st.result = result;
                st.error = error;
            }
            if let Err(e) = cb.bind(py).call1((req,)) {
                report(py, lp2.bind(py), e);
            }
        })
    };
    let fr = op.submit(&lh, done).map_err(|e| uv_err(ErrKind::Fs, e))?;
    Request::set_pending(req.bind(py).as_super(), Pending::Fs(fr));
    Ok(req.into_any())
}

macro_rules! fs_fn {
    ($name:ident($($arg:ident: $ty:ty),*) $(path = $p:ident)?, $op:expr, $conv:expr) => {
        #[pyfunction]
        #[pyo3(signature = (r#loop, $($arg),*, callback = None))]
        fn $name(
            r#loop: &Bound<'_, Loop>,
            $($arg: $ty,)*
            callback: Option<Py<PyAny>>,
        ) -> PyResult<Py<PyAny>> {
            #[allow(unused_mut, unused_assignments)]
            let mut path: Option<&str> = None;
            $( path = Some($p); )?
            go(r#loop, path, $op, callback, $conv)
        }
    };
}

fs_fn!(stat(path: &str) path = path, fs::stat(path), stat_obj);
fs_fn!(lstat(path: &str) path = path, fs::lstat(path), stat_obj);
fs_fn!(fstat(fd: i32), fs::fstat(fd), stat_obj);
fs_fn!(unlink(path: &str) path = path, fs::unlink(path), none);
fs_fn!(mkdir(path: &str, mode: i32) path = path, fs::mkdir(path, mode), none);
fs_fn!(rmdir(path: &str) path = path, fs::rmdir(path), none);
fs_fn!(rename(path: &str, new_path: &str) path = path, fs::rename(path, new_path), none);
fs_fn!(chmod(path: &str, mode: i32) path = path, fs::chmod(path, mode), none);
fs_fn!(fchmod(fd: i32, mode: i32), fs::fchmod(fd, mode), none);
fs_fn!(link(path: &str, new_path: &str) path = path, fs::link(path, new_path), none);
fs_fn!(symlink(path: &str, new_path: &str, flags: i32) path = path,
    fs::symlink(path, new_path, flags), none);
fs_fn!(readlink(path: &str) path = path, fs::readlink(path), path_str);
fs_fn!(realpath(path: &str) path = path, fs::realpath(path), path_str);
// A C int as in pyuv, so that -1 ("leave unchanged") is `(uid_t)-1`.
fs_fn!(chown(path: &str, uid: i32, gid: i32) path = path,
    fs::chown(path, uid as u32, gid as u32), none);
fs_fn!(fchown(fd: i32, uid: i32, gid: i32), fs::fchown(fd, uid as u32, gid as u32), none);
fs_fn!(open(path: &str, flags: i32, mode: i32) path = path, fs::open(path, flags, mode), int);
fs_fn!(close(fd: i32), fs::close(fd), none);
fs_fn!(read(fd: i32, length: usize, offset: i64), fs::read(fd, length, offset), bytes);
fs_fn!(fsync(fd: i32), fs::fsync(fd), none);
fs_fn!(fdatasync(fd: i32), fs::fdatasync(fd), none);
fs_fn!(ftruncate(fd: i32, offset: i64), fs::ftruncate(fd, offset), none);
fs_fn!(scandir(path: &str) path = path, fs::scandir(path), dirents);
fs_fn!(sendfile(out_fd: i32, in_fd: i32, in_offset: i64, length: usize),
    fs::sendfile(out_fd, in_fd, in_offset, length), int);
fs_fn!(utime(path: &str, atime: f64, mtime: f64) path = path, fs::utime(path, atime, mtime), none);
fs_fn!(futime(fd: i32, atime: f64, mtime: f64), fs::futime(fd, atime, mtime), none);
fs_fn!(access(path: &str, flags: i32) path = path, fs::access(path, flags), none);

/// `write(loop, fd, write_data, offset, callback=None)`: the count written.
#[pyfunction]
#[pyo3(signature = (r#loop, fd, write_data, offset, callback = None))]
fn write(
    r#loop: &Bound<'_, Loop>,
    fd: i32,
    write_data: &Bound<'_, PyAny>,
    offset: i64,
    callback: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    let data = pyo3::buffer::PyBuffer::<u8>::get(write_data)?.to_vec(r#loop.py())?;
    go(r#loop, None, fs::write(fd, data, offset), callback, int)
}

/// `stat_float_times([newval])`: whether stat times are floats (the default) or ints.
#[pyfunction]
#[pyo3(signature = (newval = None))]
fn stat_float_times(newval: Option<bool>) -> Option<bool> {
    match newval {
        None => Some(FLOAT_TIMES.load(Ordering::Relaxed)),
        Some(v) => {
            FLOAT_TIMES.store(v, Ordering::Relaxed);
            None
        }
    }
}

const CONSTANTS: &[(&str, i32)] = &[
    ("UV_RENAME", 1),
    ("UV_CHANGE", 2),
    ("UV_FS_EVENT_WATCH_ENTRY", 1),
    ("UV_FS_EVENT_STAT", 2),
    ("UV_FS_EVENT_RECURSIVE", 4),
    ("UV_FS_SYMLINK_DIR", 1),
    ("UV_FS_SYMLINK_JUNCTION", 2),
    ("UV_DIRENT_UNKNOWN", 0),
    ("UV_DIRENT_FILE", 1),
    ("UV_DIRENT_DIR", 2),
    ("UV_DIRENT_LINK", 3),
    ("UV_DIRENT_FIFO", 4),
    ("UV_DIRENT_SOCKET", 5),
    ("UV_DIRENT_CHAR", 6),
    ("UV_DIRENT_BLOCK", 7),
];

/// Fills `pyuv.fs`.
pub(crate) fn fs_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    macro_rules! add { ($($f:ident),*) => { $( m.add_function(wrap_pyfunction!($f, m)?)?; )* }; }
    add!(
        stat,
        lstat,
        fstat,
        unlink,
        mkdir,
        rmdir,
        rename,
        chmod,
        fchmod,
        link,
        symlink,
        readlink,
        realpath,
        chown,
        fchown,
        open,
        close,
        read,
        write,
        fsync,
        fdatasync,
        ftruncate,
        scandir,
        sendfile,
        utime,
        futime,
        access,
        stat_float_times
    );
    for (n, v) in CONSTANTS {
        m.add(*n, *v)?;
    }
    m.add_class::<super::fs_watch::FSEvent>()?;
    m.add_class::<super::fs_watch::FSPoll>()?;
    m.add("stat_result", STAT.get(m.py())?)?;
    m.add("DirEnt", DIRENT.get(m.py())?)?;
    Ok(())
}
