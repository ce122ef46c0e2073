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

// ---- the TLS examples (`tls_echo_*`, `async_tls_echo_*`) ----

/// The TLS servers' command line: `ADDR CERT_PEM KEY_PEM`.
pub struct TlsServerArgs {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The certificate chain, PEM (own certificate first).
    pub cert: std::path::PathBuf,
    /// Its private key, PEM.
    pub key: std::path::PathBuf,
}

/// The TLS clients' command line: `ADDR CA_PEM [--servername NAME]`.
pub struct TlsClientArgs {
    /// The server.
    pub addr: SocketAddr,
    /// The CA certificates (PEM) the server's certificate must chain to.
    pub ca: std::path::PathBuf,
    /// The name checked against the server's certificate and sent as SNI.
    pub servername: String,
}

pub const TLS_SERVER_USAGE: &str =
    "ADDR CERT_PEM KEY_PEM   (for example 127.0.0.1:9443 server.pem server.key)";
pub const TLS_CLIENT_USAGE: &str = "ADDR CA_PEM [--servername NAME]   (for example 127.0.0.1:9443 ca.pem; NAME defaults to localhost)";

/// Like [`main`], with a command line parsed by `parse` (`None`: usage on stderr, exit 2).
pub fn main_with<T>(
    name: &str,
    usage: &str,
    parse: impl FnOnce(&[String]) -> Option<T>,
    run: impl FnOnce(T) -> Served,
) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(parsed) = parse(&args) else {
        eprintln!("usage: {name} {usage}");
        return ExitCode::from(2);
    };
    match run(parsed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn parse_tls_server(args: &[String]) -> Option<TlsServerArgs> {
    let [addr, cert, key] = args else { return None };
    Some(TlsServerArgs {
        addr: addr.parse().ok()?,
        cert: cert.into(),
        key: key.into(),
    })
}

pub fn parse_tls_client(args: &[String]) -> Option<TlsClientArgs> {
    let (servername, rest) = match args {
        [addr, ca] => ("localhost".to_owned(), [addr, ca]),
        [addr, ca, flag, name] if flag == "--servername" => (name.clone(), [addr, ca]),
        [flag, name, addr, ca] if flag == "--servername" => (name.clone(), [addr, ca]),
        _ => return None,
    };
    Some(TlsClientArgs {
        addr: rest[0].parse().ok()?,
        ca: rest[1].into(),
        servername,
    })
}

/// The one line a TLS client prints (on stderr) once connected: version, cipher, ALPN.
pub fn negotiated(info: &rsuv::tls::HandshakeInfo) -> String {
    let alpn = match &info.alpn {
        Some(p) => String::from_utf8_lossy(p).into_owned(),
        None => "none".to_owned(),
    };
    format!(
        "negotiated {} {} ALPN {alpn}{}",
        info.version,
        info.cipher,
        if info.session_reused {
            " (resumed)"
        } else {
            ""
        }
    )
}

/// Reads standard input on a thread of its own, one line (with its `\n`, bytes as they are)
/// at a time, and hands each to `send`; `None` at the end of input (or a read error).
/// Standard input may be a terminal, a pipe or a file: a plain blocking thread reads any of
/// them. The thread is not joined: if the program ends first, it ends with it.
pub fn stdin_lines(send: impl Fn(Option<Vec<u8>>) + Send + 'static) {
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => send(Some(line)),
            }
        }
        send(None);
    });
}
