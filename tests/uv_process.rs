//! Process: exit codes, signals, stdio pipes both ways, inherited descriptors, environment,
//! working directory, uid/gid, detached sessions, spawn failures.

mod support;

use rsuv::{Error, ExitStatus, Loop, Pipe, Process, ProcessOptions, RunMode, Stdio};
use std::cell::RefCell;
use std::io::Read;
use std::os::fd::AsFd;
use std::rc::Rc;

type Slot<T> = Rc<RefCell<Option<T>>>;

/// Spawns `opts`, collects stdout through a pipe, runs the loop; returns (status, stdout).
fn run(opts: ProcessOptions<'_>, lp: &Loop, out: &Pipe) -> (ExitStatus, Vec<u8>) {
    let status: Slot<ExitStatus> = Rc::default();
    let s = status.clone();
    let child = Process::spawn(lp, &opts, move |p, st| {
        *s.borrow_mut() = Some(st);
        p.close();
    })
    .unwrap();
    assert!(child.pid() > 0);
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    out.read_start(move |out, data| match data {
        Ok(bytes) => g.borrow_mut().extend_from_slice(bytes),
        Err(_) => out.close(),
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    drop(child);
    let st = status.borrow().expect("exit callback ran");
    (st, got.take())
}

fn sh(script: &str) -> ProcessOptions<'static> {
    ProcessOptions::new("/bin/sh").arg("-c").arg(script)
}

#[test]
fn exit_codes_and_stdout() {
    let lp = Loop::new().unwrap();
    let out = Pipe::new(&lp, false).unwrap();
    let (st, text) = run(
        sh("echo out; exit 3").stdio(1, Stdio::Pipe(&out)),
        &lp,
        &out,
    );
    assert_eq!(
        (st.code(), st.signal(), st.success()),
        (Some(3), None, false)
    );
    assert_eq!(text, b"out\n");
    let out = Pipe::new(&lp, false).unwrap();
    let (st, _) = run(
        ProcessOptions::new("true").stdio(1, Stdio::Pipe(&out)),
        &lp,
        &out,
    );
    assert!(st.success());
    drop(out);
    support::finish(lp);
}

#[test]
fn stdin_pipe_in_and_stdout_pipe_out() {
    let lp = Loop::new().unwrap();
    let (input, out) = (
        Pipe::new(&lp, false).unwrap(),
        Pipe::new(&lp, false).unwrap(),
    );
    let opts = ProcessOptions::new("cat")
        .stdio(0, Stdio::Pipe(&input))
        .stdio(1, Stdio::Pipe(&out));
    let status: Slot<ExitStatus> = Rc::default();
    let s = status.clone();
    let child = Process::spawn(&lp, &opts, move |p, st| {
        *s.borrow_mut() = Some(st);
        p.close();
    })
    .unwrap();
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    input
        .write(payload.clone(), |input, r| {
            r.unwrap();
            input.shutdown(|input, _| input.close()).unwrap();
        })
        .unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    out.read_start(move |out, data| match data {
        Ok(bytes) => g.borrow_mut().extend_from_slice(bytes),
        Err(e) => {
            assert_eq!(e, Error::EOF);
            out.close();
        }
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert!(status.borrow().unwrap().success());
    assert_eq!(*got.borrow(), payload, "cat echoed every byte");
    drop((child, input, out));
    support::finish(lp);
}

#[test]
fn kill_reports_the_signal() {
    let lp = Loop::new().unwrap();
    let status: Slot<ExitStatus> = Rc::default();
    let s = status.clone();
    let opts = ProcessOptions::new("sleep")
        .arg("30")
        .stdio(1, Stdio::Ignore);
    let child = Process::spawn(&lp, &opts, move |p, st| {
        *s.borrow_mut() = Some(st);
        p.close();
    })
    .unwrap();
    child.kill(libc::SIGTERM).unwrap();
    assert_eq!(child.kill(1000), Err(Error::EINVAL));
    lp.run(RunMode::Default).unwrap();
    let st = status.borrow().unwrap();
    assert_eq!((st.signal(), st.code()), (Some(libc::SIGTERM), None));
    assert_eq!(child.kill(libc::SIGTERM), Err(Error::CLOSED));
    // The free function reaches any process; a pid that cannot exist gives ESRCH.
    assert_eq!(rsuv::kill(i32::MAX, 0), Err(Error::ESRCH));
    rsuv::kill(std::process::id() as i32, 0).unwrap();
    drop(child);
    support::finish(lp);
}

#[test]
fn environment_and_working_directory() {
    let lp = Loop::new().unwrap();
    let out = Pipe::new(&lp, false).unwrap();
    let opts = ProcessOptions::new("/usr/bin/env")
        .env_clear()
        .env("RSUV_A", "1")
        .env("RSUV_B", "two words")
        .stdio(1, Stdio::Pipe(&out));
    let (st, text) = run(opts, &lp, &out);
    assert!(st.success());
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "RSUV_A=1\nRSUV_B=two words\n"
    );

    let out = Pipe::new(&lp, false).unwrap();
    let opts = sh("echo \"$RSUV_C:${HOME:-unset}\"; pwd")
        .env("RSUV_C", "inherited-plus")
        .env_remove("HOME")
        .cwd("/tmp")
        .stdio(1, Stdio::Pipe(&out));
    let (_, text) = run(opts, &lp, &out);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "inherited-plus:unset\n/tmp\n"
    );
    drop(out);
    support::finish(lp);
}

#[test]
fn inherit_a_descriptor_and_ignore_others() {
    let lp = Loop::new().unwrap();
    let (mut reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
    let status: Slot<ExitStatus> = Rc::default();
    let s = status.clone();
    let opts = sh("echo to-fd-1; echo to-fd-3 >&3; echo to-stderr >&2")
        .stdio(1, Stdio::Fd(writer.as_fd()))
        .stdio(2, Stdio::Ignore)
        .stdio(3, Stdio::Fd(writer.as_fd()));
    let child = Process::spawn(&lp, &opts, move |p, st| {
        *s.borrow_mut() = Some(st);
        p.close();
    })
    .unwrap();
    drop(opts);
    drop(writer); // the child holds its own copies
    lp.run(RunMode::Default).unwrap();
    assert!(status.borrow().unwrap().success());
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    assert_eq!(text, "to-fd-1\nto-fd-3\n");
    drop(child);
    support::finish(lp);
}

#[test]
fn uid_gid_and_detached() {
    let lp = Loop::new().unwrap();
    let out = Pipe::new(&lp, false).unwrap();
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    let opts = sh("id -u; id -g")
        .uid(65534)
        .gid(65534)
        .stdio(1, Stdio::Pipe(&out));
    if root {
        let (st, text) = run(opts, &lp, &out);
        assert!(st.success());
        assert_eq!(String::from_utf8(text).unwrap(), "65534\n65534\n");
    } else {
        let r = Process::spawn(&lp, &opts, |_, _| {});
        assert_eq!(r.err(), Some(Error::EPERM));
    }
    // A detached child leads its own session: its session id is its pid.
    let out = Pipe::new(&lp, false).unwrap();
    let opts = sh("echo $$; cut -d' ' -f6 /proc/self/stat")
        .detached(true)
        .stdio(1, Stdio::Pipe(&out));
    let (st, text) = run(opts, &lp, &out);
    assert!(st.success());
    let text = String::from_utf8(text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], lines[1], "session id == the shell's pid");
    drop(out);
    support::finish(lp);
}

#[test]
fn spawn_failures_are_errors_and_leak_nothing() {
    let lp = Loop::new().unwrap();
    let out = Pipe::new(&lp, false).unwrap();
    let opts = ProcessOptions::new("/nonexistent/program").stdio(1, Stdio::Pipe(&out));
    let r = Process::spawn(&lp, &opts, |_, _| {
        panic!("no exit for a process that never ran")
    });
    assert_eq!(r.err(), Some(Error::ENOENT));
    let opts = ProcessOptions::new("/tmp").stdio(1, Stdio::Ignore);
    assert_eq!(
        Process::spawn(&lp, &opts, |_, _| {}).err(),
        Some(Error::EACCES)
    );
    let opts = ProcessOptions::new("echo").arg("nul\0byte");
    assert_eq!(
        Process::spawn(&lp, &opts, |_, _| {}).err(),
        Some(Error::EINVAL)
    );
    let opts = ProcessOptions::new("echo").env("K", "v\0");
    assert_eq!(
        Process::spawn(&lp, &opts, |_, _| {}).err(),
        Some(Error::EINVAL)
    );
    let closed = Pipe::new(&lp, false).unwrap();
    closed.close();
    let opts = ProcessOptions::new("true").stdio(1, Stdio::Pipe(&closed));
    assert_eq!(
        Process::spawn(&lp, &opts, |_, _| {}).err(),
        Some(Error::CLOSED)
    );
    drop((out, closed));
    support::finish(lp);
}

#[test]
fn pipe_with_directions_and_arg0() {
    // One pipe the child both reads and writes (its fd 3), as pyuv's
    // UV_READABLE_PIPE | UV_WRITABLE_PIPE asks: the child answers on the same pipe.
    let lp = Loop::new().unwrap();
    let both = Pipe::new(&lp, false).unwrap();
    let opts = sh("read line <&3; echo \"$0 got $line\" >&3")
        .arg0("renamed")
        .stdio(
            3,
            Stdio::PipeWith {
                pipe: &both,
                readable: true,
                writable: true,
            },
        );
    let status: Slot<ExitStatus> = Rc::default();
    let s = status.clone();
    let child = Process::spawn(&lp, &opts, move |p, st| {
        *s.borrow_mut() = Some(st);
        p.close();
    })
    .unwrap();
    let echoed = Rc::new(RefCell::new(Vec::new()));
    let e = echoed.clone();
    both.write(b"hello\n", |_, r| r.unwrap()).unwrap();
    both.read_start(move |p, data| match data {
        Ok(bytes) => e.borrow_mut().extend_from_slice(bytes),
        Err(_) => p.close(),
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(status.borrow().expect("exited").code(), Some(0));
    assert_eq!(*echoed.borrow(), b"renamed got hello\n");
    drop((child, both));
    support::finish(lp);
}
