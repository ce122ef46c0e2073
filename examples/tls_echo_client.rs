//! A TLS client on the callback API, for `tls_echo_server` (or any TLS echo): it sends each
//! line of its standard input and prints what comes back. The async version is
//! `async_tls_echo_client`.
//!
//! What it shows:
//! - a client [`TlsContext`] that trusts one CA file only (system roots off), and
//!   [`TlsStream::connect`] checking the server's certificate against a name (`localhost` by
//!   default, `--servername NAME` otherwise), which is also sent as SNI;
//! - [`TlsStream::info`]: the negotiated version, cipher and ALPN protocol;
//! - feeding the loop from a blocking thread: standard input is read on a thread of its own,
//!   whose lines reach the loop through an [`Async`] handle;
//! - a clean end of a TLS connection: at the end of input, [`TlsStream::shutdown`] sends
//!   `close_notify`; the client exits 0 once the server's own `close_notify` has arrived
//!   ([`TlsRead::Eof`]) after every echoed byte.
//!
//! Output: the echoed bytes on stdout, exactly as received; one line on stderr once connected,
//! `negotiated TLSv1.3 TLS_AES_256_GCM_SHA384 ALPN http/1.1`. Errors go to stderr with exit
//! status 1: `tls_echo_client: certificate verify failed: hostname mismatch`, `... unable to
//! get local issuer certificate`, `... connection closed without close_notify`, ...
//!
//! Usage: `printf 'hello\n' | cargo run --example tls_echo_client 127.0.0.1:9443 ca.pem
//! [--servername NAME]`.

use rsuv::tls::{TlsContext, TlsError, TlsRead, TlsStream};
use rsuv::{Async, Loop, RunMode};
use std::cell::RefCell;
use std::io::Write;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::mpsc;

mod common;

fn main() -> ExitCode {
    common::main_with(
        "tls_echo_client",
        common::TLS_CLIENT_USAGE,
        common::parse_tls_client,
        run,
    )
}

/// How the connection ended: `None` while it runs, then `Ok` after the server's
/// `close_notify`, or the first error.
type Outcome = Rc<RefCell<Option<Result<(), TlsError>>>>;

fn run(args: common::TlsClientArgs) -> common::Served {
    let ctx = TlsContext::client()
        .system_roots(false)
        .ca_pem_file(&args.ca)
        .alpn(&["http/1.1"])
        .build()?;
    let lp = Loop::new()?;
    let outcome: Outcome = Rc::default();

    // Lines from stdin arrive through a channel; the Async handle wakes the loop for them.
    // It is made (and so keeps the loop alive) once the handshake is done.
    let (tx, rx) = mpsc::channel::<Option<Vec<u8>>>();
    let input: Rc<RefCell<Option<Async>>> = Rc::default();

    let (out, inp) = (outcome.clone(), input.clone());
    let stream = TlsStream::connect(
        &lp.handle(),
        args.addr,
        &ctx,
        &args.servername,
        move |s, r| {
            if let Err(e) = r {
                return end(&out, &inp, s, Err(e));
            }
            if let Some(info) = s.info() {
                eprintln!("{}", common::negotiated(&info));
            }
            let (o, i) = (out.clone(), inp.clone());
            s.read_start(move |s, r| on_read(s, r, &o, &i));
            match start_input(s, rx, tx, &out) {
                Ok(handle) => *inp.borrow_mut() = Some(handle),
                Err(e) => end(&out, &inp, s, Err(TlsError::Io(e.into()))),
            }
        },
    )?;
    lp.run(RunMode::Default)?;
    drop(stream);
    drop(lp);
    let result = outcome.borrow_mut().take();
    match result {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(e.into()),
        None => Err("the loop ended before the connection".into()),
    }
}

/// Starts the stdin thread; each line it reads is written to the stream, and the end of input
/// sends `close_notify`.
fn start_input(
    s: &TlsStream,
    rx: mpsc::Receiver<Option<Vec<u8>>>,
    tx: mpsc::Sender<Option<Vec<u8>>>,
    outcome: &Outcome,
) -> rsuv::Result<Async> {
    let (stream, out) = (s.clone(), outcome.clone());
    let wake = Async::new(&s.tcp().loop_handle(), move |a| {
        while let Ok(line) = rx.try_recv() {
            let sent = match line {
                Some(line) => stream.write(&line, |_, _| {}),
                None => {
                    // The end of input: close_notify after the last line. Reading goes on
                    // until the server's own close_notify.
                    a.close();
                    stream.shutdown(|_, _| {})
                }
            };
            if let Err(e) = sent {
                set(&out, Err(e));
                a.close();
                stream.close();
                return;
            }
        }
    })?;
    let sender = wake.sender();
    common::stdin_lines(move |line| {
        // Both fail only once the client is done: then nobody wants the line.
        if tx.send(line).is_ok() {
            let _ = sender.send();
        }
    });
    Ok(wake)
}

fn on_read(s: &TlsStream, read: TlsRead<'_>, out: &Outcome, input: &Rc<RefCell<Option<Async>>>) {
    match read {
        TlsRead::Data(bytes) => {
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
                end(out, input, s, Err(TlsError::Io(e)));
            }
        }
        // The server's close_notify: a clean end. If it came first, answer it.
        TlsRead::Eof => {
            let sent = s.with_session(|session| Ok(session.close_notify_sent()));
            if let Ok(false) = sent {
                let _ = s.shutdown(|s, _| s.close());
                set(out, Ok(()));
                if let Some(a) = input.borrow_mut().take() {
                    a.close();
                }
            } else {
                end(out, input, s, Ok(()));
            }
        }
        TlsRead::Error(TlsError::Truncated) => end(
            out,
            input,
            s,
            Err(TlsError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed without close_notify",
            ))),
        ),
        TlsRead::Error(e) => end(out, input, s, Err(e)),
        _ => end(out, input, s, Err(TlsError::Closed)),
    }
}

/// Records how the connection ended (the first outcome wins) and closes everything, so that
/// the loop ends.
fn end(out: &Outcome, input: &Rc<RefCell<Option<Async>>>, s: &TlsStream, r: Result<(), TlsError>) {
    set(out, r);
    if let Some(a) = input.borrow_mut().take() {
        a.close();
    }
    s.close();
}

fn set(out: &Outcome, r: Result<(), TlsError>) {
    let mut slot = out.borrow_mut();
    if slot.is_none() {
        *slot = Some(r);
    }
}
