//! Pipe: path and abstract sockets, names, chmod, open(fd), handle passing over IPC, errors.

mod support;

use rsuv::{Error, Loop, PendingHandle, Pipe, PipeName, RunMode, Tcp};
use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn temp_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("rsuv-{tag}-{}-{n}.sock", std::process::id()))
}

/// A server on `bind` that echoes one message then closes; a client that sends `msg` and
/// collects the echo until EOF. Returns what the client got.
fn echo_once(
    lp: &Loop,
    server: Pipe,
    connect: impl FnOnce(&Pipe, Box<dyn FnOnce(&Pipe, rsuv::Result<()>)>),
) -> Rc<RefCell<Vec<u8>>> {
    server
        .listen(8, |s, r| {
            r.unwrap();
            let conn = s.accept().unwrap();
            conn.read_start(|c, data| match data {
                Ok(bytes) => c.write(bytes.to_vec(), |c, _| c.close()).unwrap(),
                Err(_) => c.close(),
            })
            .unwrap();
            conn.detach();
            s.close();
        })
        .unwrap();
    server.detach();
    let got = Rc::new(RefCell::new(Vec::new()));
    let client = Pipe::new(lp, false).unwrap();
    let g = got.clone();
    connect(
        &client,
        Box::new(move |c, r| {
            r.unwrap();
            c.write(b"ping", |_, r| r.unwrap()).unwrap();
            c.read_start(move |c, data| match data {
                Ok(bytes) => g.borrow_mut().extend_from_slice(bytes),
                Err(e) => {
                    assert_eq!(e, Error::EOF);
                    c.close();
                }
            })
            .unwrap();
        }),
    );
    client.detach();
    got
}

#[test]
fn path_socket_echo_names_and_chmod() {
    let lp = Loop::new().unwrap();
    let path = temp_path("echo");
    let server = Pipe::new(&lp, false).unwrap();
    server.bind(&path).unwrap();
    assert_eq!(server.sockname().unwrap(), PipeName::Path(path.clone()));
    server.chmod(true, true).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o666,
        0o666,
        "readable and writable by all: {mode:o}"
    );
    assert_eq!(server.chmod(false, false), Err(Error::EINVAL));
    let p = path.clone();
    let got = echo_once(&lp, server, move |c, cb| c.connect(&p, cb).unwrap());
    lp.run(RunMode::Default).unwrap();
    assert_eq!(&*got.borrow(), b"ping");
    assert!(
        !path.exists(),
        "libuv removes the socket file when the server closes"
    );
    support::finish(lp);
}

#[test]
fn abstract_socket_echo() {
    let lp = Loop::new().unwrap();
    let name = format!("rsuv-test-{}", std::process::id()).into_bytes();
    let server = Pipe::new(&lp, false).unwrap();
    server.bind_abstract(&name).unwrap();
    assert_eq!(server.sockname().unwrap(), PipeName::Abstract(name.clone()));
    let n = name.clone();
    let got = echo_once(&lp, server, move |c, cb| {
        c.connect_abstract(&n, cb).unwrap()
    });
    lp.run(RunMode::Default).unwrap();
    assert_eq!(&*got.borrow(), b"ping");
    support::finish(lp);
}

#[test]
fn bind_and_connect_errors() {
    let lp = Loop::new().unwrap();
    let path = temp_path("busy");
    let a = Pipe::new(&lp, false).unwrap();
    a.bind(&path).unwrap();
    let b = Pipe::new(&lp, false).unwrap();
    assert_eq!(b.bind(&path), Err(Error::EADDRINUSE));
    let long = std::env::temp_dir().join("x".repeat(200));
    assert_eq!(b.bind(&long), Err(Error::ENAMETOOLONG), "never truncated");
    assert_eq!(b.bind("bad\0name"), Err(Error::EINVAL));
    assert_eq!(b.connect("bad\0name", |_, _| {}), Err(Error::EINVAL));
    let outcomes = Rc::new(RefCell::new(Vec::new()));
    for target in [temp_path("missing"), path.clone()] {
        let c = Pipe::new(&lp, false).unwrap();
        let o = outcomes.clone();
        c.connect(&target, move |c, r| {
            o.borrow_mut().push(r);
            c.close();
        })
        .unwrap();
        c.detach();
    }
    lp.run(RunMode::Default).unwrap();
    // Nothing at the first path; the second is bound but not listening.
    assert_eq!(
        *outcomes.borrow(),
        [Err(Error::ENOENT), Err(Error::ECONNREFUSED)]
    );
    std::fs::remove_file(&path).unwrap();
    drop((a, b));
    support::finish(lp);
}

#[test]
fn open_a_socketpair() {
    let lp = Loop::new().unwrap();
    let (x, y) = UnixStream::pair().unwrap();
    let a = Pipe::open(&lp, x.into(), false).unwrap();
    let b = Pipe::open(&lp, y.into(), false).unwrap();
    assert_eq!(a.sockname().unwrap(), PipeName::Unnamed);
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    b.read_start(move |b, data| match data {
        Ok(bytes) => g.borrow_mut().extend_from_slice(bytes),
        Err(_) => b.close(),
    })
    .unwrap();
    a.write(b"over a socketpair", |a, r| {
        r.unwrap();
        a.close();
    })
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(&*got.borrow(), b"over a socketpair");
    drop((a, b));
    support::finish(lp);
}

#[test]
fn pass_a_tcp_listener_over_an_ipc_pipe() {
    let lp = Loop::new().unwrap();
    let (x, y) = UnixStream::pair().unwrap();
    let sender = Pipe::open(&lp, x.into(), true).unwrap();
    let receiver = Pipe::open(&lp, y.into(), true).unwrap();
    let listener = Tcp::new(&lp).unwrap();
    listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.sockname().unwrap();
    sender
        .write_handle(b"take this", &listener, |s, r| {
            r.unwrap();
            s.close();
        })
        .unwrap();
    let received = Rc::new(RefCell::new(None));
    let r2 = received.clone();
    receiver
        .read_start(move |p, data| {
            if let Ok(bytes) = data {
                assert_eq!(bytes, b"take this");
                assert_eq!(p.pending_count(), 1);
                *r2.borrow_mut() = Some(p.accept_pending().unwrap());
                assert_eq!(p.accept_pending().err(), Some(Error::EAGAIN));
                p.close();
            }
        })
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    let Some(PendingHandle::Tcp(tcp)) = received.borrow_mut().take() else {
        panic!("expected a TCP handle");
    };
    assert_eq!(
        tcp.sockname().unwrap(),
        addr,
        "the same socket, received as a new handle"
    );
    drop((tcp, listener, sender, receiver));
    support::finish(lp);
}

#[test]
fn misuse_and_closed() {
    let lp = Loop::new().unwrap();
    let plain = Pipe::new(&lp, false).unwrap();
    let other = Pipe::new(&lp, false).unwrap();
    assert_eq!(
        plain.write_handle(b"x", &other, |_, _| {}),
        Err(Error::EINVAL),
        "not IPC"
    );
    assert_eq!(plain.accept_pending().err(), Some(Error::EAGAIN));
    assert_eq!(plain.pending_count(), 0);
    plain.close();
    assert_eq!(plain.bind("/tmp/never"), Err(Error::CLOSED));
    assert_eq!(plain.connect_abstract(b"x", |_, _| {}), Err(Error::CLOSED));
    assert_eq!(plain.sockname(), Err(Error::CLOSED));
    let ipc = Pipe::new(&lp, true).unwrap();
    assert_eq!(
        ipc.write_handle(b"x", &plain, |_, _| {}),
        Err(Error::CLOSED),
        "closed handle"
    );
    // A regular file cannot be watched by epoll (libuv would abort once reading started).
    let file = std::fs::File::open("/proc/self/exe").unwrap();
    assert_eq!(
        Pipe::open(&lp, file.into(), false).err(),
        Some(Error::EPERM)
    );
    drop((other, ipc));
    support::finish(lp);
}

#[test]
fn pass_a_udp_socket_over_an_ipc_pipe() {
    let lp = Loop::new().unwrap();
    let (x, y) = UnixStream::pair().unwrap();
    let sender = Pipe::open(&lp, x.into(), true).unwrap();
    let receiver = Pipe::open(&lp, y.into(), true).unwrap();
    let udp = rsuv::Udp::new(&lp).unwrap();
    udp.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = udp.sockname().unwrap();
    sender
        .write_handle(b"a udp socket", &udp, |s, r| {
            r.unwrap();
            s.close();
        })
        .unwrap();
    let received = Rc::new(RefCell::new(None));
    let r2 = received.clone();
    receiver
        .read_start(move |p, data| {
            if let Ok(bytes) = data {
                assert_eq!(bytes, b"a udp socket");
                assert_eq!(p.pending_type(), 15, "UV_UDP");
                *r2.borrow_mut() = Some(p.accept_pending().unwrap());
                assert_eq!(p.pending_type(), 0, "none left");
                p.close();
            }
        })
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    let Some(PendingHandle::Udp(got)) = received.borrow_mut().take() else {
        panic!("expected a UDP handle");
    };
    assert_eq!(
        got.sockname().unwrap(),
        addr,
        "the same socket, as a new handle"
    );
    drop(udp);
    // The received handle receives what is sent to the address.
    let data = Rc::new(RefCell::new(Vec::new()));
    let d = data.clone();
    got.recv_start(move |u, r| {
        d.borrow_mut().extend_from_slice(r.unwrap().data);
        u.close();
    })
    .unwrap();
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.send_to(b"to the passed socket", addr).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(*data.borrow(), b"to the passed socket");
    drop((got, sender, receiver));
    support::finish(lp);
}
