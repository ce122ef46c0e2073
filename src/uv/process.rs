//! [`Process`]: child processes, with stdio wiring, environment, working directory, uid/gid,
//! detaching, signals and an exit callback.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use libuv_sys2::*;

use super::error::{Error, Result, check};
use super::handle::{Callback, Owned, State, dispatch, handle_methods};
use super::loop_::LoopHandle;
use super::pipe::{Pipe, SendHandle};

/// How a child's file descriptor is set up.
pub enum Stdio<'a> {
    /// Connected to `/dev/null`.
    Ignore,
    /// The parent's descriptor with the same number (the default for 0, 1 and 2).
    Inherit,
    /// A copy of this descriptor of the parent's.
    Fd(BorrowedFd<'a>),
    /// A new socketpair: the child gets one end, this (fresh, unconnected) `Pipe` the other.
    /// For descriptor 0 the child reads from it; for 1 and 2 the child writes; beyond, both.
    Pipe(&'a Pipe),
    /// A new socketpair as for [`Stdio::Pipe`], with the directions given, from the child's
    /// view (libuv's `UV_READABLE_PIPE`/`UV_WRITABLE_PIPE`): the parent's `Pipe` can write
    /// when the child reads, and read when the child writes.
    PipeWith {
        /// The parent's end (fresh, unconnected).
        pipe: &'a Pipe,
        /// The child reads from it.
        readable: bool,
        /// The child writes to it.
        writable: bool,
    },
    /// The descriptor of an open stream (a `Tcp` or `Pipe`) of the parent's.
    Stream(&'a dyn SendHandle),
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitStatus {
    status: i64,
    signal: i32,
}

impl ExitStatus {
    /// Exited normally with status 0.
    pub fn success(self) -> bool {
        self.status == 0 && self.signal == 0
    }

    /// The exit status, or `None` if a signal ended the child.
    pub fn code(self) -> Option<i64> {
        (self.signal == 0).then_some(self.status)
    }

    /// The signal that ended the child, if one did.
    pub fn signal(self) -> Option<i32> {
        (self.signal != 0).then_some(self.signal)
    }
}

/// What to run and how: a builder, in the manner of `std::process::Command`.
///
/// By default the child inherits the environment, the working directory and descriptors 0, 1
/// and 2.
pub struct ProcessOptions<'a> {
    file: CString,
    args: Vec<CString>,
    env: Option<BTreeMap<OsString, OsString>>,
    cwd: Option<CString>,
    uid: Option<u32>,
    gid: Option<u32>,
    detached: bool,
    stdio: Vec<Stdio<'a>>,
    invalid: bool,
}

fn cstring(s: &OsStr, invalid: &mut bool) -> CString {
    CString::new(s.as_bytes()).unwrap_or_else(|_| {
        *invalid = true; // reported as EINVAL by `spawn`
        CString::default()
    })
}

impl<'a> ProcessOptions<'a> {
    /// Runs `program` (looked up in `PATH` when it has no slash), with itself as `argv[0]`.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let mut invalid = false;
        let file = cstring(program.as_ref(), &mut invalid);
        let stdio = vec![Stdio::Inherit, Stdio::Inherit, Stdio::Inherit];
        let (env, cwd, uid, gid) = (None, None, None, None);
        let args = vec![file.clone()];
        ProcessOptions {
            file,
            args,
            env,
            cwd,
            uid,
            gid,
            detached: false,
            stdio,
            invalid,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        let c = cstring(arg.as_ref(), &mut self.invalid);
        self.args.push(c);
        self
    }

    /// Sets the child's `argv[0]` (by default the program), for a program run under
    /// another name.
    pub fn arg0(mut self, arg0: impl AsRef<OsStr>) -> Self {
        self.args[0] = cstring(arg0.as_ref(), &mut self.invalid);
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(self, args: I) -> Self {
        args.into_iter().fold(self, |o, a| o.arg(a))
    }

    fn env_map(&mut self) -> &mut BTreeMap<OsString, OsString> {
        self.env
            .get_or_insert_with(|| std::env::vars_os().collect())
    }

    /// Sets an environment variable for the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        let (k, v) = (key.as_ref().to_owned(), value.as_ref().to_owned());
        self.env_map().insert(k, v);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env_map().remove(key.as_ref());
        self
    }

    /// Starts the child with an empty environment (then add to it with [`Self::env`]).
    pub fn env_clear(mut self) -> Self {
        self.env = Some(BTreeMap::new());
        self
    }

    /// Sets the child's working directory.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(cstring(dir.as_ref().as_os_str(), &mut self.invalid));
        self
    }

    /// Runs the child as this user id (needs the privilege to).
    pub fn uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Runs the child with this group id (needs the privilege to).
    pub fn gid(mut self, gid: u32) -> Self {
        self.gid = Some(gid);
        self
    }

    /// Starts the child in a new session (`setsid`): it is not killed with the parent's
    /// process group and may outlive the parent.
    pub fn detached(mut self, on: bool) -> Self {
        self.detached = on;
        self
    }

    /// Sets up the child's descriptor `fd` (0, 1, 2, or more: descriptors between those set
    /// and 3 are ignored).
    pub fn stdio(mut self, fd: usize, how: Stdio<'a>) -> Self {
        while self.stdio.len() <= fd {
            self.stdio.push(Stdio::Ignore);
        }
        self.stdio[fd] = how;
        self
    }
}

type ExitCb = dyn FnMut(&Process, ExitStatus);

pub(crate) struct ProcessState {
    exit_cb: Callback<ExitCb>,
}

impl State for ProcessState {
    type Raw = uv_process_t;

    fn clear(&self) {
        self.exit_cb.clear();
    }
}

/// A child process.
///
/// Closing (or dropping) a `Process` before its child has exited stops watching the child; it
/// is not killed, and it stays a zombie until this process exits (libuv can no longer reap
/// it). Keep the handle until the exit callback has run, or kill the child first.
///
/// # Examples
///
/// ```
/// use rsuv::{Loop, Pipe, Process, ProcessOptions, RunMode, Stdio};
/// let lp = Loop::new()?;
/// let out = Pipe::new(&lp, false)?;
/// let opts = ProcessOptions::new("echo").arg("hello").stdio(1, Stdio::Pipe(&out));
/// let child = Process::spawn(&lp, &opts, |p, status| {
///     assert!(status.success());
///     p.close();
/// })?;
/// out.read_start(|out, data| match data {
///     Ok(bytes) => assert_eq!(bytes, b"hello\n"),
///     Err(_) => out.close(),
/// })?;
/// lp.run(RunMode::Default)?;
/// # drop(child);
/// # Ok::<(), rsuv::Error>(())
/// ```
pub struct Process(Owned<ProcessState>);

handle_methods!(Process);

unsafe extern "C" fn on_exit(raw: *mut uv_process_t, status: i64, signal: c_int) {
    let st = ExitStatus { status, signal };
    // SAFETY: libuv calls this only for open handles made by `Process::spawn`.
    unsafe {
        dispatch(raw.cast(), Process, |h| {
            h.0.state().exit_cb.call(h.0.core(), |f| f(h, st))
        })
    }
}

/// The C arrays `uv_spawn` reads, built from the options (they live for the call).
struct CSpawn {
    args: Vec<*mut c_char>,
    env: Option<(Vec<CString>, Vec<*mut c_char>)>,
    stdio: Vec<uv_stdio_container_t>,
}

impl CSpawn {
    fn new(opts: &ProcessOptions<'_>) -> Result<CSpawn> {
        let mut args: Vec<*mut c_char> = opts.args.iter().map(|a| a.as_ptr().cast_mut()).collect();
        args.push(ptr::null_mut());
        let env = match &opts.env {
            None => None,
            Some(map) => {
                let mut pairs = Vec::with_capacity(map.len());
                for (k, v) in map {
                    let mut kv = k.as_bytes().to_vec();
                    kv.push(b'=');
                    kv.extend_from_slice(v.as_bytes());
                    pairs.push(CString::new(kv).map_err(|_| Error::EINVAL)?);
                }
                let mut ptrs: Vec<_> = pairs.iter().map(|p| p.as_ptr().cast_mut()).collect();
                ptrs.push(ptr::null_mut());
                Some((pairs, ptrs))
            }
        };
        let stdio = opts
            .stdio
            .iter()
            .enumerate()
            .map(|(i, s)| container(i, s))
            .collect::<Result<_>>()?;
        Ok(CSpawn { args, env, stdio })
    }
}

fn container(index: usize, how: &Stdio<'_>) -> Result<uv_stdio_container_t> {
    let (flags, data) = match how {
        Stdio::Ignore => (
            uv_stdio_flags_UV_IGNORE,
            uv_stdio_container_s__bindgen_ty_1 { fd: -1 },
        ),
        Stdio::Inherit => (
            uv_stdio_flags_UV_INHERIT_FD,
            uv_stdio_container_s__bindgen_ty_1 { fd: index as c_int },
        ),
        Stdio::Fd(fd) => (
            uv_stdio_flags_UV_INHERIT_FD,
            uv_stdio_container_s__bindgen_ty_1 { fd: fd.as_raw_fd() },
        ),
        Stdio::Pipe(pipe) => {
            let dir = match index {
                0 => uv_stdio_flags_UV_READABLE_PIPE,
                1 | 2 => uv_stdio_flags_UV_WRITABLE_PIPE,
                _ => uv_stdio_flags_UV_READABLE_PIPE | uv_stdio_flags_UV_WRITABLE_PIPE,
            };
            let stream = super::pipe::stream_of(*pipe)?;
            (
                uv_stdio_flags_UV_CREATE_PIPE | dir,
                uv_stdio_container_s__bindgen_ty_1 { stream },
            )
        }
        Stdio::PipeWith {
            pipe,
            readable,
            writable,
        } => {
            let mut dir = 0;
            if *readable {
                dir |= uv_stdio_flags_UV_READABLE_PIPE;
            }
            if *writable {
                dir |= uv_stdio_flags_UV_WRITABLE_PIPE;
            }
            let stream = super::pipe::stream_of(*pipe)?;
            (
                uv_stdio_flags_UV_CREATE_PIPE | dir,
                uv_stdio_container_s__bindgen_ty_1 { stream },
            )
        }
        Stdio::Stream(s) => {
            let stream = super::pipe::stream_of(*s)?;
            (
                uv_stdio_flags_UV_INHERIT_STREAM,
                uv_stdio_container_s__bindgen_ty_1 { stream },
            )
        }
    };
    Ok(uv_stdio_container_t { flags, data })
}

impl Process {
    /// Starts a child; `exit_cb` runs on the loop thread once it has exited.
    ///
    /// # Errors
    ///
    /// `ENOENT` (no such program), `EACCES`, `EPERM` (uid/gid without the privilege), `EINVAL`
    /// for a NUL byte in a string or a `Stdio::Pipe` already in use; [`Error::CLOSED`] if the
    /// loop or a stdio handle is closed.
    #[doc(alias = "uv_spawn")]
    pub fn spawn(
        lp: &LoopHandle,
        opts: &ProcessOptions<'_>,
        exit_cb: impl FnOnce(&Process, ExitStatus) + 'static,
    ) -> Result<Process> {
        if opts.invalid {
            return Err(Error::EINVAL);
        }
        let mut c = CSpawn::new(opts)?;
        let mut flags = 0;
        flags |= if opts.uid.is_some() {
            uv_process_flags_UV_PROCESS_SETUID
        } else {
            0
        };
        flags |= if opts.gid.is_some() {
            uv_process_flags_UV_PROCESS_SETGID
        } else {
            0
        };
        flags |= if opts.detached {
            uv_process_flags_UV_PROCESS_DETACHED
        } else {
            0
        };
        let options = uv_process_options_t {
            exit_cb: Some(on_exit),
            file: opts.file.as_ptr(),
            args: c.args.as_mut_ptr(),
            env: c
                .env
                .as_mut()
                .map_or(ptr::null_mut(), |(_, p)| p.as_mut_ptr()),
            cwd: opts.cwd.as_ref().map_or(ptr::null(), |d| d.as_ptr()),
            flags,
            stdio_count: c.stdio.len() as c_int,
            stdio: c.stdio.as_mut_ptr(),
            uid: opts.uid.unwrap_or(0),
            gid: opts.gid.unwrap_or(0),
        };
        let mut once = Some(exit_cb);
        let cb = move |p: &Process, st: ExitStatus| {
            if let Some(f) = once.take() {
                f(p, st)
            }
        };
        let state = ProcessState {
            exit_cb: Callback::empty(),
        };
        state.exit_cb.set(Box::new(cb));
        // SAFETY: `raw` is fresh memory of uv_handle_size(UV_PROCESS) bytes; `options` and the
        // arrays it points into live until uv_spawn returns.
        let init = |l, raw: *mut uv_handle_t| unsafe { uv_spawn(l, raw.cast(), &options) };
        Owned::init(lp, uv_handle_type_UV_PROCESS, state, init).map(Process)
    }

    /// The child's process id (0 once the handle is closed).
    #[doc(alias = "uv_process_get_pid")]
    pub fn pid(&self) -> i32 {
        // SAFETY: the handle is open.
        self.0
            .raw()
            .map_or(0, |raw| unsafe { uv_process_get_pid(raw) })
    }

    /// Sends `signum` to the child.
    ///
    /// # Errors
    ///
    /// `ESRCH` once the child has exited and been reaped, `EINVAL` for a bad signal number;
    /// [`Error::CLOSED`].
    #[doc(alias = "uv_process_kill")]
    pub fn kill(&self, signum: i32) -> Result<()> {
        // SAFETY: the handle is open.
        check(unsafe { uv_process_kill(self.0.raw()?, signum) }).map(drop)
    }
}

/// Sends `signum` to the process `pid` (any process, not only children).
///
/// # Errors
///
/// `ESRCH` for no such process, `EPERM`, `EINVAL` for a bad signal number.
#[doc(alias = "uv_kill")]
pub fn kill(pid: i32, signum: i32) -> Result<()> {
    // SAFETY: uv_kill is a plain system call wrapper.
    check(unsafe { uv_kill(pid, signum) }).map(drop)
}

/// Marks every inherited descriptor above 2 close-on-exec, so that children spawned later
/// (by this library or anyone else) do not inherit them; call it early, before other
/// threads spawn.
#[doc(alias = "uv_disable_stdio_inheritance")]
pub fn disable_stdio_inheritance() {
    // SAFETY: no preconditions; it only sets FD_CLOEXEC on descriptors.
    unsafe { uv_disable_stdio_inheritance() }
}
