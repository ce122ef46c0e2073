//! A UDP echo server: each datagram received is sent back, unchanged, to the address it came
//! from.
//!
//! What it shows:
//! - [`Udp::recv_start`], whose callback gets each [`Datagram`](rsuv::Datagram): its bytes
//!   (lent for the call), its sender and whether it was truncated (never here: the loop's
//!   receive buffer is larger than any UDP datagram);
//! - sending without a request or a copy when the socket takes the datagram at once
//!   ([`Udp::try_send`]), and queueing a copy with [`Udp::send`] when it does not (`EAGAIN`);
//! - a clean stop on SIGINT/SIGTERM with [`Signal`].
//!
//! Usage: `cargo run --example udp_echo 127.0.0.1:9000` (port 0 picks a free port). It prints
//! `listening on ADDR` with the address actually bound, then serves until stopped; errors go
//! to stderr. Try it with `nc -u 127.0.0.1 9000`.

use rsuv::{Error, Loop, RunMode, Udp};
use std::net::SocketAddr;
use std::process::ExitCode;

mod common;

fn main() -> ExitCode {
    common::main(
        "udp_echo",
        "ADDR   (for example 127.0.0.1:9000)",
        |[addr]| serve(addr),
    )
}

fn serve(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let lp = Loop::new()?;
    // Before saying we listen: whoever reads that line may send SIGTERM at once.
    let _signals = common::stop_on_signals(&lp)?;
    let socket = Udp::new(&lp)?;
    socket.bind(addr)?;
    socket.recv_start(|socket, received| match received {
        Ok(dgram) => echo(socket, dgram.data, dgram.addr),
        Err(e) => eprintln!("recv: {e}"),
    })?;
    common::announce(socket.sockname()?)?;

    lp.run(RunMode::Default)?;
    // Stopped by a signal: dropping the socket and the loop closes everything.
    Ok(())
}

fn echo(socket: &Udp, data: &[u8], to: SocketAddr) {
    let result = match socket.try_send(data, Some(to)) {
        Ok(_) => Ok(()),
        // The socket's buffer is full, or earlier datagrams are still queued: queue a copy
        // (behind them, so the order is kept).
        Err(Error::EAGAIN) => socket.send(data.to_vec(), Some(to), move |_, result| {
            match result {
                // ECANCELED: the socket was closed first (at exit).
                Err(e) if e != Error::ECANCELED => eprintln!("send to {to}: {e}"),
                _ => {}
            }
        }),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("send to {to}: {e}");
    }
}
