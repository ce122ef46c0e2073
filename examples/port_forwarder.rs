//! A TCP port forwarder: each connection accepted on LISTEN_ADDR is joined to a new connection
//! to UPSTREAM_ADDR, and bytes are copied both ways.
//!
//! What it shows:
//! - two handles that live and die together, owned by one `Rc<Link>` that their own callbacks
//!   keep alive until the link is closed;
//! - backpressure with [`Tcp::write_queue_size`] and write callbacks: reading from one side
//!   stops while more than `HIGH_WATER` bytes wait to be written to the other, and resumes once
//!   that has drained below `LOW_WATER`, so memory stays bounded whatever the peers do;
//! - half-close: end of stream from one side becomes [`Tcp::shutdown`] of the other (the
//!   other direction keeps flowing), and the link closes once both directions are done;
//! - failures (upstream refuses, a reset, a write error) closing both sides;
//! - a clean stop on SIGINT/SIGTERM with [`Signal`].
//!
//! Usage: `cargo run --example port_forwarder 127.0.0.1:8000 127.0.0.1:9000` (port 0 picks a
//! free port to listen on). It prints `listening on ADDR` with the address actually bound,
//! then serves until stopped; errors go to stderr.

use rsuv::{Error, Loop, RunMode, Tcp};
use std::cell::Cell;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;

mod common;

/// Stop reading a side once this many bytes wait to be written to the other side...
const HIGH_WATER: usize = 1 << 20;
/// ...and resume once no more than this many do.
const LOW_WATER: usize = 256 * 1024;

fn main() -> ExitCode {
    common::main(
        "port_forwarder",
        "LISTEN_ADDR UPSTREAM_ADDR   (for example 127.0.0.1:8000 127.0.0.1:9000)",
        |[listen, upstream]| serve(listen, upstream),
    )
}

fn serve(listen: SocketAddr, upstream: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let lp = Loop::new()?;
    // Before saying we listen: whoever reads that line may send SIGTERM at once.
    let _signals = common::stop_on_signals(&lp)?;
    let server = Tcp::new(&lp)?;
    server.bind(listen)?;
    server.listen(128, move |server, status| {
        match status.and_then(|()| server.accept()) {
            Ok(client) => forward(client, upstream),
            Err(e) => eprintln!("accept: {e}"),
        }
    })?;
    common::announce(server.sockname()?)?;

    lp.run(RunMode::Default)?;
    // Stopped by a signal. Dropping the loop closes every connection still open, which drops
    // the links (their callbacks go with their handles).
    drop(server);
    Ok(())
}

/// A client connection and its upstream connection. Side `i` is read from and its bytes are
/// written to side `1 - i`; that is "direction `i`".
struct Link {
    sides: [Tcp; 2],
    /// Reading side `i` is stopped until side `1 - i` drains.
    paused: [Cell<bool>; 2],
    /// Directions finished: end of stream read and passed on as a shutdown.
    finished: Cell<u8>,
}

const CLIENT: usize = 0;
const UPSTREAM: usize = 1;

fn forward(client: Tcp, upstream_addr: SocketAddr) {
    let upstream = match Tcp::new(&client.loop_handle()) {
        Ok(upstream) => upstream,
        Err(e) => return eprintln!("upstream: {e}"), // dropping `client` closes it
    };
    let link = Rc::new(Link {
        sides: [client, upstream],
        paused: Default::default(),
        finished: Cell::new(0),
    });
    // Nothing is read from the client before the upstream connection is up.
    let l = link.clone();
    let connecting = link.sides[UPSTREAM].connect(upstream_addr, move |_, result| match result {
        Ok(()) => {
            l.pump(CLIENT);
            l.pump(UPSTREAM);
        }
        Err(e) => l.fail(&format!("connect to {upstream_addr}"), e),
    });
    if let Err(e) = connecting {
        link.fail(&format!("connect to {upstream_addr}"), e);
    }
    // From here on `link` lives in the callbacks of its own handles (a cycle), until `close`
    // makes libuv drop them.
}

impl Link {
    /// Starts (or resumes) direction `from`.
    fn pump(self: &Rc<Self>, from: usize) {
        let link = self.clone();
        let started = self.sides[from].read_start(move |src, data| match data {
            Ok(bytes) => link.pass_on(from, src, bytes),
            Err(Error::EOF) => link.half_close(from),
            Err(e) => link.fail("read", e),
        });
        if let Err(e) = started {
            self.fail("read_start", e);
        }
    }

    fn pass_on(self: &Rc<Self>, from: usize, src: &Tcp, bytes: &[u8]) {
        let dst = &self.sides[1 - from];
        let link = self.clone();
        let written = dst.write(bytes.to_vec(), move |dst, result| match result {
            Ok(()) if link.paused[from].get() && dst.write_queue_size() <= LOW_WATER => {
                link.paused[from].set(false);
                link.pump(from);
            }
            Ok(()) => {}
            Err(e) => link.fail("write", e),
        });
        if let Err(e) = written {
            return self.fail("write", e);
        }
        if dst.write_queue_size() > HIGH_WATER {
            self.paused[from].set(true);
            if let Err(e) = src.read_stop() {
                self.fail("read_stop", e);
            }
        }
    }

    /// Side `from` sent its last byte: send ours to the other side once everything before it
    /// is written.
    fn half_close(self: &Rc<Self>, from: usize) {
        let link = self.clone();
        let shut = self.sides[1 - from].shutdown(move |_, result| match result {
            Err(e) => link.fail("shutdown", e),
            Ok(()) => {
                link.finished.set(link.finished.get() + 1);
                if link.finished.get() == 2 {
                    link.close();
                }
            }
        });
        if let Err(e) = shut {
            self.fail("shutdown", e);
        }
    }

    fn fail(&self, what: &str, e: Error) {
        // After `close`: ECANCELED for the requests still queued, CLOSED for calls made from
        // callbacks that libuv still runs (a write that completed just before the close).
        if e != Error::ECANCELED && e != Error::CLOSED {
            eprintln!("{what}: {e}");
        }
        self.close();
    }

    fn close(&self) {
        for side in &self.sides {
            side.close();
        }
    }
}
