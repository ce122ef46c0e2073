//! Async Rust on the uv loop: a single-threaded executor on the `futures` model, timers, and
//! (next) async streams, sockets, processes and blocking work.
//!
//! Everything here runs on the thread of a [`block_on`]: futures need not be `Send`, and
//! wakers may be called from any thread (a wake from another thread goes through an `Async`
//! handle).

mod blocking;
mod dns;
mod executor;
mod process;
mod signal;
mod task;
mod time;
mod udp;

pub use blocking::{BlockingHandle, spawn_blocking};
pub use dns::{lookup_addr, lookup_host};
pub use executor::{Runtime, block_on, spawn_local};
pub use process::{
    Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio,
};
pub use signal::{Signals, signal};
pub use task::{JoinError, JoinHandle};
pub use time::{Elapsed, Interval, Sleep, interval, sleep, sleep_until, timeout};
pub use udp::UdpSocket;
