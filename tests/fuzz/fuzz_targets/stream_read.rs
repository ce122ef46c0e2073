//! The uv stream read path (a `Pipe` over a socketpair) fed bytes in pieces the input cuts,
//! with reading stopped and resumed, and switched between the loop's buffer and a sink's,
//! between the pieces. Whatever the cuts, the reader gets every byte once, in order, then one
//! EOF and nothing after it.
#![no_main]

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use rsuv::{Error, Loop, Pipe, ReadSink, RunMode};

/// A sink lending one buffer of a size the input chose (from 1 byte).
struct Sink(RefCell<Vec<u8>>);

// SAFETY: the buffer is only resized in `buffer` itself, so the memory it returns stays
// allocated, and untouched by anything else, until the next `buffer` call or the drop.
unsafe impl ReadSink for Sink {
    fn buffer(&self, _suggested: usize) -> (*mut u8, usize) {
        let mut b = self.0.borrow_mut();
        (b.as_mut_ptr(), b.len())
    }
}

#[derive(Default)]
struct Got {
    bytes: RefCell<Vec<u8>>,
    eofs: Cell<u32>,
    after_eof: Cell<bool>,
}

impl Got {
    fn take(&self, r: rsuv::Result<&[u8]>) {
        if self.eofs.get() > 0 {
            self.after_eof.set(true);
        }
        match r {
            Ok(chunk) => {
                assert!(!chunk.is_empty(), "an empty chunk is not a read");
                self.bytes.borrow_mut().extend_from_slice(chunk);
            }
            Err(Error::EOF) => self.eofs.set(self.eofs.get() + 1),
            Err(e) => panic!("read error {e:?}"),
        }
    }
}

/// Starts reading with a new callback (into the loop's buffer, or a sink of `sink_len`).
fn start(pipe: &Pipe, got: &Rc<Got>, sink_len: Option<usize>) -> rsuv::Result<()> {
    let g = got.clone();
    match sink_len {
        None => pipe.read_start(move |_, r| g.take(r)),
        Some(n) => {
            let sink = Rc::new(Sink(RefCell::new(vec![0; n])));
            let s = sink.clone();
            pipe.read_start_into(sink, move |_, r| match r {
                Ok(n) => g.take(Ok(&s.0.borrow()[..n])),
                Err(e) => g.take(Err(e)),
            })
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&script_len, rest)) = data.split_first() else {
        return;
    };
    let (script, payload) = rest.split_at(usize::from(script_len).min(rest.len()));
    let lp = Loop::new().unwrap();
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let pipe = Pipe::open(&lp, ours.into(), false).unwrap();
    let got = Rc::new(Got::default());
    start(&pipe, &got, None).unwrap();
    let mut sent = 0;
    for op in script.chunks(2) {
        let (code, arg) = (op[0], op.get(1).copied().unwrap_or(1));
        match code % 5 {
            // Send the next piece, 1 to 256 bytes.
            0 | 1 => {
                let n = (usize::from(arg) + 1).min(payload.len() - sent);
                theirs.write_all(&payload[sent..sent + n]).unwrap();
                sent += n;
            }
            2 => {
                lp.run(RunMode::NoWait).unwrap();
            }
            3 => {
                if pipe.is_reading() {
                    pipe.read_stop().unwrap();
                } else {
                    pipe.read_resume().unwrap();
                }
            }
            // Switch callbacks: refused while reading (the old one stays), taken once stopped.
            _ => {
                let sink = if arg % 2 == 0 {
                    None
                } else {
                    Some(usize::from(arg / 2) + 1)
                };
                if pipe.is_reading() {
                    assert_eq!(start(&pipe, &got, sink), Err(Error::EALREADY));
                    assert!(pipe.is_reading());
                    pipe.read_stop().unwrap();
                }
                start(&pipe, &got, sink).unwrap();
            }
        }
    }
    theirs.write_all(&payload[sent..]).unwrap();
    drop(theirs);
    if !pipe.is_reading() {
        pipe.read_resume().unwrap();
    }
    while got.eofs.get() == 0 {
        lp.run(RunMode::Once).unwrap();
    }
    assert_eq!(
        &got.bytes.borrow()[..],
        payload,
        "every byte once, in order"
    );
    assert_eq!(got.eofs.get(), 1);
    assert!(!got.after_eof.get(), "nothing after EOF");
    assert!(!pipe.is_reading(), "reading stops at EOF");
    drop(pipe);
    lp.run(RunMode::Default).unwrap();
    lp.close().unwrap();
});
