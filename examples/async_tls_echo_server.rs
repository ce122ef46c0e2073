//! A TLS echo server written with `async`/`await` on `rsuv::rt`: every byte a client sends
//! over TLS comes back to it, on any number of connections at once, all on one thread. The
//! callback version is `tls_echo_server`, with the same command line and behaviour.
//!
//! What it shows:
//! - [`AsyncTlsStream::server`] over an accepted [`TcpStream`], bounded by a handshake
//!   timeout ([`rsuv::rt::timeout`]), one task per connection ([`spawn_local`]);
//! - the stream as `futures::io::{AsyncRead, AsyncWrite}`: read plaintext, `write_all` it
//!   back (backpressure for free: nothing more is read while a write waits);
//! - a clean end: reading `Ok(0)` means the client's `close_notify`; `close()` sends ours
//!   after the last echo and shuts the socket's write side down;
//! - failures go to stderr and end that connection only;
//! - a clean stop on SIGINT/SIGTERM (`common::serve_async`): the tasks still running are
//!   dropped, which closes their connections.
//!
//! Usage: `cargo run --example async_tls_echo_server 127.0.0.1:9443 server.pem server.key`
//! (port 0 picks a free port). It prints `listening on ADDR`, then serves until stopped.
//! ALPN: it offers `http/1.1`.

use futures::{AsyncReadExt, AsyncWriteExt};
use rsuv::rt::{TcpListener, TcpStream, spawn_local, timeout};
use rsuv::tls::{AsyncTlsStream, HANDSHAKE_TIMEOUT, TlsContext, TlsError};
use std::io;
use std::process::ExitCode;

mod common;

fn main() -> ExitCode {
    common::main_with(
        "async_tls_echo_server",
        common::TLS_SERVER_USAGE,
        common::parse_tls_server,
        serve,
    )
}

fn serve(args: common::TlsServerArgs) -> common::Served {
    let ctx = TlsContext::server()
        .cert_chain_pem_file(&args.cert)
        .private_key_pem_file(&args.key)
        .alpn(&["http/1.1"])
        .build()?;
    common::serve_async(args.addr, |listener| accept_loop(listener, ctx))
}

async fn accept_loop(listener: TcpListener, ctx: TlsContext) {
    loop {
        match listener.accept().await {
            Ok((conn, peer)) => {
                let ctx = ctx.clone();
                spawn_local(async move {
                    if let Err(e) = echo(conn, &ctx).await {
                        eprintln!("{peer}: {e}");
                    }
                })
                .detach();
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

async fn echo(conn: TcpStream, ctx: &TlsContext) -> io::Result<()> {
    let handshake = AsyncTlsStream::server(conn, ctx);
    let mut tls = match timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return Err(io::Error::other(format!("handshake: {e}"))),
        Err(_) => return Err(io::Error::other(TlsError::Timeout)),
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Ok(0): the client's close_notify. A connection cut without one is an
        // UnexpectedEof error carrying TlsError::Truncated.
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        tls.write_all(&buf[..n]).await?;
    }
    // Our close_notify after the last echo; dropping the stream then closes the connection.
    tls.close().await
}
