//! A line-based chat server: every complete line a participant sends goes to all the other
//! participants.
//!
//! The protocol, as a client sees it:
//! - each line another participant sends arrives exactly as sent (any bytes, ending with
//!   `\n`), whole: a partial line is held back until its newline arrives; nothing is sent back
//!   to its sender;
//! - when a participant joins, the others get `* ADDR joined\n`; when it leaves, `* ADDR left\n`,
//!   where `ADDR` is its address as the server sees it (`127.0.0.1:40112`);
//! - a participant leaves by closing its connection (an unfinished last line is dropped); the
//!   server also drops one that sends a line longer than 64 KiB, or stops reading while more
//!   than 1 MiB waits to be sent to it.
//!
//! What it shows:
//! - shared state for callbacks (`Rc<RefCell<Room>>`), with each connection owned by the room:
//!   removing a participant drops its [`Tcp`], which closes it, even from inside its own read
//!   callback;
//! - one buffer written to many connections without copies (`Rc<[u8]>` as a write buffer);
//! - [`Tcp::write_queue_size`] to notice a participant that does not keep up;
//! - a clean stop on SIGINT/SIGTERM with [`Signal`].
//!
//! Usage: `cargo run --example chat_server 127.0.0.1:9000` (port 0 picks a free port). It prints
//! `listening on ADDR` with the address actually bound, then serves until stopped; errors go
//! to stderr. Try it with two or more `nc 127.0.0.1 9000`.

use rsuv::{Error, Loop, RunMode, Tcp};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;

mod common;

/// The longest line accepted, newline excluded.
const MAX_LINE: usize = 64 * 1024;
/// A participant with more than this waiting to be written to it is dropped.
const MAX_BACKLOG: usize = 1 << 20;

fn main() -> ExitCode {
    common::main(
        "chat_server",
        "ADDR   (for example 127.0.0.1:9000)",
        |[addr]| serve(addr),
    )
}

fn serve(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let lp = Loop::new()?;
    // Before saying we listen: whoever reads that line may send SIGTERM at once.
    let _signals = common::stop_on_signals(&lp)?;
    let room = Rc::new(RefCell::new(Room::default()));
    let server = Tcp::new(&lp)?;
    server.bind(addr)?;
    let r = room.clone();
    server.listen(128, move |server, status| {
        match status.and_then(|()| server.accept()) {
            Ok(conn) => join(&r, conn),
            Err(e) => eprintln!("accept: {e}"),
        }
    })?;
    common::announce(server.sockname()?)?;

    lp.run(RunMode::Default)?;
    // Stopped by a signal: close every connection, then the server; the loop's drop lets the
    // closes finish.
    room.borrow_mut().participants.clear();
    drop(server);
    Ok(())
}

struct Participant {
    /// Owned here: dropping the participant closes its connection.
    conn: Tcp,
    name: String,
    /// What it sent since its last newline.
    partial: Vec<u8>,
}

#[derive(Default)]
struct Room {
    participants: BTreeMap<u64, Participant>,
    next_id: u64,
}

fn join(room: &Rc<RefCell<Room>>, conn: Tcp) {
    let name = match conn.peername() {
        Ok(addr) => addr.to_string(),
        Err(e) => return eprintln!("peername: {e}"), // dropping `conn` closes it
    };
    let id = {
        let mut room = room.borrow_mut();
        room.next_id += 1;
        room.next_id
    };
    // The callback holds the room, and the room holds the connection (and so the callback):
    // a cycle, broken when the participant leaves and its connection closes.
    let r = room.clone();
    let started = conn.read_start(move |_, data| {
        let mut room = r.borrow_mut();
        match data {
            Ok(bytes) => room.received(id, bytes),
            Err(e) => {
                if e != Error::EOF {
                    eprintln!("read: {e}");
                }
                room.leave(id);
            }
        }
    });
    if let Err(e) = started {
        return eprintln!("read_start: {e}");
    }
    let mut room = room.borrow_mut();
    room.broadcast(id, format!("* {name} joined\n").into_bytes());
    let partial = Vec::new();
    room.participants.insert(
        id,
        Participant {
            conn,
            name,
            partial,
        },
    );
}

impl Room {
    fn received(&mut self, from: u64, bytes: &[u8]) {
        let Some(p) = self.participants.get_mut(&from) else {
            return;
        };
        p.partial.extend_from_slice(bytes);
        // The complete lines go out together, in one write to each participant.
        let lines = match p.partial.iter().rposition(|&b| b == b'\n') {
            Some(end) => p.partial.drain(..=end).collect(),
            None => Vec::new(),
        };
        let too_long = (p.partial.len() > MAX_LINE).then(|| p.name.clone());
        if !lines.is_empty() {
            self.broadcast(from, lines);
        }
        if let Some(name) = too_long {
            eprintln!("{name}: line too long, disconnected");
            self.leave(from);
        }
    }

    /// Sends `message` to everyone but `from`.
    fn broadcast(&mut self, from: u64, message: Vec<u8>) {
        // One buffer for all the writes, freed once the last of them is done.
        let message: Rc<[u8]> = message.into();
        let mut gone = Vec::new();
        for (&id, p) in self.participants.iter().filter(|&(&id, _)| id != from) {
            if p.conn.write_queue_size() > MAX_BACKLOG {
                eprintln!("{}: not reading, disconnected", p.name);
                gone.push(id);
            } else if let Err(e) = p.conn.write_nocb(message.clone()) {
                eprintln!("{}: write: {e}", p.name);
                gone.push(id);
            }
        }
        for id in gone {
            self.leave(id);
        }
    }

    fn leave(&mut self, id: u64) {
        if let Some(p) = self.participants.remove(&id) {
            drop(p.conn); // closes the connection
            self.broadcast(id, format!("* {} left\n", p.name).into_bytes());
        }
    }
}
