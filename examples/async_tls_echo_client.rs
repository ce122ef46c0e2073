//! A TLS client written with `async`/`await` on `rsuv::rt`, for `async_tls_echo_server` (or
//! any TLS echo): it sends each line of its standard input and prints what comes back. The
//! callback version is `tls_echo_client`, with the same command line, output and exit codes.
//!
//! What it shows:
//! - [`AsyncTlsStream::connect`] with a client [`TlsContext`] that trusts one CA file only;
//! - one task driving both directions of one stream without splitting it: a `poll_fn` polls
//!   the read side, the lines from stdin and the write side in turn, so a large input never
//!   blocks reading the echo (no deadlock when both ways fill up);
//! - a clean end: at the end of input `poll_close` sends `close_notify`; reading `Ok(0)` (the
//!   server's `close_notify`) ends the client with exit status 0.
//!
//! Output: the echoed bytes on stdout; `negotiated VERSION CIPHER ALPN PROTO` on stderr once
//! connected; errors on stderr with exit status 1 (`async_tls_echo_client: certificate verify
//! failed: hostname mismatch`, `... connection closed without close_notify`, ...).
//!
//! Usage: `printf 'hello\n' | cargo run --example async_tls_echo_client 127.0.0.1:9443 ca.pem
//! [--servername NAME]`.

use futures::channel::mpsc;
use futures::io::{AsyncRead, AsyncWrite};
use futures::{Stream, StreamExt};
use rsuv::rt::{Runtime, TcpStream};
use rsuv::tls::{AsyncTlsStream, TlsContext};
use std::io::{self, Write};
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};

mod common;

fn main() -> ExitCode {
    common::main_with(
        "async_tls_echo_client",
        common::TLS_CLIENT_USAGE,
        common::parse_tls_client,
        run,
    )
}

fn run(args: common::TlsClientArgs) -> common::Served {
    let ctx = TlsContext::client()
        .system_roots(false)
        .ca_pem_file(&args.ca)
        .alpn(&["http/1.1"])
        .build()?;
    let rt = Runtime::new()?;
    rt.block_on(async {
        let mut tls = AsyncTlsStream::connect(args.addr, &ctx, &args.servername).await?;
        if let Some(info) = tls.info() {
            eprintln!("{}", common::negotiated(info));
        }
        let (tx, rx) = mpsc::unbounded();
        common::stdin_lines(move |line| {
            let _ = tx.unbounded_send(line); // fails only once the client is done
        });
        let mut pump = Pump {
            lines: rx
                .take_while(|l| std::future::ready(l.is_some()))
                .map(Option::unwrap),
            pending: Vec::new(),
            input_done: false,
            closed: false,
            peer_closed: false,
            buf: vec![0u8; 64 * 1024],
        };
        std::future::poll_fn(|cx| pump.poll(cx, &mut tls)).await
    })?;
    Ok(())
}

/// Both directions of the connection, polled in one task.
struct Pump<L> {
    lines: L,
    /// Bytes of the current line not yet accepted by the stream.
    pending: Vec<u8>,
    input_done: bool,
    /// Our close_notify is sent.
    closed: bool,
    /// The server's close_notify arrived.
    peer_closed: bool,
    buf: Vec<u8>,
}

impl<L: Stream<Item = Vec<u8>> + Unpin> Pump<L> {
    /// Ready once the server's close_notify has arrived (`Ok`), or at the first error.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        tls: &mut AsyncTlsStream<TcpStream>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut progress = false;
            // The echo: print whatever arrived; Ok(0) is the server's close_notify.
            match Pin::new(&mut *tls).poll_read(cx, &mut self.buf) {
                Poll::Ready(Ok(0)) if self.closed => return Poll::Ready(Ok(())),
                // The server closed first: answer with ours, then end.
                Poll::Ready(Ok(0)) => {
                    self.peer_closed = true;
                    self.input_done = true;
                    self.pending.clear();
                }
                Poll::Ready(Ok(n)) => {
                    let mut out = io::stdout().lock();
                    out.write_all(&self.buf[..n])?;
                    out.flush()?;
                    progress = true;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Poll::Ready(Err(io::Error::new(
                        e.kind(),
                        "connection closed without close_notify",
                    )));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
            // The next line of input, once the previous one is written.
            if self.pending.is_empty() && !self.input_done {
                match self.lines.poll_next_unpin(cx) {
                    Poll::Ready(Some(line)) => {
                        self.pending = line;
                        progress = true;
                    }
                    Poll::Ready(None) => {
                        self.input_done = true;
                        progress = true;
                    }
                    Poll::Pending => {}
                }
            }
            if !self.pending.is_empty() {
                if let Poll::Ready(n) = Pin::new(&mut *tls).poll_write(cx, &self.pending)? {
                    self.pending.drain(..n);
                    progress = true;
                }
            } else if self.input_done && !self.closed {
                // The end of input: close_notify after the last line; keep reading.
                if let Poll::Ready(()) = Pin::new(&mut *tls).poll_close(cx)? {
                    self.closed = true;
                    progress = true;
                    if self.peer_closed {
                        return Poll::Ready(Ok(()));
                    }
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }
}
