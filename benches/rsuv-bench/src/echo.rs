//! The echo comparison (issue 4): the same echo server written three ways, to be compared with
//! each other and with libuv's C echo server (test/echo-server.c) under one load client
//! (`echo_client.rs`).
//!
//! All of them listen on `127.0.0.1:9123` (libuv's `TEST_PORT`, where echo-server.c listens),
//! set `TCP_NODELAY` on each accepted connection (`benches/run.py` gives the C server the same
//! with an `LD_PRELOAD` shim, `benches/nodelay.c`) and echo every read with one write. The
//! callback server reads into rsuv's per-loop 256 KiB buffer (rsuv's fixed design); the
//! task-per-connection servers read into a buffer of the same 256 KiB, so that the three Rust
//! servers make the same system calls for the same bytes (rsuv::rt reads from the socket into
//! that same loop buffer too). echo-server.c reads 64 KiB at a time (libuv's suggested size,
//! malloc'd per read).
//!
//! ```text
//! rsuv-bench echo_server async|callback|tokio [PORT]    # prints `ready` once it listens
//! ```

use std::net::SocketAddr;

use futures::{AsyncReadExt, AsyncWriteExt};
use rsuv::{Error, Loop, RunMode, Tcp};

use crate::{TEST_PORT, notify_parent_process};

/// Bytes per read for the task-per-connection servers: the size of rsuv's per-loop read buffer,
/// which the callback server reads into (echo-server.c: 64 KiB per read).
pub const READ_BUF: usize = 256 * 1024;
/// Listen backlog of the Rust servers (tokio's and `rsuv::rt::TcpListener`'s fixed value;
/// echo-server.c uses `SOMAXCONN`). The benchmark opens at most 50 connections, before its
/// clock starts.
const BACKLOG: i32 = 1024;

pub const SERVERS: &[&str] = &["async", "async-buf", "callback", "tokio"];

pub fn server(kind: &str, port: Option<&str>) {
    let port = port.map_or(TEST_PORT, |p| p.parse().expect("port"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match kind {
        "async" => server_async(addr, false),
        "async-buf" => server_async(addr, true),
        "callback" => server_callback(addr),
        "tokio" => server_tokio(addr),
        _ => crate::usage(),
    }
}

// ---- rsuv::rt: a task per connection ----

/// `lend`: echo with `AsyncBufRead` (write straight from the stream's buffer, no copy) instead
/// of `read` into the task's buffer.
fn server_async(addr: SocketAddr, lend: bool) {
    let rt = rsuv::rt::Runtime::new().unwrap();
    rt.block_on(async {
        let listener = rsuv::rt::TcpListener::bind(addr).unwrap();
        notify_parent_process();
        loop {
            let (conn, _) = listener.accept().await.unwrap();
            if lend {
                rsuv::rt::spawn_local(echo_async_buf(conn)).detach();
            } else {
                rsuv::rt::spawn_local(echo_async(conn)).detach();
            }
        }
    })
}

async fn echo_async(mut conn: rsuv::rt::TcpStream) {
    conn.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let n = match conn.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                eprintln!("echo_server async: read: {e}");
                return;
            }
        };
        if let Err(e) = conn.write_all(&buf[..n]).await {
            eprintln!("echo_server async: write: {e}");
            return;
        }
    }
    let _ = conn.close().await; // EOF to the client, as echo-server.c's uv_shutdown
}

async fn echo_async_buf(conn: rsuv::rt::TcpStream) {
    use futures::AsyncBufReadExt;
    conn.set_nodelay(true).unwrap();
    let (mut r, mut w) = conn.into_split();
    loop {
        let n = match r.fill_buf().await {
            Ok([]) => break,
            Ok(data) => match w.write_all(data).await {
                Ok(()) => data.len(),
                Err(e) => {
                    eprintln!("echo_server async-buf: write: {e}");
                    return;
                }
            },
            Err(e) => {
                eprintln!("echo_server async-buf: read: {e}");
                return;
            }
        };
        r.consume_unpin(n);
    }
    let _ = w.close().await;
}

// ---- tokio, current-thread runtime: the same logic ----

fn server_tokio(addr: SocketAddr) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        notify_parent_process();
        loop {
            let (mut conn, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                conn.set_nodelay(true).unwrap();
                let mut buf = vec![0u8; READ_BUF];
                loop {
                    let n = match conn.read(&mut buf).await {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) => {
                            eprintln!("echo_server tokio: read: {e}");
                            return;
                        }
                    };
                    if let Err(e) = conn.write_all(&buf[..n]).await {
                        eprintln!("echo_server tokio: write: {e}");
                        return;
                    }
                }
                let _ = conn.shutdown().await;
            });
        }
    })
}

// ---- rsuv callback API: read_start → write_copy ----

fn server_callback(addr: SocketAddr) {
    let lp = Loop::new().unwrap();
    let server = Tcp::new(&lp).unwrap();
    server.bind(addr).unwrap();
    server
        .listen(BACKLOG, |server, status| {
            status.unwrap();
            let conn = server.accept().unwrap();
            conn.set_nodelay(true).unwrap();
            conn.read_start(echo_read).unwrap();
            conn.detach();
        })
        .unwrap();
    notify_parent_process();
    lp.run(RunMode::Default).unwrap();
}

/// Echoes a read: what the socket takes now straight from the loop's read buffer
/// (`try_write`), a queued copy of the rest (`write_copy` does both). No backpressure, as in
/// echo-server.c: the load client bounds what it has in flight.
fn echo_read(conn: &Tcp, nread: rsuv::Result<&[u8]>) {
    match nread {
        Ok(data) => {
            if let Err(e) = conn.write_copy(data) {
                eprintln!("echo_server callback: write: {e}");
                conn.close();
            }
        }
        Err(Error::EOF) => {
            if conn.shutdown(|conn, _| conn.close()).is_err() {
                conn.close();
            }
        }
        Err(e) => {
            eprintln!("echo_server callback: read: {e}");
            conn.close();
        }
    }
}
