//! Async Rust on the uv loop: a single-threaded executor on the `futures` model, timers, TCP
//! and Unix-socket streams, UDP, child processes, signals, blocking work on the threadpool and
//! DNS.
//!
//! Everything here runs on the thread of a [`block_on`]: futures need not be `Send`, and
//! wakers may be called from any thread (a wake from another thread goes through an `Async`
//! handle).

mod blocking;
mod dns;
mod executor;
pub mod fs;
mod net;
mod process;
mod signal;
mod stream;
mod task;
mod time;
mod udp;

pub use blocking::{BlockingHandle, spawn_blocking};
pub use dns::{lookup_addr, lookup_host};
pub use executor::{LocalSet, Runtime, block_on, current_loop, spawn_local};
pub use net::{
    TcpListener, TcpReadHalf, TcpStream, TcpWriteHalf, UnixListener, UnixReadHalf, UnixStream,
    UnixWriteHalf,
};
pub use process::{
    Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio,
};
pub use signal::{Signals, signal};
pub use stream::{READ_HIGH, ReadHalf, WRITE_HIGH, WriteHalf};
pub use task::{JoinError, JoinHandle};
pub use time::{Elapsed, Interval, Sleep, interval, sleep, sleep_until, timeout};
pub use udp::UdpSocket;
