//! [`Pipe`]: Unix domain sockets (paths and Linux abstract names) and pipes, with handle
//! passing over IPC pipes.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libuv_sys2::*;

use super::WriteBuf;
use super::buf::DoneCb;
use super::error::{Error, Result, check};
use super::handle::{Owned, handle_methods};
use super::loop_::LoopHandle;
use super::stream::{StreamExtra, StreamHandle, StreamState, stream_methods};
use super::tcp::Tcp;
use super::udp::Udp;

/// The name of a pipe's socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PipeName {
    /// A filesystem path.
    Path(PathBuf),
    /// A Linux abstract-namespace name (without the leading NUL byte).
    Abstract(Vec<u8>),
    /// No name (an unbound socket, or a plain pipe).
    Unnamed,
}

/// A handle received over an IPC pipe (see [`Pipe::accept_pending`]).
#[derive(Debug)]
pub enum PendingHandle {
    /// A TCP socket.
    Tcp(Tcp),
    /// A pipe or Unix socket.
    Pipe(Pipe),
    /// A UDP socket.
    Udp(Udp),
}

/// A pipe or Unix domain socket, with the stream methods (`read_start`, `write`, ...).
///
/// An IPC pipe (`ipc = true`) can also carry handles: [`Pipe::write_handle`] sends a `Tcp` or
/// `Pipe`, and the peer takes it with [`Pipe::accept_pending`].
///
/// # Examples
///
/// ```
/// use rsuv::{Loop, Pipe, PipeName, RunMode};
/// let lp = Loop::new()?;
/// let name = format!("rsuv-doc-{}", std::process::id());
/// let server = Pipe::new(&lp, false)?;
/// server.bind_abstract(name.as_bytes())?;
/// server.listen(8, |s, r| {
///     r.unwrap();
///     let conn = s.accept().unwrap();
///     conn.write(b"hi", |c, _| c.close()).unwrap();
///     conn.detach();
///     s.close();
/// })?;
/// assert_eq!(server.sockname()?, PipeName::Abstract(name.clone().into_bytes()));
/// let client = Pipe::new(&lp, false)?;
/// client.connect_abstract(name.as_bytes(), |c, r| {
///     r.unwrap();
///     c.read_start(|c, data| if data.is_err() { c.close() }).unwrap();
/// })?;
/// lp.run(RunMode::Default)?;
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Pipe(Owned<StreamState<Pipe>>);

handle_methods!(Pipe);
stream_methods!(Pipe);

/// What a pipe keeps: whether it passes handles (IPC), fixed when it is made.
pub(crate) struct PipeExtra {
    ipc: bool,
}

impl StreamExtra for PipeExtra {}

impl StreamHandle for Pipe {
    type Raw = uv_pipe_t;
    type Extra = PipeExtra;
    fn owned(&self) -> &Owned<StreamState<Pipe>> {
        &self.0
    }
    fn wrap(owned: Owned<StreamState<Pipe>>) -> Pipe {
        Pipe(owned)
    }
    fn into_owned(self) -> Owned<StreamState<Pipe>> {
        self.0
    }
    fn new_peer(&self) -> Result<Pipe> {
        Pipe::new(&self.loop_handle(), self.0.state().extra.ipc)
    }
}

/// A handle that can be sent over an IPC pipe: a `Tcp`, a `Pipe` or a `Udp`.
pub trait SendHandle: sealed::Sealed {}
impl SendHandle for Tcp {}
impl SendHandle for Pipe {}
impl SendHandle for Udp {}

mod sealed {
    use super::*;
    pub trait Sealed {
        /// The handle as `uv_write2` takes it (libuv sends a UDP handle through the same
        /// `uv_stream_t*` parameter).
        fn send_raw(&self) -> Result<*mut uv_stream_t>;
        /// Whether it is a stream (`uv_stream_t` really), as stdio inheritance needs.
        fn is_stream(&self) -> bool {
            true
        }
    }
    impl Sealed for Tcp {
        fn send_raw(&self) -> Result<*mut uv_stream_t> {
            self.owned().raw()
        }
    }
    impl Sealed for Pipe {
        fn send_raw(&self) -> Result<*mut uv_stream_t> {
            self.0.raw()
        }
    }
    impl Sealed for Udp {
        fn send_raw(&self) -> Result<*mut uv_stream_t> {
            self.raw_udp().map(|u| u.cast())
        }
        fn is_stream(&self) -> bool {
            false
        }
    }
}

/// The stream behind a `Tcp` or `Pipe` (for stdio wiring); `EINVAL` for a `Udp`.
pub(crate) fn stream_of(h: &(impl SendHandle + ?Sized)) -> Result<*mut uv_stream_t> {
    if !sealed::Sealed::is_stream(h) {
        return Err(Error::EINVAL);
    }
    sealed::Sealed::send_raw(h)
}

fn abstract_name(name: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(name.len() + 1);
    full.push(0);
    full.extend_from_slice(name);
    full
}

impl Pipe {
    /// Creates a pipe handle; `ipc` makes it able to pass handles (both ends must agree).
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`] if the loop is closed.
    #[doc(alias = "uv_pipe_init")]
    pub fn new(lp: &LoopHandle, ipc: bool) -> Result<Pipe> {
        let state = StreamState::new(PipeExtra { ipc });
        // SAFETY: `raw` is fresh memory of uv_handle_size(UV_NAMED_PIPE) bytes.
        let init = |l, raw: *mut uv_handle_t| unsafe { uv_pipe_init(l, raw.cast(), ipc.into()) };
        Owned::init(lp, uv_handle_type_UV_NAMED_PIPE, state, init).map(Pipe)
    }

    /// Wraps an existing pipe or Unix socket descriptor, which the handle owns from now on.
    ///
    /// # Errors
    ///
    /// `EPERM` for a descriptor epoll cannot watch (a regular file: libuv would abort on
    /// it later), or what `uv_pipe_open` reports (`EEXIST` if the loop already watches it);
    /// the descriptor is closed then.
    #[doc(alias = "uv_pipe_open")]
    pub fn open(lp: &LoopHandle, fd: OwnedFd, ipc: bool) -> Result<Pipe> {
        super::fd::check_pollable(fd.as_raw_fd())?;
        let pipe = Pipe::new(lp, ipc)?;
        let raw = pipe.0.raw()?;
        // SAFETY: the handle is open and unbound; `fd` is ours.
        super::fd::adopt(fd, |fd| unsafe { uv_pipe_open(raw, fd) }).map(|_| pipe)
    }

    /// Binds to a filesystem path (which must not exist yet).
    ///
    /// # Errors
    ///
    /// `EADDRINUSE` if the path exists; `ENAMETOOLONG` past the system's limit (108 bytes on
    /// Linux; the name is never truncated); `EINVAL` for a path with a NUL byte.
    #[doc(alias = "uv_pipe_bind2")]
    pub fn bind(&self, path: impl AsRef<Path>) -> Result<()> {
        self.bind_bytes(path_bytes(path.as_ref())?)
    }

    /// Binds to a Linux abstract-namespace name (no file is created).
    ///
    /// # Errors
    ///
    /// `EADDRINUSE` if the name is taken; `ENAMETOOLONG` past 107 bytes.
    #[doc(alias = "uv_pipe_bind2")]
    pub fn bind_abstract(&self, name: &[u8]) -> Result<()> {
        self.bind_bytes(&abstract_name(name))
    }

    fn bind_bytes(&self, name: &[u8]) -> Result<()> {
        let raw = self.0.raw()?;
        check_len(name)?;
        let (ptr, len) = (name.as_ptr().cast::<c_char>(), name.len());
        // SAFETY: the handle is open; `name` is valid for `len` bytes.
        check(unsafe { uv_pipe_bind2(raw, ptr, len, UV_PIPE_NO_TRUNCATE) }).map(drop)
    }

    /// Connects to the socket at `path`; `cb` gets the outcome (`ENOENT`, `ECONNREFUSED`, ...).
    ///
    /// # Errors
    ///
    /// `ENAMETOOLONG`, `EINVAL` for a NUL byte; [`Error::CLOSED`].
    #[doc(alias = "uv_pipe_connect2")]
    pub fn connect(
        &self,
        path: impl AsRef<Path>,
        cb: impl FnOnce(&Pipe, Result<()>) + 'static,
    ) -> Result<()> {
        self.connect_bytes(path_bytes(path.as_ref())?.to_vec(), Box::new(cb))
    }

    /// Connects to a Linux abstract-namespace name.
    ///
    /// # Errors
    ///
    /// As for [`Pipe::connect`].
    #[doc(alias = "uv_pipe_connect2")]
    pub fn connect_abstract(
        &self,
        name: &[u8],
        cb: impl FnOnce(&Pipe, Result<()>) + 'static,
    ) -> Result<()> {
        self.connect_bytes(abstract_name(name), Box::new(cb))
    }

    fn connect_bytes(&self, name: Vec<u8>, cb: DoneCb<Pipe>) -> Result<()> {
        let raw = self.0.raw()?;
        check_len(&name)?;
        let (ptr, len) = (name.as_ptr().cast::<c_char>(), name.len());
        let flags = UV_PIPE_NO_TRUNCATE;
        // SAFETY: the handle is open; libuv copies the name before returning.
        let start = |req, cb| unsafe { uv_pipe_connect2(req, raw, ptr, len, flags, cb) };
        super::stream::connect(self, cb, start)
    }

    /// Makes a bound socket file accessible to other users: readable and/or writable by all.
    ///
    /// # Errors
    ///
    /// `EINVAL` if neither is asked or the pipe is not bound to a path; [`Error::CLOSED`].
    #[doc(alias = "uv_pipe_chmod")]
    pub fn chmod(&self, readable: bool, writable: bool) -> Result<()> {
        let mut flags = 0;
        if readable {
            flags |= uv_poll_event_UV_READABLE as c_int;
        }
        if writable {
            flags |= uv_poll_event_UV_WRITABLE as c_int;
        }
        // SAFETY: the handle is open.
        check(unsafe { uv_pipe_chmod(self.0.raw()?, flags) }).map(drop)
    }

    /// The name this socket is bound to.
    ///
    /// # Errors
    ///
    /// [`Error::CLOSED`], or what the system reports.
    #[doc(alias = "uv_pipe_getsockname")]
    pub fn sockname(&self) -> Result<PipeName> {
        // SAFETY: the handle is open; the buffer and size are valid.
        self.name(|raw, buf, len| unsafe { uv_pipe_getsockname(raw, buf, len) })
    }

    /// The name of the socket this one is connected to.
    ///
    /// # Errors
    ///
    /// `ENOTCONN` when not connected; [`Error::CLOSED`].
    #[doc(alias = "uv_pipe_getpeername")]
    pub fn peername(&self) -> Result<PipeName> {
        // SAFETY: the handle is open; the buffer and size are valid.
        self.name(|raw, buf, len| unsafe { uv_pipe_getpeername(raw, buf, len) })
    }

    fn name(
        &self,
        f: impl FnOnce(*const uv_pipe_t, *mut c_char, *mut usize) -> c_int,
    ) -> Result<PipeName> {
        let mut buf = [0u8; 256];
        let mut len = buf.len();
        check(f(self.0.raw()?, buf.as_mut_ptr().cast(), &mut len))?;
        let name = &buf[..len.min(buf.len())];
        Ok(match name {
            [] => PipeName::Unnamed,
            [0, rest @ ..] => PipeName::Abstract(rest.to_vec()),
            path => PipeName::Path(PathBuf::from(OsStr::from_bytes(path))),
        })
    }

    /// Writes `buf` and sends `handle` with it over this IPC pipe; `cb` runs once written.
    ///
    /// # Errors
    ///
    /// `EINVAL` if this pipe is not an IPC pipe; [`Error::CLOSED`] if either handle is closing.
    #[doc(alias = "uv_write2")]
    pub fn write_handle(
        &self,
        buf: impl Into<WriteBuf>,
        handle: &impl SendHandle,
        cb: impl FnOnce(&Pipe, Result<()>) + 'static,
    ) -> Result<()> {
        if !self.0.state().extra.ipc {
            return Err(Error::EINVAL);
        }
        let send = sealed::Sealed::send_raw(handle)?;
        super::stream::write2(
            self,
            [buf.into()],
            send,
            Some(super::buf::WriteDone::Once(Box::new(cb))),
        )
    }

    super::tcp::buffer_size_methods!();

    /// How many received handles wait to be taken with [`Pipe::accept_pending`].
    #[doc(alias = "uv_pipe_pending_count")]
    pub fn pending_count(&self) -> usize {
        // SAFETY: the handle is open.
        self.0
            .raw()
            .map_or(0, |raw| unsafe { uv_pipe_pending_count(raw) } as usize)
    }

    /// libuv's handle type of the next handle received (`UV_TCP`, `UV_NAMED_PIPE`, ...), as
    /// a number; 0 (`UV_UNKNOWN_HANDLE`) when none is pending.
    #[doc(alias = "uv_pipe_pending_type")]
    pub fn pending_type(&self) -> i32 {
        match self.0.raw::<uv_pipe_t>() {
            Ok(raw) if self.pending_count() > 0 => {
                // SAFETY: the handle is open.
                unsafe { uv_pipe_pending_type(raw) as i32 }
            }
            _ => 0,
        }
    }

    /// Takes the next handle received over this IPC pipe (call from the read callback that
    /// delivered the data sent with it).
    ///
    /// # Errors
    ///
    /// `EAGAIN` if none is pending; `ENOTSUP` for a kind of handle rsuv does not take here;
    /// [`Error::CLOSED`].
    #[doc(alias = "uv_accept")]
    pub fn accept_pending(&self) -> Result<PendingHandle> {
        let raw = self.0.raw::<uv_pipe_t>()?;
        if self.pending_count() == 0 {
            return Err(Error::EAGAIN);
        }
        // SAFETY: the handle is open.
        let ty = unsafe { uv_pipe_pending_type(raw) };
        let lp = self.loop_handle();
        let (handle, target) = match ty {
            t if t == uv_handle_type_UV_TCP => {
                let t = Tcp::new(&lp)?;
                let s = t.owned().raw()?;
                (PendingHandle::Tcp(t), s)
            }
            t if t == uv_handle_type_UV_NAMED_PIPE => {
                let p = Pipe::new(&lp, false)?;
                let s = p.0.raw()?;
                (PendingHandle::Pipe(p), s)
            }
            t if t == uv_handle_type_UV_UDP => {
                let u = Udp::new(&lp)?;
                let s = u.raw_udp()?.cast();
                (PendingHandle::Udp(u), s)
            }
            _ => return Err(Error::ENOTSUP),
        };
        // SAFETY: both are open handles on the same loop; the target matches the pending type
        // (libuv's uv_accept opens a UDP target with uv_udp_open).
        check(unsafe { uv_accept(raw.cast(), target) })?;
        Ok(handle)
    }
}

/// `ENAMETOOLONG` for a name that does not fit `sun_path` (libuv would say `EINVAL`).
fn check_len(name: &[u8]) -> Result<()> {
    // SAFETY: plain data; all-zero is valid.
    let sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if name.len() > sun.sun_path.len() {
        Err(Error::ENAMETOOLONG)
    } else {
        Ok(())
    }
}

fn path_bytes(path: &Path) -> Result<&[u8]> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.contains(&0) {
        Err(Error::EINVAL)
    } else {
        Ok(bytes)
    }
}
