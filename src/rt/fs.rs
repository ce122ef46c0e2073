//! Files and directories, asynchronously, in the spirit of `tokio::fs`: each call is one of
//! libuv's file-system requests ([`crate::fs`]) on its threadpool, awaited on the loop; a
//! [`File`] is `AsyncRead + AsyncWrite + AsyncSeek`.
//!
//! ```
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//! use rsuv::rt::{block_on, fs};
//!
//! block_on(async {
//!     let dir = fs::mkdtemp(std::env::temp_dir().join("rsuv-rtfs-XXXXXX")).await?;
//!     let path = dir.join("notes.txt");
//!     let mut f = fs::File::create(&path).await?;
//!     f.write_all(b"line one\nline two\n").await?;
//!     f.close().await?;
//!     assert_eq!(fs::read_to_string(&path).await?, "line one\nline two\n");
//!     let mut f = fs::File::open(&path).await?;
//!     let mut first = [0u8; 8];
//!     f.read_exact(&mut first).await?;
//!     assert_eq!(&first, b"line one");
//!     fs::remove_file(&path).await?;
//!     fs::remove_dir(&dir).await
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::cell::Cell;
use std::future::Future;
use std::io::{self, SeekFrom};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use futures::channel::oneshot;
use futures::io::{AsyncRead, AsyncSeek, AsyncWrite};

use crate::uv::fs::{self as uvfs, DirEntry, FsOp, FsRequest, Stat};
use crate::uv::{Error, Result as UvResult};

use super::executor::current;

pub use crate::uv::fs::{COPYFILE_EXCL, EntryType};

/// Cancels a request still queued when its future is dropped.
struct CancelOnDrop(FsRequest);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let _ = self.0.cancel(); // EBUSY (running) or CLOSED (done): nothing to do
    }
}

/// An operation in flight: its result arrives on `rx`.
struct InFlight<T> {
    rx: oneshot::Receiver<UvResult<T>>,
    _cancel: CancelOnDrop,
}

impl<T: 'static> InFlight<T> {
    fn start(op: FsOp<T>) -> io::Result<Self> {
        let ex = current().expect("rsuv::rt::fs used outside block_on");
        let (tx, rx) = oneshot::channel();
        let req = op.submit(&ex.lp, move |r| {
            let _ = tx.send(r);
        })?;
        Ok(InFlight {
            rx,
            _cancel: CancelOnDrop(req),
        })
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let r = ready!(Pin::new(&mut self.rx).poll(cx));
        Poll::Ready(r.unwrap_or(Err(Error::ECANCELED)).map_err(io::Error::from))
    }
}

/// Runs `op` on the threadpool and waits for it.
///
/// # Cancel safety
///
/// Dropping the future cancels the request if no pool thread has started it; one already
/// running finishes (its effect on the file system happens) and its result is dropped.
pub async fn run<T: 'static>(op: FsOp<T>) -> io::Result<T> {
    let mut f = InFlight::start(op)?;
    futures::future::poll_fn(|cx| f.poll(cx)).await
}

/// The whole contents of a file.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let mut f = File::open(path).await?;
    let mut out = Vec::new();
    futures::io::AsyncReadExt::read_to_end(&mut f, &mut out).await?;
    f.close_now().await?;
    Ok(out)
}

/// The whole contents of a file, which must be UTF-8 (`InvalidData` otherwise).
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path).await?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Creates or truncates `path` and writes `contents` to it.
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let mut f = File::create(path).await?;
    futures::io::AsyncWriteExt::write_all(&mut f, contents.as_ref()).await?;
    futures::io::AsyncWriteExt::close(&mut f).await
}

/// `mkdir` (mode 0o777 before the umask).
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    run(uvfs::mkdir(path, 0o777)).await
}

/// `mkdir -p`: every missing parent too; an existing directory is fine.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let mut missing = Vec::new();
    let mut p = Some(path);
    while let Some(dir) = p {
        match metadata(dir).await {
            Ok(st) if st.is_dir() => break,
            Ok(_) => return Err(io::Error::from(Error::EEXIST)),
            Err(_) => missing.push(dir.to_path_buf()),
        }
        p = dir.parent().filter(|d| !d.as_os_str().is_empty());
    }
    for dir in missing.into_iter().rev() {
        match run(uvfs::mkdir(&dir, 0o777)).await {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            r => r?,
        }
    }
    Ok(())
}

/// A new directory from `template` (ending in `XXXXXX`).
pub async fn mkdtemp(template: impl AsRef<Path>) -> io::Result<PathBuf> {
    run(uvfs::mkdtemp(template)).await
}

/// `unlink`.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    run(uvfs::unlink(path)).await
}

/// `rmdir` (the directory must be empty).
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    run(uvfs::rmdir(path)).await
}

/// `rename`.
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    run(uvfs::rename(from, to)).await
}

/// Copies a file's contents (libuv's `copyfile`: `copy_file_range`/`sendfile` where it can).
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    run(uvfs::copyfile(from, to, 0)).await
}

/// A hard link `to` naming `from`.
pub async fn hard_link(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    run(uvfs::link(from, to)).await
}

/// A symbolic link `link` pointing at `target`.
pub async fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    run(uvfs::symlink(target, link, 0)).await
}

/// `stat`.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Stat> {
    run(uvfs::stat(path)).await
}

/// `lstat`: a symbolic link's own metadata.
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Stat> {
    run(uvfs::lstat(path)).await
}

/// Where a symbolic link points.
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    run(uvfs::readlink(path)).await
}

/// The canonical absolute path.
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    run(uvfs::realpath(path)).await
}

/// `chmod`.
pub async fn set_permissions(path: impl AsRef<Path>, mode: u32) -> io::Result<()> {
    run(uvfs::chmod(path, mode as i32)).await
}

/// The entries of a directory (names and kinds; `.` and `..` left out).
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<Vec<DirEntry>> {
    run(uvfs::scandir(path)).await
}

/// What a `File` is doing on the threadpool.
enum Busy {
    Idle,
    Reading(InFlight<Vec<u8>>),
    /// A write accepted from the caller, still going out (`done` of `data.len()` written).
    Writing {
        op: InFlight<(usize, Vec<u8>)>,
        done: usize,
        at: u64,
    },
    Other(InFlight<u64>),
}

/// An open file, read and written through libuv's threadpool (positioned reads and writes at
/// the file's own offset, which this value tracks). `AsyncWrite::poll_write` takes the bytes
/// at once and writes them in the background (as `tokio::fs::File` does): `flush` or `close`
/// waits for them and reports a write's error. Dropping a `File` closes its descriptor once
/// no request uses it any more.
pub struct File {
    fd: Rc<Cell<RawFd>>,
    pos: u64,
    busy: Busy,
    /// Bytes a read brought beyond what the caller's buffer took.
    leftover: Vec<u8>,
    /// A background write's error, reported by the next call.
    error: Option<io::Error>,
}

const MAX_READ: usize = 256 * 1024;

impl File {
    /// Opens `path` with `open(2)` flags and mode.
    pub async fn open_with(path: impl AsRef<Path>, flags: i32, mode: i32) -> io::Result<File> {
        let fd = run(uvfs::open(path, flags | libc::O_CLOEXEC, mode)).await?;
        Ok(File {
            fd: Rc::new(Cell::new(fd)),
            pos: 0,
            busy: Busy::Idle,
            leftover: Vec::new(),
            error: None,
        })
    }

    /// Opens `path` for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        File::open_with(path, libc::O_RDONLY, 0).await
    }

    /// Creates (or truncates) `path` for writing, mode 0o666 before the umask.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        File::open_with(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o666).await
    }

    /// The descriptor (-1 once closed).
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.get()
    }

    fn fd(&self) -> io::Result<RawFd> {
        match self.fd.get() {
            -1 => Err(io::Error::from(Error::EBADF)),
            fd => Ok(fd),
        }
    }

    /// Waits for a background write (and reports its error).
    fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.busy {
                Busy::Idle => break,
                Busy::Reading(_) | Busy::Other(_) => break,
                Busy::Writing { op, done, at } => {
                    let r = ready!(op.poll(cx));
                    match r {
                        Ok((n, data)) if *done + n < data.len() && n > 0 => {
                            // A short write: the rest goes from where it stopped.
                            let (skip, at2) = (*done + n, *at + n as u64);
                            let next = uvfs::write_from(self.fd()?, data, skip, at2 as i64);
                            self.busy = Busy::Writing {
                                op: InFlight::start(next)?,
                                done: skip,
                                at: at2,
                            };
                        }
                        Ok((0, data)) if !data.is_empty() => {
                            self.busy = Busy::Idle;
                            self.error = Some(io::Error::from(io::ErrorKind::WriteZero));
                        }
                        Ok(_) => self.busy = Busy::Idle,
                        Err(e) => {
                            self.busy = Busy::Idle;
                            self.error = Some(e);
                        }
                    }
                }
            }
        }
        match self.error.take() {
            Some(e) => Poll::Ready(Err(e)),
            None => Poll::Ready(Ok(())),
        }
    }

    /// `fsync`: data and metadata on disk (after any background write).
    pub async fn sync_all(&mut self) -> io::Result<()> {
        futures::future::poll_fn(|cx| self.poll_settle(cx)).await?;
        run(uvfs::fsync(self.fd()?)).await
    }

    /// `ftruncate` to `len` bytes (after any background write).
    pub async fn set_len(&mut self, len: u64) -> io::Result<()> {
        futures::future::poll_fn(|cx| self.poll_settle(cx)).await?;
        run(uvfs::ftruncate(self.fd()?, len as i64)).await
    }

    /// `fstat` (after any background write).
    pub async fn metadata(&mut self) -> io::Result<Stat> {
        futures::future::poll_fn(|cx| self.poll_settle(cx)).await?;
        run(uvfs::fstat(self.fd()?)).await
    }

    /// Waits for what is in flight, then closes the descriptor; errors of either come back.
    async fn close_now(&mut self) -> io::Result<()> {
        let settled = futures::future::poll_fn(|cx| self.poll_settle(cx)).await;
        if let Busy::Reading(r) = std::mem::replace(&mut self.busy, Busy::Idle) {
            let mut r = r;
            let _ = futures::future::poll_fn(|cx| r.poll(cx)).await;
        }
        let fd = self.fd.replace(-1);
        if fd >= 0 {
            run(uvfs::close(fd)).await?;
        }
        settled
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let fd = self.fd.replace(-1);
        if fd < 0 {
            return;
        }
        let Some(ex) = current() else {
            // SAFETY: `fd` is ours; nothing can use it once this value is gone and no loop runs.
            unsafe { libc::close(fd) };
            return;
        };
        // A request still using `fd` on a pool thread must finish before the close: the pool
        // runs requests in parallel, so a close queued now could overtake it (and the number be
        // reused by then). With one in flight, a task waits for it, then closes.
        match std::mem::replace(&mut self.busy, Busy::Idle) {
            Busy::Idle => {
                let _ = uvfs::close(fd).submit(&ex.lp, |_| {});
            }
            busy => {
                // Keep the in-flight request's receiver alive in a task that closes after it.
                let lp = ex.lp.clone();
                let mut busy = busy;
                super::spawn_local(async move {
                    futures::future::poll_fn(|cx| match &mut busy {
                        Busy::Reading(r) => r.poll(cx).map(drop),
                        Busy::Writing { op, .. } => op.poll(cx).map(drop),
                        Busy::Other(o) => o.poll(cx).map(drop),
                        Busy::Idle => Poll::Ready(()),
                    })
                    .await;
                    let _ = uvfs::close(fd).submit(&lp, |_| {});
                })
                .detach();
            }
        }
    }
}

impl AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.leftover.is_empty() {
            let n = buf.len().min(this.leftover.len());
            buf[..n].copy_from_slice(&this.leftover[..n]);
            this.leftover.drain(..n);
            return Poll::Ready(Ok(n));
        }
        ready!(this.poll_settle(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if !matches!(this.busy, Busy::Reading(_)) {
            let op = uvfs::read(this.fd()?, buf.len().min(MAX_READ), this.pos as i64);
            this.busy = Busy::Reading(InFlight::start(op)?);
        }
        let Busy::Reading(r) = &mut this.busy else {
            unreachable!()
        };
        let data = ready!(r.poll(cx));
        this.busy = Busy::Idle;
        let data = data?;
        this.pos += data.len() as u64;
        let n = buf.len().min(data.len());
        buf[..n].copy_from_slice(&data[..n]);
        this.leftover.extend_from_slice(&data[n..]);
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_settle(cx))?;
        if let Busy::Reading(_) | Busy::Other(_) = this.busy {
            // A read or seek in flight (its future was dropped mid-way): let it finish first.
            let r = match &mut this.busy {
                Busy::Reading(r) => r.poll(cx).map(|r| r.map(drop)),
                Busy::Other(o) => o.poll(cx).map(|r| r.map(drop)),
                _ => unreachable!(),
            };
            ready!(r).ok();
            this.busy = Busy::Idle;
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        this.leftover.clear();
        let at = this.pos;
        let op = uvfs::write_from(this.fd()?, buf.to_vec(), 0, at as i64);
        this.busy = Busy::Writing {
            op: InFlight::start(op)?,
            done: 0,
            at,
        };
        this.pos += buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_settle(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_settle(cx))?;
        let fd = this.fd.get();
        if fd < 0 {
            return Poll::Ready(Ok(()));
        }
        if !matches!(this.busy, Busy::Other(_)) {
            let op = uvfs::close(fd).map(|()| 0u64);
            this.busy = Busy::Other(InFlight::start(op)?);
        }
        let Busy::Other(o) = &mut this.busy else {
            unreachable!()
        };
        let r = ready!(o.poll(cx));
        this.busy = Busy::Idle;
        this.fd.set(-1);
        Poll::Ready(r.map(drop))
    }
}

impl AsyncSeek for File {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        ready!(this.poll_settle(cx))?;
        let base = match pos {
            SeekFrom::Start(n) => {
                this.leftover.clear();
                this.pos = n;
                return Poll::Ready(Ok(n));
            }
            SeekFrom::Current(d) => Some(this.pos as i64 - this.leftover.len() as i64 + d),
            SeekFrom::End(_) => None,
        };
        let target = match (base, pos) {
            (Some(t), _) => t,
            (None, SeekFrom::End(d)) => {
                if !matches!(this.busy, Busy::Other(_)) {
                    let op = uvfs::fstat(this.fd()?).map(|st| st.size);
                    this.busy = Busy::Other(InFlight::start(op)?);
                }
                let Busy::Other(o) = &mut this.busy else {
                    unreachable!()
                };
                let size = ready!(o.poll(cx));
                this.busy = Busy::Idle;
                size? as i64 + d
            }
            _ => unreachable!(),
        };
        if target < 0 {
            return Poll::Ready(Err(io::Error::from(Error::EINVAL)));
        }
        this.leftover.clear();
        this.pos = target as u64;
        Poll::Ready(Ok(this.pos))
    }
}
