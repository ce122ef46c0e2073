//! A line-based chat server written with `async`/`await` on `rsuv::rt`: every complete line a
//! participant sends goes to all the other participants. The callback version is
//! `chat_server`, and the protocol is the same:
//! - each line another participant sends arrives exactly as sent (any bytes, ending with
//!   `\n`), whole: a partial line is held back until its newline arrives; nothing is sent back
//!   to its sender;
//! - when a participant joins, the others get `* ADDR joined\n`; when it leaves, `* ADDR left\n`,
//!   where `ADDR` is its address as the server sees it (`127.0.0.1:40112`);
//! - a participant leaves by closing its connection (an unfinished last line is dropped); the
//!   server also drops one that sends a line longer than 64 KiB, or lets more than 1 MiB pile
//!   up for it without reading.
//!
//! What it shows:
//! - one task per participant, which reads lines and writes what the others said at the same
//!   time (`futures::select!` over the two halves of its connection);
//! - a room shared by the tasks (`Rc<RefCell<Room>>`: one thread, so no locks), which gives each
//!   participant an outbox (a `futures::channel::mpsc` channel) that its task drains;
//! - lines read with `AsyncBufReadExt::read_until` over a `BufReader`, bounded with `take`;
//! - a slow participant that cannot block the others: broadcasting never waits, it counts the
//!   bytes waiting in each outbox and drops a participant whose backlog is too large, stopping
//!   its task with an `AbortHandle` (which closes its connection);
//! - one buffer sent to many participants without copies (`Rc<[u8]>`);
//! - a clean stop on SIGINT/SIGTERM: `block_on` returns and the tasks are dropped.
//!
//! Usage: `cargo run --example async_chat 127.0.0.1:9000` (port 0 picks a free port). It prints
//! `listening on ADDR` with the address actually bound, then serves until stopped; errors go to
//! stderr. Try it with two or more `nc 127.0.0.1 9000`.

use futures::channel::mpsc::{self, UnboundedReceiver, UnboundedSender};
use futures::future::{AbortHandle, Abortable};
use futures::io::BufReader;
use futures::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, FutureExt, StreamExt};
use rsuv::Tcp;
use rsuv::rt::{ReadHalf, TcpListener, TcpStream, WriteHalf, spawn_local};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;

mod common;

/// The longest line accepted, newline excluded.
const MAX_LINE: usize = 64 * 1024;
/// A participant with more than this waiting in its outbox is dropped.
const MAX_BACKLOG: usize = 1 << 20;

fn main() -> ExitCode {
    common::main(
        "async_chat",
        "ADDR   (for example 127.0.0.1:9000)",
        |[addr]| serve(addr),
    )
}

fn serve(addr: SocketAddr) -> common::Served {
    common::serve_async(addr, accept_loop)
}

async fn accept_loop(listener: TcpListener) {
    let room = Rc::new(RefCell::new(Room::default()));
    loop {
        match listener.accept().await {
            Ok((conn, peer)) => {
                let (outbox, inbox) = mpsc::unbounded();
                // The room stops the task (and so closes the connection) with `stop`.
                let (stop, registration) = AbortHandle::new_pair();
                let id = room.borrow_mut().join(peer.to_string(), outbox, stop);
                let task = participant(room.clone(), id, conn, inbox);
                spawn_local(Abortable::new(task, registration)).detach();
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

/// A participant's task: lines from its connection go to the room, and its outbox to its
/// connection, until either side ends (or the room aborts the task).
async fn participant(room: Rc<RefCell<Room>>, id: u64, conn: TcpStream, inbox: Inbox) {
    let (reader, writer) = conn.into_split();
    let ended = futures::select! {
        r = read_lines(&room, id, reader).fuse() => r,
        r = write_out(&room, id, inbox, writer).fuse() => r,
    };
    let mut room = room.borrow_mut();
    if let (Err(e), Some(p)) = (ended, room.participants.get(&id)) {
        eprintln!("{}: {e}", p.name);
    }
    room.leave(id);
}

async fn read_lines(room: &RefCell<Room>, id: u64, reader: ReadHalf<Tcp>) -> io::Result<()> {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        // The longest line and its newline: a line still unfinished after that is too long.
        let mut limited = (&mut reader).take(MAX_LINE as u64 + 1);
        limited.read_until(b'\n', &mut line).await?;
        if line.last() != Some(&b'\n') {
            if line.len() > MAX_LINE {
                return Err(io::Error::other("line too long, disconnected"));
            }
            return Ok(()); // end of stream; an unfinished line is dropped
        }
        let mut room = room.borrow_mut();
        if !room.participants.contains_key(&id) {
            return Ok(()); // dropped meanwhile (this task is aborted at its next poll)
        }
        room.broadcast(id, line.as_slice().into());
    }
}

async fn write_out(
    room: &RefCell<Room>,
    id: u64,
    mut inbox: Inbox,
    mut writer: WriteHalf<Tcp>,
) -> io::Result<()> {
    while let Some(message) = inbox.next().await {
        writer.write_all(&message).await?;
        room.borrow_mut().sent(id, message.len());
    }
    Ok(())
}

/// A participant's queue of messages; `Rc<[u8]>`: one buffer for all the recipients.
type Inbox = UnboundedReceiver<Rc<[u8]>>;

/// Who is in the room, in joining order.
#[derive(Default)]
struct Room {
    participants: BTreeMap<u64, Participant>,
    next_id: u64,
}

struct Participant {
    /// Its address as the server sees it.
    name: String,
    outbox: UnboundedSender<Rc<[u8]>>,
    /// Bytes in `outbox`, not yet handed to its connection.
    backlog: usize,
    task: AbortHandle,
}

impl Room {
    fn join(&mut self, name: String, outbox: UnboundedSender<Rc<[u8]>>, task: AbortHandle) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.broadcast(id, format!("* {name} joined\n").into_bytes().into());
        let p = Participant {
            name,
            outbox,
            backlog: 0,
            task,
        };
        self.participants.insert(id, p);
        id
    }

    /// Sends `message` to everyone but `from`, dropping whoever lets too much pile up.
    fn broadcast(&mut self, from: u64, message: Rc<[u8]>) {
        let mut gone = Vec::new();
        for (&id, p) in self.participants.iter_mut().filter(|(id, _)| **id != from) {
            if p.backlog > MAX_BACKLOG {
                eprintln!("{}: not reading, disconnected", p.name);
                gone.push(id);
            } else if p.outbox.unbounded_send(message.clone()).is_ok() {
                p.backlog += message.len();
            }
        }
        for id in gone {
            self.leave(id);
        }
    }

    /// `len` bytes of participant `id`'s outbox were handed to its connection.
    fn sent(&mut self, id: u64, len: usize) {
        if let Some(p) = self.participants.get_mut(&id) {
            p.backlog -= len;
        }
    }

    /// Removes participant `id` and stops its task, which closes its connection (nothing
    /// more happens if the task itself is leaving).
    fn leave(&mut self, id: u64) {
        if let Some(p) = self.participants.remove(&id) {
            p.task.abort();
            self.broadcast(id, format!("* {} left\n", p.name).into_bytes().into());
        }
    }
}
