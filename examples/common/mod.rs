//! What the callback-API examples share: the command line, the `listening on` line, and
//! stopping on SIGINT/SIGTERM.

use rsuv::{Loop, Signal};
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
