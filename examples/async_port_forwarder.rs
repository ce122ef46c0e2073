//! A TCP port forwarder written with `async`/`await` on `rsuv::rt`: each connection accepted on
//! LISTEN_ADDR is joined to a new connection to UPSTREAM_ADDR, and bytes are copied both ways.
//! The callback version is `port_forwarder`.
//!
//! What it shows:
//! - one task per client: it connects upstream ([`TcpStream::connect`]), then runs the two
//!   directions concurrently with `futures::try_join!`, each a `futures::io::copy` between
//!   split halves;
//! - backpressure for free: a copy reads nothing more while its write waits (the write side
//!   holds at most [`WRITE_HIGH`](rsuv::rt::WRITE_HIGH) bytes, the read side pauses at
//!   [`READ_HIGH`](rsuv::rt::READ_HIGH)), so memory stays bounded whatever the peers do;
//! - half-close: when one side ends its stream, `close()` on the other side's write half
//!   passes the end of stream on, and the other direction keeps flowing;
//! - teardown by dropping: a failed upstream connect or an error in either direction ends the
//!   task, and dropping its halves closes both connections;
//! - a clean stop on SIGINT/SIGTERM: `block_on` returns and the tasks are dropped.
//!
//! Usage: `cargo run --example async_port_forwarder 127.0.0.1:8000 127.0.0.1:9000` (port 0
//! picks a free port to listen on). It prints `listening on ADDR` with the address actually
//! bound, then serves until stopped; errors go to stderr.

use futures::AsyncWriteExt;
use rsuv::Tcp;
use rsuv::rt::{ReadHalf, TcpListener, TcpStream, WriteHalf, spawn_local};
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

mod common;

fn main() -> ExitCode {
    common::main(
        "async_port_forwarder",
        "LISTEN_ADDR UPSTREAM_ADDR   (for example 127.0.0.1:8000 127.0.0.1:9000)",
        |[listen, upstream]| serve(listen, upstream),
    )
}

fn serve(listen: SocketAddr, upstream: SocketAddr) -> common::Served {
    common::serve_async(listen, |l| accept_loop(l, upstream))
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((client, peer)) => spawn_local(async move {
                if let Err(e) = forward(client, upstream).await {
                    eprintln!("{peer}: {e}");
                }
            })
            .detach(),
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

async fn forward(client: TcpStream, upstream_addr: SocketAddr) -> io::Result<()> {
    let upstream = TcpStream::connect(upstream_addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("connect to {upstream_addr}: {e}")))?;
    let (client_reader, client_writer) = client.into_split();
    let (upstream_reader, upstream_writer) = upstream.into_split();
    // Both directions until both ended; the first error drops the other direction too.
    futures::try_join!(
        pipe(client_reader, upstream_writer),
        pipe(upstream_reader, client_writer),
    )?;
    Ok(())
}

/// One direction: copies until `from` ends its stream, then ends the stream of `to`.
async fn pipe(mut from: ReadHalf<Tcp>, mut to: WriteHalf<Tcp>) -> io::Result<()> {
    futures::io::copy(&mut from, &mut to).await?;
    to.close().await
}
