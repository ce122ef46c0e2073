//! What the examples share: the command line, the `listening on` line, and stopping on
//! SIGINT/SIGTERM (a stopped loop for the callback examples, a future for the async ones).
// Each example uses one of the two ways to stop.
#![allow(dead_code)]

use futures::StreamExt;
use rsuv::{Loop, Signal};
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

/// The result of an example's `serve`.
pub type Served = Result<(), Box<dyn std::error::Error>>;

/// Parses exactly `N` socket addresses from the command line (usage on stderr and exit code 2
/// otherwise), runs `serve`, and turns its outcome into the exit code.
pub fn main<const N: usize>(
    name: &str,
    usage: &str,
    serve: impl FnOnce([SocketAddr; N]) -> Served,
) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addrs: Option<Vec<SocketAddr>> = args.iter().map(|a| a.parse().ok()).collect();
    let Some(Ok(addrs)) = addrs.map(<[SocketAddr; N]>::try_from) else {
        eprintln!("usage: {name} {usage}");
        return ExitCode::from(2);
    };
    match serve(addrs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the one line the tests wait for, with the address actually bound, and flushes.
pub fn announce(addr: SocketAddr) -> std::io::Result<()> {
    println!("listening on {addr}");
    std::io::stdout().flush()
}

/// Stops the loop on SIGINT or SIGTERM. Keep the handles alive to keep watching; install them
/// before `announce`, since whoever reads that line may send a signal at once.
pub fn stop_on_signals(lp: &Loop) -> rsuv::Result<[Signal; 2]> {
    let watch = |signum| -> rsuv::Result<Signal> {
        let sig = Signal::new(lp)?;
        sig.start(signum, |sig, _| sig.loop_handle().stop())?;
        Ok(sig)
    };
    Ok([watch(libc::SIGINT)?, watch(libc::SIGTERM)?])
}

/// A future that completes at the first SIGINT or SIGTERM, for the async examples: race it
/// against the server inside `block_on`. The signal handles are made now on `lp` (install them
/// before `announce`) and live in the future.
///
/// Stopping the loop would not do here: `block_on` runs the loop again until its future is
/// done. So each signal callback sends a message, and the future ends when one arrives.
pub fn signalled(lp: &Loop) -> rsuv::Result<impl Future<Output = ()> + use<>> {
    let (tx, mut rx) = futures::channel::mpsc::unbounded();
    let watch = |signum| -> rsuv::Result<Signal> {
        let sig = Signal::new(lp)?;
        let tx = tx.clone();
        sig.start(signum, move |_, signum| {
            let _ = tx.unbounded_send(signum); // fails only once the future is gone
        })?;
        Ok(sig)
    };
    let signals = [watch(libc::SIGINT)?, watch(libc::SIGTERM)?];
    Ok(async move {
        rx.next().await;
        drop(signals);
    })
}

/// The async servers' frame: a new runtime, SIGINT/SIGTERM watched (before `announce`), a
/// `TcpListener` on `addr` announced, then `accept_loop` until a signal arrives. Returning
/// drops every task, which closes their connections.
pub fn serve_async<F: Future<Output = ()>>(
    addr: SocketAddr,
    accept_loop: impl FnOnce(rsuv::rt::TcpListener) -> F,
) -> Served {
    use futures::FutureExt;
    let rt = rsuv::rt::Runtime::new()?;
    let signalled = signalled(rt.uv_loop())?;
    rt.block_on(async {
        let listener = rsuv::rt::TcpListener::bind(addr)?;
        announce(listener.local_addr()?)?;
        futures::select! {
            () = accept_loop(listener).fuse() => {}
            () = signalled.fuse() => {}
        }
        Ok(())
    })
}
