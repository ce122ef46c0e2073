//! A TCP echo server written with `async`/`await` on `rsuv::rt`: every byte a client sends
//! comes back to it, on any number of connections at once, all on one thread. The callback
//! version is `tcp_echo_server`.
//!
//! What it shows:
//! - a [`Runtime`] whose [`block_on`](Runtime::block_on) runs the accept loop, and one task per
//!   connection started with [`spawn_local`] (detached: it ends on its own);
//! - [`TcpStream::into_split`] and `futures::io::copy` from the read half to the write half;
//! - backpressure for free: `copy` asks for nothing more while its write waits (a stream
//!   queues at most [`WRITE_HIGH`](rsuv::rt::WRITE_HIGH) bytes), and a stream stops reading
//!   from its socket once [`READ_HIGH`](rsuv::rt::READ_HIGH) bytes wait, so a client that
//!   does not read its echo is not read from either;
//! - half-close: the client's end of stream ends the copy, then `close()` flushes what is left
//!   and sends ours;
//! - a clean stop on SIGINT/SIGTERM: the signal future wins the race against the accept loop,
//!   `block_on` returns, and the tasks still running are dropped, which closes their
//!   connections.
//!
//! Usage: `cargo run --example async_echo 127.0.0.1:9000` (port 0 picks a free port). It prints
//! `listening on ADDR` with the address actually bound, then serves until stopped; errors go to
//! stderr. Try it with `nc 127.0.0.1 9000`.

use futures::AsyncWriteExt;
use rsuv::rt::{TcpListener, TcpStream, spawn_local};
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

mod common;

fn main() -> ExitCode {
    common::main(
        "async_echo",
        "ADDR   (for example 127.0.0.1:9000)",
        |[addr]| serve(addr),
    )
}

fn serve(addr: SocketAddr) -> common::Served {
    common::serve_async(addr, accept_loop)
}

async fn accept_loop(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((conn, peer)) => spawn_local(async move {
                if let Err(e) = echo(conn).await {
                    eprintln!("{peer}: {e}");
                }
            })
            .detach(),
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

async fn echo(conn: TcpStream) -> io::Result<()> {
    let (mut reader, mut writer) = conn.into_split();
    // Until the client's end of stream (or an error).
    futures::io::copy(&mut reader, &mut writer).await?;
    // Write what is still queued, then send our end of stream. Dropping both halves (here, at
    // the end of the task) closes the connection.
    writer.close().await
}
