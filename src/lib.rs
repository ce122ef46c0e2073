//! rsuv: safe Rust over libuv, and (later) an asyncio event loop for Python.
//!
//! libuv 1.53 is compiled from the source bundled in `libuv-sys2` and linked statically. The
//! [`uv`] layer wraps it safely: handles live on the heap and never move, dropping a handle
//! closes it, memory is freed only in libuv's close callback, and a panic in a callback is
//! caught, stops the loop and is resumed from [`Loop::run`].
//!
//! [`tls`] is TLS over memory buffers (OpenSSL, sans-IO): sessions that know nothing of sockets,
//! for the stream layers above to carry.
//!
//! # Examples
//!
//! ```
//! use rsuv::{Async, Loop, RunMode, Timer};
//! use std::time::Duration;
//!
//! let lp = Loop::new()?;
//!
//! // A timer that stops the loop.
//! let timer = Timer::new(&lp)?;
//! timer.start(Duration::from_millis(5), Duration::ZERO, |t| t.loop_handle().stop())?;
//!
//! // A wake-up from another thread.
//! let wake = Async::new(&lp, |a| {
//!     println!("woken");
//!     a.close();
//! })?;
//! let sender = wake.sender();
//! std::thread::spawn(move || sender.send().unwrap());
//!
//! lp.run(RunMode::Default)?;
//! # Ok::<(), rsuv::Error>(())
//! ```

//!
//! Loops and handles stay on the thread that made them (`!Send`); only [`AsyncSender`] crosses
//! threads:
//!
//! ```compile_fail
//! fn needs_send<T: Send>(_: T) {}
//! needs_send(rsuv::Loop::new().unwrap());
//! ```
//!
//! ```compile_fail
//! fn needs_send<T: Send>(_: T) {}
//! let lp = rsuv::Loop::new().unwrap();
//! needs_send(rsuv::Timer::new(&lp).unwrap());
//! ```
//!
//! ```
//! fn needs_send_sync<T: Send + Sync>(_: T) {}
//! let lp = rsuv::Loop::new().unwrap();
//! let wake = rsuv::Async::new(&lp, |_| {}).unwrap();
//! needs_send_sync(wake.sender());
//! ```

#[cfg(feature = "python")]
pub mod python;
pub mod rt;
pub mod tls;
pub mod uv;

pub use uv::*;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
