//! A TCP echo server: every byte a client sends comes back to it, on any number of connections
//! at once, all on one thread.
//!
//! What it shows:
//! - a listening [`Tcp`] whose connection callback accepts each client;
//! - connections that manage themselves: [`Tcp::detach`] hands the handle to the loop, and
//!   the connection's own callbacks close it (on EOF, on an error);
//! - callbacks that are plain `fn` items (they capture nothing, so nothing is allocated for
//!   them);
//! - backpressure: a client that sends faster than it reads is not read from until what was
//!   echoed to it has been written;
//! - a clean stop on SIGINT/SIGTERM with [`Signal`]: the loop stops, and dropping it closes
//!   every connection still open.
//!
//! Usage: `cargo run --example tcp_echo_server 127.0.0.1:9000` (port 0 picks a free port). It
//! prints `listening on ADDR` with the address actually bound, then serves until stopped;
//! errors go to stderr. Try it with `nc 127.0.0.1 9000`.

use rsuv::{Error, Loop, RunMode, Tcp};
use std::net::SocketAddr;
use std::process::ExitCode;

mod common;

/// Once this many echoed bytes wait to be written to a client, stop reading from it.
const HIGH_WATER: usize = 1 << 20;

fn main() -> ExitCode {
    common::main(
        "tcp_echo_server",
        "ADDR   (for example 127.0.0.1:9000)",
        |[addr]| serve(addr),
    )
}

fn serve(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let lp = Loop::new()?;
    // Before saying we listen: whoever reads that line may send SIGTERM at once.
    let _signals = common::stop_on_signals(&lp)?;
    let server = Tcp::new(&lp)?;
    server.bind(addr)?;
    server.listen(128, on_connection)?;
    common::announce(server.sockname()?)?;

    lp.run(RunMode::Default)?;
    // Stopped by a signal. Dropping the server and then the loop closes every connection.
    drop(server);
    Ok(())
}

fn on_connection(server: &Tcp, status: rsuv::Result<()>) {
    let conn = match status.and_then(|()| server.accept()) {
        Ok(conn) => conn,
        Err(e) => return eprintln!("accept: {e}"),
    };
    match conn.read_start(on_read) {
        // From now on the connection closes itself (see `on_read`, `on_written`).
        Ok(()) => conn.detach(),
        Err(e) => eprintln!("read_start: {e}"), // dropping `conn` closes it
    }
}

fn on_read(conn: &Tcp, data: rsuv::Result<&[u8]>) {
    match data {
        Ok(bytes) => {
            // The bytes are lent for this call only: the write gets its own copy.
            let queued = if conn.write_queue_size() < HIGH_WATER {
                conn.write(bytes.to_vec(), on_written)
            } else {
                // The client is not reading its echo: stop reading until this write, the last
                // one queued, is done (writes complete in order, so the queue has drained).
                conn.read_stop()
                    .and_then(|()| conn.write(bytes.to_vec(), resume_reading))
            };
            if let Err(e) = queued {
                eprintln!("write: {e}");
                conn.close();
            }
        }
        // The client has finished sending: finish writing, send our FIN, then close.
        Err(Error::EOF) => {
            if conn.shutdown(|conn, _| conn.close()).is_err() {
                conn.close();
            }
        }
        Err(e) => {
            eprintln!("read: {e}");
            conn.close();
        }
    }
}

fn on_written(conn: &Tcp, result: rsuv::Result<()>) {
    if let Err(e) = result {
        if e != Error::ECANCELED {
            eprintln!("write: {e}"); // ECANCELED: the connection was closed meanwhile
        }
        conn.close();
    }
}

fn resume_reading(conn: &Tcp, result: rsuv::Result<()>) {
    on_written(conn, result);
    // A write that finished just before the connection was closed still reports `Ok`.
    if result.is_ok() && !conn.is_closing() {
        if let Err(e) = conn.read_start(on_read) {
            eprintln!("read_start: {e}");
            conn.close();
        }
    }
}
