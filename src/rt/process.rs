//! Child processes: [`Command`], [`Child`], and the child's standard streams ([`ChildStdin`],
//! [`ChildStdout`], [`ChildStderr`]) as `futures::io` streams, over uv `Process` and `Pipe`.
//! The streams are the same async stream over a uv `Pipe` as [`UnixStream`](super::UnixStream)'s;
//! their docs say where bytes are copied.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::oneshot;
use futures::io::{AsyncBufRead, AsyncRead, AsyncReadExt, AsyncWrite};

use super::stream::AsyncStream;

use crate::uv::{self, Error, Pipe, Process, ProcessOptions};

pub use crate::uv::ExitStatus;

use super::executor::current;

macro_rules! reader {
    ($name:ident, $what:literal) => {
        #[doc = concat!("The child's ", $what, ", when piped: a `futures::io::AsyncRead`.")]
        ///
        /// Reading starts on the first read and goes on in the background, straight into
        /// this stream's own buffer; a read copies from there into the caller's buffer
        /// (`AsyncBufRead`'s `fill_buf` lends it instead). Past
        /// [`READ_HIGH`](super::READ_HIGH) bytes unread, reading stops (the child then blocks
        /// on a full pipe) until they are taken. End of stream reads `Ok(0)`; a read error is
        /// returned once, then reads give `Ok(0)`. Dropping it closes the pipe.
        ///
        /// # Examples
        ///
        /// ```
        /// use futures::io::AsyncReadExt;
        /// use rsuv::rt::{Command, Stdio, block_on};
        ///
        /// block_on(async {
        ///     let mut child = Command::new("sh")
        ///         .args(["-c", "echo out; echo err >&2"])
        ///         .stdout(Stdio::piped())
        ///         .stderr(Stdio::piped())
        ///         .spawn()?;
        ///     let mut text = String::new();
        ///     child.stdout.take().unwrap().read_to_string(&mut text).await?;
        ///     assert_eq!(text, "out\n");
        ///     child.stderr.take().unwrap().read_to_string(&mut text).await?;
        ///     assert_eq!(text, "out\nerr\n");
        ///     assert!(child.wait().await?.success());
        ///     Ok::<(), std::io::Error>(())
        /// })?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        ///
        /// # Cancel safety
        ///
        /// A read future (such as `AsyncReadExt::read`) is cancel safe: bytes leave the
        /// internal buffer only when a read returns them.
        pub struct $name {
            inner: AsyncStream<Pipe>,
        }

        impl AsyncRead for $name {
            fn poll_read(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.inner).poll_read(cx, buf)
            }
        }

        impl AsyncBufRead for $name {
            fn poll_fill_buf(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<&[u8]>> {
                Pin::new(&mut self.get_mut().inner).poll_fill_buf(cx)
            }

            fn consume(mut self: Pin<&mut Self>, amt: usize) {
                Pin::new(&mut self.inner).consume(amt)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

reader!(ChildStdout, "standard output");
reader!(ChildStderr, "standard error");

/// The child's standard input, when piped: a `futures::io::AsyncWrite`.
///
/// `poll_write` writes what the pipe takes at once, straight from the caller's buffer; if the
/// pipe would block, it queues a copy of (part of) the caller's bytes as a uv write request, up
/// to [`WRITE_HIGH`](super::WRITE_HIGH) queued, beyond which it waits for the queue to drain.
/// `poll_flush` waits until the queue has drained; `poll_close` shuts the pipe down once the
/// queue is written (the child reads end of file). A queued write that fails reports its
/// error on the next write, flush or close.
///
/// Dropping it with writes still queued lets them finish in the background before shutting
/// the pipe down (the child still gets every byte `poll_write` accepted, then end of file).
/// [`Child::wait`] drops it first.
///
/// # Examples
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
/// use rsuv::rt::{Command, Stdio, block_on, spawn_local};
///
/// block_on(async {
///     let mut child = Command::new("cat")
///         .stdin(Stdio::piped())
///         .stdout(Stdio::piped())
///         .spawn()?;
///     let mut stdin = child.stdin.take().unwrap();
///     // Write and read at once: a child whose output nobody reads stops reading its input.
///     let writer = spawn_local(async move {
///         stdin.write_all(&[b'x'; 100_000]).await?;
///         stdin.close().await
///     });
///     let mut back = Vec::new();
///     child.stdout.take().unwrap().read_to_end(&mut back).await?;
///     writer.await.unwrap()?;
///     assert_eq!(back.len(), 100_000);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Cancel safety
///
/// A write future (such as `AsyncWriteExt::write`) is cancel safe: `poll_write` either
/// accepts bytes and returns at once, or accepts none. `write_all` is not: dropped, it may
/// have written part of its buffer. Dropping a flush or close future loses nothing; the
/// queued bytes are still written.
pub struct ChildStdin {
    inner: AsyncStream<Pipe>,
}

impl AsyncWrite for ChildStdin {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("queued", &self.inner.handle().write_queue_size())
            .finish()
    }
}

/// How one of the child's standard streams is set up (see [`Command::stdin`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stdio(StdioKind);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StdioKind {
    Piped,
    Inherit,
    Null,
}

impl Stdio {
    /// A new pipe to the parent: the [`Child`] gets its end as `stdin`, `stdout` or `stderr`.
    pub fn piped() -> Stdio {
        Stdio(StdioKind::Piped)
    }

    /// The parent's own stream.
    pub fn inherit() -> Stdio {
        Stdio(StdioKind::Inherit)
    }

    /// `/dev/null`.
    pub fn null() -> Stdio {
        Stdio(StdioKind::Null)
    }
}

/// What a finished child left: its exit status and everything it wrote to its piped stdout
/// and stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Its standard output (empty if not piped).
    pub stdout: Vec<u8>,
    /// Its standard error (empty if not piped).
    pub stderr: Vec<u8>,
}

/// A process builder, in the manner of `tokio::process::Command`.
///
/// By default the child inherits the environment, the working directory and the three
/// standard streams (for [`output`](Self::output): stdin is `/dev/null`, stdout and stderr are
/// piped).
///
/// # Examples
///
/// ```
/// use rsuv::rt::{Command, block_on};
///
/// let out = block_on(Command::new("echo").arg("hello").output())?;
/// assert!(out.status.success());
/// assert_eq!(out.stdout, b"hello\n");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    env_clear: bool,
    /// Variables set (`Some`) or removed (`None`).
    env: BTreeMap<OsString, Option<OsString>>,
    cwd: Option<PathBuf>,
    stdio: [Option<StdioKind>; 3],
    kill_on_drop: bool,
}

impl Command {
    /// Runs `program` (looked up in `PATH` when it has no slash).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env_clear: false,
            env: BTreeMap::new(),
            cwd: None,
            stdio: [None; 3],
            kill_on_drop: false,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Command {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        let value = Some(value.as_ref().to_owned());
        self.env.insert(key.as_ref().to_owned(), value);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.env.insert(key.as_ref().to_owned(), None);
        self
    }

    /// Starts the child with an empty environment (plus what [`env`](Self::env) adds after).
    pub fn env_clear(&mut self) -> &mut Command {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Sets up the child's standard input.
    pub fn stdin(&mut self, cfg: Stdio) -> &mut Command {
        self.stdio[0] = Some(cfg.0);
        self
    }

    /// Sets up the child's standard output.
    pub fn stdout(&mut self, cfg: Stdio) -> &mut Command {
        self.stdio[1] = Some(cfg.0);
        self
    }

    /// Sets up the child's standard error.
    pub fn stderr(&mut self, cfg: Stdio) -> &mut Command {
        self.stdio[2] = Some(cfg.0);
        self
    }

    /// Whether dropping the [`Child`] before it has exited kills it (`SIGKILL`). Off by
    /// default: the child then runs on (see [`Child`]).
    pub fn kill_on_drop(&mut self, on: bool) -> &mut Command {
        self.kill_on_drop = on;
        self
    }

    /// Starts the child.
    ///
    /// # Errors
    ///
    /// `NotFound` (no such program), `PermissionDenied`, `InvalidInput` for a NUL byte in a
    /// string.
    ///
    /// # Panics
    ///
    /// Outside [`block_on`](super::block_on).
    #[doc(alias = "uv_spawn")]
    pub fn spawn(&mut self) -> io::Result<Child> {
        self.spawn_with([StdioKind::Inherit; 3])
    }

    /// Runs the child to completion, collecting its output: stdout and stderr are piped and
    /// stdin is `/dev/null`, unless set otherwise.
    ///
    /// # Errors
    ///
    /// As for [`spawn`](Self::spawn), and a read error on stdout or stderr.
    ///
    /// # Panics
    ///
    /// Outside [`block_on`](super::block_on).
    ///
    /// # Cancel safety
    ///
    /// Dropped before it completes, the output read so far is lost and the child is
    /// dropped, as [`Child`] says (it runs on, unless [`kill_on_drop`](Self::kill_on_drop)).
    pub async fn output(&mut self) -> io::Result<Output> {
        use StdioKind::{Null, Piped};
        self.spawn_with([Null, Piped, Piped])?
            .wait_with_output()
            .await
    }

    /// Runs the child to completion (inheriting the standard streams unless set otherwise):
    /// its exit status.
    ///
    /// # Errors
    ///
    /// As for [`spawn`](Self::spawn).
    ///
    /// # Panics
    ///
    /// Outside [`block_on`](super::block_on).
    ///
    /// # Cancel safety
    ///
    /// Dropped before it completes, the child is dropped, as [`Child`] says.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn_with([StdioKind::Inherit; 3])?;
        child.wait().await
    }

    fn options<'a>(&self, kinds: &[StdioKind; 3], pipes: &'a [Option<Pipe>]) -> ProcessOptions<'a> {
        let mut opts = ProcessOptions::new(&self.program).args(&self.args);
        if self.env_clear {
            opts = opts.env_clear();
        }
        for (key, value) in &self.env {
            opts = match value {
                Some(value) => opts.env(key, value),
                None => opts.env_remove(key),
            };
        }
        if let Some(dir) = &self.cwd {
            opts = opts.cwd(dir);
        }
        for (fd, (kind, pipe)) in kinds.iter().zip(pipes).enumerate() {
            let how = match (kind, pipe) {
                (_, Some(pipe)) => uv::Stdio::Pipe(pipe),
                (StdioKind::Null, _) => uv::Stdio::Ignore,
                _ => uv::Stdio::Inherit,
            };
            opts = opts.stdio(fd, how);
        }
        opts
    }

    fn spawn_with(&self, defaults: [StdioKind; 3]) -> io::Result<Child> {
        let ex = current().expect("Command::spawn called outside block_on");
        let kinds: [StdioKind; 3] = std::array::from_fn(|i| self.stdio[i].unwrap_or(defaults[i]));
        let mut pipes = Vec::with_capacity(3);
        for kind in kinds {
            pipes.push(match kind {
                StdioKind::Piped => Some(Pipe::new(&ex.lp, false)?),
                _ => None,
            });
        }
        let (tx, exit) = oneshot::channel();
        let process = Process::spawn(&ex.lp, &self.options(&kinds, &pipes), move |p, st| {
            let _ = tx.send(st);
            p.close(); // also when the `Child` was dropped and the handle detached
        })?;
        let mut streams = pipes.into_iter().map(|p| p.map(AsyncStream::new));
        let mut next = || streams.next().flatten();
        Ok(Child {
            stdin: next().map(|inner| ChildStdin { inner }),
            stdout: next().map(|inner| ChildStdout { inner }),
            stderr: next().map(|inner| ChildStderr { inner }),
            pid: process.pid() as u32,
            process: Some(process),
            exit,
            status: None,
            kill_on_drop: self.kill_on_drop,
        })
    }
}

/// A running (or exited) child process, from [`Command::spawn`].
///
/// Dropping a `Child` before it has exited does not wait for it: it runs on, and is still
/// reaped when it exits if the loop is still running then; its handle no longer keeps the loop
/// alive. With [`Command::kill_on_drop`] it is killed instead (and its handle keeps the loop
/// alive until it is reaped, which is prompt).
///
/// # Examples
///
/// ```
/// use rsuv::rt::{Command, block_on};
///
/// block_on(async {
///     let mut child = Command::new("sleep").arg("30").spawn()?;
///     assert!(child.id().is_some());
///     child.kill()?;
///     let status = child.wait().await?;
///     assert_eq!(status.signal(), Some(libc::SIGKILL));
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Child {
    /// The child's stdin, if piped (take it to write).
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if piped (take it to read).
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if piped (take it to read).
    pub stderr: Option<ChildStderr>,
    pid: u32,
    /// `None` only while dropping.
    process: Option<Process>,
    exit: oneshot::Receiver<ExitStatus>,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
}

impl Child {
    /// The child's process id; `None` once its exit status has been collected (by
    /// [`wait`](Self::wait) or [`try_wait`](Self::try_wait)), as the id may be reused then.
    pub fn id(&self) -> Option<u32> {
        self.status.is_none().then_some(self.pid)
    }

    /// Sends `SIGKILL` to the child, as `std::process::Child::kill` (not waiting: then
    /// [`wait`](Self::wait) for it). `Ok(())` if it has already exited.
    ///
    /// # Errors
    ///
    /// What `kill(2)` reports otherwise.
    #[doc(alias = "uv_process_kill")]
    pub fn kill(&mut self) -> io::Result<()> {
        self.signal(libc::SIGKILL)
    }

    /// Sends `signum` to the child; `Ok(())` if it has already exited.
    ///
    /// # Errors
    ///
    /// `InvalidInput` (`EINVAL`) for a bad signal number.
    #[doc(alias = "uv_process_kill")]
    pub fn signal(&mut self, signum: i32) -> io::Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        match self.process.as_ref().map(|p| p.kill(signum)) {
            // Exited and reaped, but the exit callback has not run yet.
            None | Some(Ok(())) | Some(Err(Error::ESRCH | Error::CLOSED)) => Ok(()),
            Some(Err(e)) => Err(e.into()),
        }
    }

    /// Waits for the child to exit: its exit status. Closes the child's stdin first (if still
    /// here), so that a child reading it sees end of file instead of waiting forever.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the handle was closed before the child exited (the loop was torn
    /// down).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the status is kept for the next `wait` (stdin is closed all the same).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        poll_fn(|cx| self.poll_wait(cx)).await
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = self.status {
            return Poll::Ready(Ok(status));
        }
        let status = std::task::ready!(Pin::new(&mut self.exit).poll(cx));
        let status = status.map_err(|_| io::Error::from(Error::CLOSED))?;
        self.status = Some(status);
        Poll::Ready(Ok(status))
    }

    /// The exit status if the child has exited, without waiting.
    ///
    /// # Errors
    ///
    /// As for [`wait`](Self::wait).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            let exited = self.exit.try_recv();
            self.status = exited.map_err(|_| io::Error::from(Error::CLOSED))?;
        }
        Ok(self.status)
    }

    /// Waits for the child to exit while reading all of its piped stdout and stderr
    /// (concurrently, so that a child filling one pipe cannot block the other). Closes stdin
    /// first, as [`wait`](Self::wait).
    ///
    /// # Errors
    ///
    /// A read error on stdout or stderr; as for [`wait`](Self::wait).
    ///
    /// # Cancel safety
    ///
    /// Dropped before it completes, the output read so far is lost and the child is dropped.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = (self.stdout.take(), self.stderr.take());
        let (out, err, status) = futures::join!(read_all(stdout), read_all(stderr), self.wait());
        Ok(Output {
            status: status?,
            stdout: out?,
            stderr: err?,
        })
    }
}

async fn read_all(stream: Option<impl AsyncRead + Unpin>) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if let Some(mut s) = stream {
        s.read_to_end(&mut bytes).await?;
    }
    Ok(bytes)
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(process) = self.process.take() else {
            return;
        };
        if matches!(self.try_wait(), Ok(Some(_)) | Err(_)) {
            return; // exited (or closed): its handle is closed already
        }
        if self.kill_on_drop {
            let _ = process.kill(libc::SIGKILL);
        } else {
            process.unref();
        }
        process.detach(); // the exit callback closes it
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .field("status", &self.status)
            .finish()
    }
}
