//! File-system requests (`uv_fs_*`): each operation is an [`FsOp`], run on libuv's threadpool
//! with a callback on the loop thread ([`FsOp::submit`], cancellable while queued), or at once
//! on the calling thread ([`FsOp::run`], libuv's synchronous form).
//!
//! ```
//! use rsuv::{Loop, RunMode, fs};
//! use std::{cell::RefCell, rc::Rc};
//!
//! let lp = Loop::new()?;
//! let dir = fs::mkdtemp("/tmp/rsuv-doc-XXXXXX").run(&lp)?;
//! let path = dir.join("hello.txt");
//! let fd = fs::open(&path, libc::O_CREAT | libc::O_WRONLY, 0o644).run(&lp)?;
//! assert_eq!(fs::write(fd, b"hello".to_vec(), -1).run(&lp)?, 5);
//! fs::close(fd).run(&lp)?;
//!
//! let size = Rc::new(RefCell::new(None));
//! let s = size.clone();
//! fs::stat(&path).submit(&lp, move |r| *s.borrow_mut() = Some(r.map(|st| st.size)))?;
//! lp.run(RunMode::Default)?;
//! assert_eq!(*size.borrow(), Some(Ok(5)));
//! fs::unlink(&path).run(&lp)?;
//! fs::rmdir(&dir).run(&lp)?;
//! # Ok::<(), rsuv::Error>(())
//! ```

use std::ffi::{CStr, CString, OsString};
use std::os::fd::RawFd;
use std::os::raw::c_int;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::loop_::LoopHandle;
use super::req::{self, Pending, ReqMem, Request};

/// What the completion does with the finished `uv_fs_t`: reads the result out of it (before
/// `uv_fs_req_cleanup` frees what libuv allocated) and returns the typed outcome.
type Convert<T> = Box<dyn FnOnce(*mut uv_fs_t) -> Result<T>>;
/// Starts the operation on `(loop, req, cb)`; `cb` is `None` for the synchronous form.
type Start = Box<dyn FnOnce(*mut uv_loop_t, *mut uv_fs_t, uv_fs_cb) -> c_int>;

/// One file-system operation, ready to run: made by the functions of this module
/// ([`open`], [`read`], [`stat`], ...), then [`submit`](FsOp::submit)ted or
/// [`run`](FsOp::run). It owns what the operation needs (paths, buffers) until it completes.
#[must_use = "an FsOp does nothing until it is submitted or run"]
pub struct FsOp<T> {
    start: Start,
    convert: Convert<T>,
}

/// A submitted [`FsOp`]: cancels it while it is still queued. Dropping it changes nothing.
#[derive(Debug)]
#[doc(alias = "uv_fs_t")]
pub struct FsRequest(Pending);

impl FsRequest {
    /// Cancels the operation if no threadpool thread has picked it up; its callback then runs
    /// with `Err(Error::ECANCELED)`. `EBUSY` once it has started, `CLOSED` once complete.
    pub fn cancel(&self) -> Result<()> {
        self.0.cancel()
    }

    /// Whether the callback has not started yet.
    pub fn is_pending(&self) -> bool {
        self.0.is_pending()
    }
}

/// [`copyfile`]: fail if the destination exists.
pub const COPYFILE_EXCL: i32 = UV_FS_COPYFILE_EXCL as i32;
/// [`copyfile`]: try a copy-on-write clone first.
pub const COPYFILE_FICLONE: i32 = UV_FS_COPYFILE_FICLONE as i32;
/// [`copyfile`]: a copy-on-write clone or an error.
pub const COPYFILE_FICLONE_FORCE: i32 = UV_FS_COPYFILE_FICLONE_FORCE as i32;

/// The state riding in the request: the typed completion, erased.
struct FsState(Box<dyn FnOnce(*mut uv_fs_t) -> Box<dyn FnOnce()>>);

unsafe extern "C" fn on_fs(raw: *mut uv_fs_t) {
    // SAFETY: `raw` was submitted by `FsOp::submit` with an `FsState`; this is its completion.
    let req = unsafe { Request::<FsState, uv_fs_t>::complete(raw.cast()) };
    let Some(mut req) = req else { return };
    // The result is read out of the request before libuv's allocations of it are freed.
    let convert = std::mem::replace(&mut req.state, FsState(Box::new(|_| Box::new(|| ()))));
    let deliver = (convert.0)(raw);
    // SAFETY: the request is complete and its result read; this frees libuv's part of it.
    unsafe { uv_fs_req_cleanup(raw) };
    req.finish(|_| deliver());
}

impl<T: 'static> FsOp<T> {
    fn new(
        start: impl FnOnce(*mut uv_loop_t, *mut uv_fs_t, uv_fs_cb) -> c_int + 'static,
        convert: impl FnOnce(*mut uv_fs_t) -> Result<T> + 'static,
    ) -> Self {
        FsOp {
            start: Box::new(start),
            convert: Box::new(convert),
        }
    }

    /// The same operation, its outcome passed through `f`.
    pub fn map<U: 'static>(self, f: impl FnOnce(T) -> U + 'static) -> FsOp<U> {
        let FsOp { start, convert } = self;
        FsOp {
            start,
            convert: Box::new(move |raw| convert(raw).map(f)),
        }
    }

    /// Runs the operation on libuv's threadpool; `done` gets its outcome on the loop thread,
    /// during [`Loop::run`](crate::Loop::run) (or `Err(ECANCELED)` after
    /// [`FsRequest::cancel`]).
    ///
    /// # Errors
    ///
    /// What libuv refuses at once (`CLOSED` for a closed loop, `EINVAL`, ...); `done` is then
    /// dropped uncalled.
    pub fn submit(
        self,
        lp: &LoopHandle,
        done: impl FnOnce(Result<T>) + 'static,
    ) -> Result<FsRequest> {
        let FsOp { start, convert } = self;
        let state = FsState(Box::new(move |raw| {
            let r = result_of(raw).and_then(|_| convert(raw));
            Box::new(move || done(r))
        }));
        let go = move |l, raw: *mut uv_req_t| start(l, raw.cast(), Some(on_fs));
        req::submit::<_, uv_fs_t>(lp, state, go).map(FsRequest)
    }

    /// Runs the operation now, on this thread (libuv's synchronous form: no callback, the
    /// loop need not run).
    ///
    /// # Errors
    ///
    /// The operation's error (`ENOENT`, `EACCES`, ...), or `CLOSED` for a closed loop.
    pub fn run(self, lp: &LoopHandle) -> Result<T> {
        let loop_raw = lp.0.raw()?;
        let mem = ReqMem::new(uv_req_type_UV_FS);
        let raw = mem.raw_ptr().cast::<uv_fs_t>();
        let FsOp { start, convert } = self;
        let rc = start(loop_raw, raw, None);
        let r = if rc < 0 { check(rc).map(drop) } else { Ok(()) }
            .and_then(|()| result_of(raw))
            .and_then(|_| convert(raw));
        // SAFETY: the synchronous call has finished; this frees what libuv allocated for it.
        unsafe { uv_fs_req_cleanup(raw) };
        drop(mem);
        r
    }
}

/// The request's `result` (an error code when negative).
fn result_of(raw: *mut uv_fs_t) -> Result<isize> {
    // SAFETY: `raw` is a finished fs request.
    let r = unsafe { uv_fs_get_result(raw) };
    check(r.min(0) as c_int)?;
    Ok(r)
}

fn c_path(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::EINVAL)
}

/// A path or `EINVAL` (a NUL inside), checked when the operation is made and reported when it
/// runs.
fn paths<const N: usize>(ps: [&Path; N]) -> Result<[CString; N]> {
    let mut out: [CString; N] = std::array::from_fn(|_| CString::default());
    for (o, p) in out.iter_mut().zip(ps) {
        *o = c_path(p)?;
    }
    Ok(out)
}

/// An operation that fails with `e` when run (a bad argument found while making it).
fn refused<T: 'static>(e: Error) -> FsOp<T> {
    FsOp::new(
        move |_, _, _| e.code(),
        |_| unreachable!("refused before start"),
    )
}

fn unit(_: *mut uv_fs_t) -> Result<()> {
    Ok(())
}

fn count(raw: *mut uv_fs_t) -> Result<usize> {
    result_of(raw).map(|n| n as usize)
}

/// A C string libuv returned in `ptr` (readlink, realpath).
fn ptr_path(raw: *mut uv_fs_t) -> Result<PathBuf> {
    // SAFETY: for readlink/realpath a successful request's `ptr` is a NUL-terminated string
    // owned by the request until cleanup.
    let s = unsafe { CStr::from_ptr(uv_fs_get_ptr(raw).cast()) };
    Ok(PathBuf::from(OsString::from_vec(s.to_bytes().to_vec())))
}

macro_rules! path_op {
    ($(#[$m:meta])* $name:ident($($arg:ident: $ty:ty),*) => $uv:ident($($pass:expr),*)) => {
        $(#[$m])*
        pub fn $name(path: impl AsRef<Path> $(, $arg: $ty)*) -> FsOp<()> {
            match paths([path.as_ref()]) {
                Ok([p]) => FsOp::new(move |l, r, cb| {
 // SAFETY: `l` is the loop and `r` a fresh `uv_fs_t`; what the call reads (paths, buffers) is owned by this op until it completes, and libuv copies paths for the async form.
 unsafe { $uv(l, r, p.as_ptr() $(, $pass)*, cb) } }, unit),
                Err(e) => refused(e),
            }
        }
    };
}

macro_rules! two_path_op {
    ($(#[$m:meta])* $name:ident($($arg:ident: $ty:ty),*) => $uv:ident($($pass:expr),*)) => {
        $(#[$m])*
        pub fn $name(from: impl AsRef<Path>, to: impl AsRef<Path> $(, $arg: $ty)*) -> FsOp<()> {
            match paths([from.as_ref(), to.as_ref()]) {
                Ok([a, b]) => FsOp::new(
                    move |l, r, cb| {
 // SAFETY: `l` is the loop and `r` a fresh `uv_fs_t`; what the call reads (paths, buffers) is owned by this op until it completes, and libuv copies paths for the async form.
 unsafe { $uv(l, r, a.as_ptr(), b.as_ptr() $(, $pass)*, cb) } },
                    unit,
                ),
                Err(e) => refused(e),
            }
        }
    };
}

macro_rules! fd_op {
    ($(#[$m:meta])* $name:ident($($arg:ident: $ty:ty),*) => $uv:ident($($pass:expr),*)) => {
        $(#[$m])*
        pub fn $name(fd: RawFd $(, $arg: $ty)*) -> FsOp<()> {
            FsOp::new(move |l, r, cb| {
 // SAFETY: `l` is the loop and `r` a fresh `uv_fs_t`; what the call reads (paths, buffers) is owned by this op until it completes, and libuv copies paths for the async form.
 unsafe { $uv(l, r, fd $(, $pass)*, cb) } }, unit)
        }
    };
}

/// `open(2)`: the new descriptor (`flags` and `mode` as for `libc::open`).
pub fn open(path: impl AsRef<Path>, flags: i32, mode: i32) -> FsOp<RawFd> {
    match paths([path.as_ref()]) {
        Ok([p]) => FsOp::new(
            move |l, r, cb| {
                // SAFETY: `l` is the loop and `r` a fresh `uv_fs_t`; what the call reads (paths, buffers) is owned by this op until it completes, and libuv copies paths for the async form.
                unsafe { uv_fs_open(l, r, p.as_ptr(), flags, mode, cb) }
            },
            |raw| result_of(raw).map(|fd| fd as RawFd),
        ),
        Err(e) => refused(e),
    }
}

fd_op!(
    /// `close(2)`.
    close() => uv_fs_close()
);
fd_op!(
    /// `fsync(2)`.
    fsync() => uv_fs_fsync()
);
fd_op!(
    /// `fdatasync(2)`.
    fdatasync() => uv_fs_fdatasync()
);
fd_op!(
    /// `ftruncate(2)` to `len` bytes.
    ftruncate(len: i64) => uv_fs_ftruncate(len)
);
fd_op!(
    /// `fchmod(2)`.
    fchmod(mode: i32) => uv_fs_fchmod(mode)
);
fd_op!(
    /// `fchown(2)`.
    fchown(uid: u32, gid: u32) => uv_fs_fchown(uid as uv_uid_t, gid as uv_gid_t)
);
fd_op!(
    /// `futimens`: access and modification times in seconds since the epoch.
    futime(atime: f64, mtime: f64) => uv_fs_futime(atime, mtime)
);

path_op!(
    /// `unlink(2)`.
    unlink() => uv_fs_unlink()
);
path_op!(
    /// `mkdir(2)` with `mode`.
    mkdir(mode: i32) => uv_fs_mkdir(mode)
);
path_op!(
    /// `rmdir(2)`.
    rmdir() => uv_fs_rmdir()
);
path_op!(
    /// `chmod(2)`.
    chmod(mode: i32) => uv_fs_chmod(mode)
);
path_op!(
    /// `chown(2)`.
    chown(uid: u32, gid: u32) => uv_fs_chown(uid as uv_uid_t, gid as uv_gid_t)
);
path_op!(
    /// `utimensat`: access and modification times in seconds since the epoch.
    utime(atime: f64, mtime: f64) => uv_fs_utime(atime, mtime)
);
path_op!(
    /// `access(2)` with `mode` (`libc::F_OK`, `R_OK`, ...).
    access(mode: i32) => uv_fs_access(mode)
);
two_path_op!(
    /// `rename(2)`.
    rename() => uv_fs_rename()
);
two_path_op!(
    /// `link(2)`: a hard link `to` naming `from`.
    link() => uv_fs_link()
);
two_path_op!(
    /// `symlink(2)`: a symbolic link `to` pointing at `from` (`flags`: 0 on Unix).
    symlink(flags: i32) => uv_fs_symlink(flags)
);
two_path_op!(
    /// Copies a file (`flags`: 0, or [`COPYFILE_EXCL`], [`COPYFILE_FICLONE`], [`COPYFILE_FICLONE_FORCE`]).
    copyfile(flags: i32) => uv_fs_copyfile(flags)
);

/// `pread(2)` of up to `len` bytes at `offset` (-1: the file position): the bytes read.
pub fn read(fd: RawFd, len: usize, offset: i64) -> FsOp<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let base = buf.as_mut_ptr();
    FsOp::new(
        move |l, r, cb| {
            // SAFETY: `base..base + len` is the heap buffer the conversion below keeps (moving
            // the Vec does not move its memory); libuv copies the `uv_buf_t` array itself.
            unsafe {
                let b = uv_buf_init(base.cast(), len as u32);
                uv_fs_read(l, r, fd, &b, 1, offset, cb)
            }
        },
        move |raw| {
            let n = count(raw)?;
            buf.truncate(n);
            Ok(buf)
        },
    )
}

/// `pwrite(2)` of `data` at `offset` (-1: the file position): the bytes written.
pub fn write(fd: RawFd, data: Vec<u8>, offset: i64) -> FsOp<usize> {
    write_from(fd, data, 0, offset).map(|(n, _)| n)
}

/// `pwrite(2)` of `data[skip..]` at `offset`: the bytes written, and `data` back (to write
/// the rest of a short write from).
pub fn write_from(fd: RawFd, data: Vec<u8>, skip: usize, offset: i64) -> FsOp<(usize, Vec<u8>)> {
    let skip = skip.min(data.len());
    // SAFETY: `skip <= len`, inside the buffer.
    let (base, len) = (unsafe { data.as_ptr().add(skip) }, data.len() - skip);
    FsOp::new(
        move |l, r, cb| {
            // SAFETY: `data`'s heap memory is kept by the conversion closure until completion.
            unsafe {
                let b = uv_buf_init(base as *mut _, len as u32);
                uv_fs_write(l, r, fd, &b, 1, offset, cb)
            }
        },
        move |raw| Ok((count(raw)?, data)),
    )
}

/// `sendfile(2)`: up to `len` bytes from `in_fd` at `offset` to `out_fd`; the bytes sent.
pub fn sendfile(out_fd: RawFd, in_fd: RawFd, offset: i64, len: usize) -> FsOp<usize> {
    FsOp::new(
        move |l, r, cb| {
            // SAFETY: `l` is the loop and `r` a fresh `uv_fs_t`; what the call reads (paths, buffers) is owned by this op until it completes, and libuv copies paths for the async form.
            unsafe { uv_fs_sendfile(l, r, out_fd, in_fd, offset, len, cb) }
        },
        count,
    )
}

/// Seconds and nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timespec {
    /// Whole seconds.
    pub sec: i64,
    /// Nanoseconds past `sec`.
    pub nsec: i64,
}

/// What `stat(2)` says of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Stat {
    /// Device.
    pub dev: u64,
    /// Type and permission bits (`st_mode`).
    pub mode: u64,
    /// Hard links.
    pub nlink: u64,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Device, for a special file.
    pub rdev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Preferred I/O block size.
    pub blksize: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// BSD file flags (0 on Linux).
    pub flags: u64,
    /// Generation number (0 on Linux).
    pub generation: u64,
    /// Last access.
    pub atime: Timespec,
    /// Last modification.
    pub mtime: Timespec,
    /// Last status change.
    pub ctime: Timespec,
    /// Creation, where the system records it.
    pub birthtime: Timespec,
}

impl Stat {
    /// The file type bits are a directory's.
    pub fn is_dir(&self) -> bool {
        (self.mode as u32 & libc::S_IFMT) == libc::S_IFDIR
    }
    /// The file type bits are a regular file's.
    pub fn is_file(&self) -> bool {
        (self.mode as u32 & libc::S_IFMT) == libc::S_IFREG
    }
}

fn ts(t: uv_timespec_t) -> Timespec {
    Timespec {
        sec: t.tv_sec,
        nsec: t.tv_nsec,
    }
}

fn stat_of(raw: *mut uv_fs_t) -> Result<Stat> {
    // SAFETY: a successful stat request's `statbuf` is filled in.
    Ok(stat_from(unsafe { &*uv_fs_get_statbuf(raw) }))
}

/// A `Stat` from libuv's `uv_stat_t` (also what `FsPoll` reports).
pub(crate) fn stat_from(s: &uv_stat_t) -> Stat {
    Stat {
        dev: s.st_dev,
        mode: s.st_mode,
        nlink: s.st_nlink,
        uid: s.st_uid,
        gid: s.st_gid,
        rdev: s.st_rdev,
        ino: s.st_ino,
        size: s.st_size,
        blksize: s.st_blksize,
        blocks: s.st_blocks,
        flags: s.st_flags,
        generation: s.st_gen,
        atime: ts(s.st_atim),
        mtime: ts(s.st_mtim),
        ctime: ts(s.st_ctim),
        birthtime: ts(s.st_birthtim),
    }
}

/// `stat(2)`.
pub fn stat(path: impl AsRef<Path>) -> FsOp<Stat> {
    match paths([path.as_ref()]) {
        Ok([p]) => FsOp::new(
            move |l, r, cb| {
                // SAFETY: `l` is the loop and `r` a fresh `uv_fs_t`; what the call reads (paths, buffers) is owned by this op until it completes, and libuv copies paths for the async form.
                unsafe { uv_fs_stat(l, r, p.as_ptr(), cb) }
            },
            stat_of,
        ),
        Err(e) => refused(e),
    }
}

/// `lstat(2)`: a symbolic link's own metadata.
pub fn lstat(path: impl AsRef<Path>) -> FsOp<Stat> {
    match paths([path.as_ref()]) {
        Ok([p]) => FsOp::new(
            move |l, r, cb| {
                // SAFETY: `l` is the loop and `r` a fresh `uv_fs_t`; what the call reads (paths, buffers) is owned by this op until it completes, and libuv copies paths for the async form.
                unsafe { uv_fs_lstat(l, r, p.as_ptr(), cb) }
            },
            stat_of,
        ),
        Err(e) => refused(e),
    }
}

/// `fstat(2)`.
pub fn fstat(fd: RawFd) -> FsOp<Stat> {
    FsOp::new(
        move |l, r, cb| {
            // SAFETY: `l` is the loop and `r` a fresh `uv_fs_t`; what the call reads (paths, buffers) is owned by this op until it completes, and libuv copies paths for the async form.
            unsafe { uv_fs_fstat(l, r, fd, cb) }
        },
        stat_of,
    )
}

/// `readlink(2)`: where a symbolic link points.
pub fn readlink(path: impl AsRef<Path>) -> FsOp<PathBuf> {
    match paths([path.as_ref()]) {
        Ok([p]) => FsOp::new(
            move |l, r, cb| {
                // SAFETY: `l` is the loop and `r` a fresh `uv_fs_t`; what the call reads (paths, buffers) is owned by this op until it completes, and libuv copies paths for the async form.
                unsafe { uv_fs_readlink(l, r, p.as_ptr(), cb) }
            },
            ptr_path,
        ),
        Err(e) => refused(e),
    }
}

/// `realpath(3)`: the canonical absolute path.
pub fn realpath(path: impl AsRef<Path>) -> FsOp<PathBuf> {
    match paths([path.as_ref()]) {
        Ok([p]) => FsOp::new(
            move |l, r, cb| {
                // SAFETY: `l` is the loop and `r` a fresh `uv_fs_t`; what the call reads (paths, buffers) is owned by this op until it completes, and libuv copies paths for the async form.
                unsafe { uv_fs_realpath(l, r, p.as_ptr(), cb) }
            },
            ptr_path,
        ),
        Err(e) => refused(e),
    }
}

/// `mkdtemp(3)`: a new directory from `template` (ending in `XXXXXX`); its path.
pub fn mkdtemp(template: impl AsRef<Path>) -> FsOp<PathBuf> {
    match paths([template.as_ref()]) {
        Ok([p]) => FsOp::new(
            move |l, r, cb| {
                // SAFETY: `l` is the loop and `r` a fresh `uv_fs_t`; what the call reads (paths, buffers) is owned by this op until it completes, and libuv copies paths for the async form.
                unsafe { uv_fs_mkdtemp(l, r, p.as_ptr(), cb) }
            },
            |raw| {
                // SAFETY: a successful mkdtemp leaves the new path in the request's `path`.
                let s = unsafe { CStr::from_ptr(uv_fs_get_path(raw)) };
                Ok(PathBuf::from(OsString::from_vec(s.to_bytes().to_vec())))
            },
        ),
        Err(e) => refused(e),
    }
}

/// The kind of a directory entry, as `scandir` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryType {
    /// The system did not say.
    Unknown,
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Link,
    /// A FIFO.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character device.
    Char,
    /// A block device.
    Block,
}

/// One entry of a directory: its name (not a path) and kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name (not a path).
    pub name: OsString,
    /// What it is.
    pub kind: EntryType,
}

fn entry_type(t: uv_dirent_type_t) -> EntryType {
    #[allow(non_upper_case_globals)]
    match t {
        uv_dirent_type_t_UV_DIRENT_FILE => EntryType::File,
        uv_dirent_type_t_UV_DIRENT_DIR => EntryType::Dir,
        uv_dirent_type_t_UV_DIRENT_LINK => EntryType::Link,
        uv_dirent_type_t_UV_DIRENT_FIFO => EntryType::Fifo,
        uv_dirent_type_t_UV_DIRENT_SOCKET => EntryType::Socket,
        uv_dirent_type_t_UV_DIRENT_CHAR => EntryType::Char,
        uv_dirent_type_t_UV_DIRENT_BLOCK => EntryType::Block,
        _ => EntryType::Unknown,
    }
}

/// The entries of a directory (`.` and `..` left out), in the order libuv gives them.
pub fn scandir(path: impl AsRef<Path>) -> FsOp<Vec<DirEntry>> {
    match paths([path.as_ref()]) {
        Ok([p]) => FsOp::new(
            move |l, r, cb| {
                // SAFETY: `l` is the loop and `r` a fresh `uv_fs_t`; what the call reads (paths, buffers) is owned by this op until it completes, and libuv copies paths for the async form.
                unsafe { uv_fs_scandir(l, r, p.as_ptr(), 0, cb) }
            },
            |raw| {
                let mut out = Vec::new();
                loop {
                    let mut ent = uv_dirent_t {
                        name: std::ptr::null(),
                        type_: uv_dirent_type_t_UV_DIRENT_UNKNOWN,
                    };
                    // SAFETY: a successful scandir request; `ent` receives a name owned by
                    // the request until cleanup, copied out at once.
                    let rc = unsafe { uv_fs_scandir_next(raw, &mut ent) };
                    if rc == Error::EOF.code() {
                        return Ok(out);
                    }
                    check(rc)?;
                    // SAFETY: as above: a NUL-terminated name.
                    let name = unsafe { CStr::from_ptr(ent.name) };
                    out.push(DirEntry {
                        name: OsString::from_vec(name.to_bytes().to_vec()),
                        kind: entry_type(ent.type_),
                    });
                }
            },
        ),
        Err(e) => refused(e),
    }
}
