//! Async Rust on the uv loop: a single-threaded executor on the `futures` model, timers, and
//! async TCP and Unix-socket streams.
//!
//! Everything here runs on the thread of a [`block_on`]: futures need not be `Send`, and
//! wakers may be called from any thread (a wake from another thread goes through an `Async`
//! handle).

mod executor;
mod net;
mod stream;
mod task;
mod time;

pub use executor::{Runtime, block_on, current_loop, spawn_local};
pub use net::{
    TcpListener, TcpReadHalf, TcpStream, TcpWriteHalf, UnixListener, UnixReadHalf, UnixStream,
    UnixWriteHalf,
};
pub use stream::{READ_HIGH, ReadHalf, WRITE_HIGH, WriteHalf};
pub use task::{JoinError, JoinHandle};
pub use time::{Elapsed, Interval, Sleep, interval, sleep, sleep_until, timeout};
