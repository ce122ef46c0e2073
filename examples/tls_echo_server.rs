//! A TLS echo server on the callback API: every byte a client sends over TLS comes back to
//! it, on any number of connections at once, all on one thread. The async version is
//! `async_tls_echo_server`; the client is `tls_echo_client`.
//!
//! What it shows:
//! - a [`TlsContext`] built once from PEM files and shared by every connection;
//! - [`TlsStream::accept`] in the listener's connection callback: the handshake runs on the
//!   loop, and its callback starts reading plaintext with [`TlsStream::read_start`];
//! - backpressure: a client that does not read its echo is not read from once 1 MiB waits
//!   for it ([`TlsStream::write_queue_size`], [`TlsStream::read_stop`]);
//! - a clean end: the client's `close_notify` ([`TlsRead::Eof`]) is answered with ours
//!   ([`TlsStream::shutdown`]), then the connection is closed;
//! - failures (a handshake refused, a peer that is not speaking TLS, a connection cut without
//!   `close_notify`) are reported on stderr and close that connection only;
//! - a clean stop on SIGINT/SIGTERM: the server closes the connections it still has.
//!
//! Usage: `cargo run --example tls_echo_server 127.0.0.1:9443 server.pem server.key` (port 0
//! picks a free port; `make demo` makes certificates with `cargo run --example make_certs`).
//! It prints `listening on ADDR` with the address actually bound, then serves until stopped;
//! errors go to stderr. ALPN: it offers `http/1.1`. Try it with `tls_echo_client`, or
//! `openssl s_client -connect 127.0.0.1:9443 -CAfile ca.pem`.

use rsuv::tls::{TlsContext, TlsError, TlsRead, TlsStream};
use rsuv::{Loop, RunMode, Tcp};
use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;

mod common;

/// Once this many echoed bytes wait to be written to a client, stop reading from it.
const HIGH_WATER: usize = 1 << 20;

fn main() -> ExitCode {
    common::main_with(
        "tls_echo_server",
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
    let lp = Loop::new()?;
    // Before saying we listen: whoever reads that line may send SIGTERM at once.
    let _signals = common::stop_on_signals(&lp)?;
    // The open connections, to close them when stopped (a stream that is closed by its own
    // callbacks is forgotten at the next connection).
    let conns: Rc<RefCell<Vec<TlsStream>>> = Rc::default();
    let server = Tcp::new(&lp)?;
    server.bind(args.addr)?;
    let c = conns.clone();
    server.listen(128, move |server, status| {
        on_connection(server, status, &ctx, &c)
    })?;
    common::announce(server.sockname()?)?;

    lp.run(RunMode::Default)?;
    // Stopped by a signal.
    for conn in conns.borrow_mut().drain(..) {
        conn.close();
    }
    drop(server);
    Ok(())
}

fn on_connection(
    server: &Tcp,
    status: rsuv::Result<()>,
    ctx: &TlsContext,
    conns: &RefCell<Vec<TlsStream>>,
) {
    if let Err(e) = status {
        return eprintln!("accept: {e}");
    }
    match TlsStream::accept(server, ctx, on_handshake) {
        Ok(conn) => {
            let mut conns = conns.borrow_mut();
            conns.retain(|c| !c.is_closed());
            conns.push(conn);
        }
        Err(e) => eprintln!("accept: {e}"),
    }
}

fn on_handshake(conn: &TlsStream, result: Result<(), TlsError>) {
    match result {
        Ok(()) => conn.read_start(on_read),
        // The stream is closed already (after sending the alert, if any).
        Err(e) => eprintln!("{}: handshake: {e}", peer(conn)),
    }
}

fn on_read(conn: &TlsStream, read: TlsRead<'_>) {
    match read {
        TlsRead::Data(bytes) => {
            if conn.write_queue_size() >= HIGH_WATER {
                // The client is not reading its echo: stop reading until this write, the last
                // one queued, is done (writes complete in order).
                conn.read_stop();
                if let Err(e) = conn.write(bytes, resume_reading) {
                    eprintln!("{}: write: {e}", peer(conn));
                    conn.close();
                }
            } else if let Err(e) = conn.write(bytes, on_written) {
                eprintln!("{}: write: {e}", peer(conn));
                conn.close();
            }
        }
        // The client's close_notify: send ours after the last echo, then close.
        TlsRead::Eof => {
            if conn.shutdown(|conn, _| conn.close()).is_err() {
                conn.close();
            }
        }
        TlsRead::Error(e) => {
            eprintln!("{}: {e}", peer(conn));
            conn.close();
        }
        _ => conn.close(),
    }
}

fn on_written(conn: &TlsStream, result: Result<(), TlsError>) {
    if let Err(e) = result {
        if !matches!(e, TlsError::Closed) {
            eprintln!("{}: write: {e}", peer(conn));
        }
        conn.close();
    }
}

fn resume_reading(conn: &TlsStream, result: Result<(), TlsError>) {
    let ok = result.is_ok();
    on_written(conn, result);
    if ok && !conn.is_closed() {
        conn.read_start(on_read);
    }
}

fn peer(conn: &TlsStream) -> String {
    match conn.tcp().peername() {
        Ok(addr) => addr.to_string(),
        Err(_) => "client".to_owned(),
    }
}
