//! The TLS benchmark of issue 5: an echo server and a load client on rsuv's callback API, with
//! the same echo over `TlsStream` (TLS 1.2 or 1.3, AES-256-GCM) or over the plain `Tcp`
//! handle, so the rows differ only in TLS.
//!
//! ```text
//! rsuv-bench tls_server plain|tls12|tls13 [PORT]          # prints `ready` once it listens
//! rsuv-bench tls_client pingpong_1k|bulk plain|tls12|tls13 [--secs S] [--server-pid PID]
//! ```
//!
//! Ping-pong: one connection, a 1 KiB message sent again as soon as all of it is back. Bulk:
//! one connection streaming 64 KiB writes with at most 1 MiB unechoed; the server decrypts and
//! re-encrypts everything, so MB/s is per direction through one server core. The server's
//! certificate is self-signed, made at start-up; the client does not verify it (handshakes are
//! outside the timed window). The last line is `tls_result proto=... workload=... elapsed=...
//! rts=... bytes=... server_ticks=... client_ticks=...` (ticks of `sysconf(_SC_CLK_TCK)`).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509, X509NameBuilder};
use rsuv::tls::{TlsContext, TlsRead, TlsStream, Version};
use rsuv::{Loop, RunMode, Tcp, Timer, WriteBuf};

use crate::{TEST_PORT, notify_parent_process};

const PORT_OFFSET: u16 = 7; // 9130: beside the echo comparison's port
const MSG: usize = 1024;
const CHUNK: usize = 64 * 1024;
const WINDOW: usize = 1024 * 1024;
const WARMUP: Duration = Duration::from_millis(300);

fn addr(port: Option<&str>) -> SocketAddr {
    let port = port.map_or(TEST_PORT + PORT_OFFSET, |p| p.parse().expect("port"));
    SocketAddr::from(([127, 0, 0, 1], port))
}

pub(crate) fn version(proto: &str) -> Version {
    match proto {
        "tls12" => Version::Tls12,
        "tls13" => Version::Tls13,
        _ => crate::usage(),
    }
}

/// A self-signed P-256 certificate for localhost, made now.
pub(crate) fn self_signed() -> (Vec<u8>, Vec<u8>) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns("localhost")
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let cert = b.build().to_pem().unwrap();
    (cert, key.private_key_to_pem_pkcs8().unwrap())
}

/// AES-256-GCM in both versions, so the two rows differ only in the protocol.
pub(crate) const CIPHERS: &str = "ECDHE-ECDSA-AES256-GCM-SHA384";
pub(crate) const CIPHERSUITES: &str = "TLS_AES_256_GCM_SHA384";

pub fn server(proto: &str, port: Option<&str>) {
    let lp = Loop::new().unwrap();
    let l = Tcp::new(&lp).unwrap();
    l.bind(addr(port)).unwrap();
    if proto == "plain" {
        l.listen(128, |l, _| {
            let c = l.accept().unwrap();
            c.set_nodelay(true).unwrap();
            c.read_start(|c, r| match r {
                Ok(d) => c.write_copy(d).unwrap(),
                Err(_) => c.close(),
            })
            .unwrap();
            c.detach();
        })
        .unwrap();
    } else {
        let (cert, key) = self_signed();
        let v = version(proto);
        let ctx = TlsContext::server()
            .cert_chain_pem(&cert)
            .private_key_pem(&key)
            .min_version(v)
            .max_version(v)
            .ciphers(CIPHERS)
            .ciphersuites(CIPHERSUITES)
            .build()
            .unwrap();
        l.listen(128, move |l, _| {
            let s = TlsStream::accept(l, &ctx, |s, r| {
                if r.is_err() {
                    return;
                }
                s.tcp().set_nodelay(true).unwrap();
                s.read_start(|s, r| match r {
                    TlsRead::Data(d) => s.write(d, |_, _| {}).unwrap(),
                    _ => s.close(),
                });
            })
            .unwrap();
            s.detach();
        })
        .unwrap();
    }
    notify_parent_process();
    lp.run(RunMode::Default).unwrap();
}

/// A connection of either kind, as the client uses it.
#[derive(Clone)]
enum Conn {
    Plain(Rc<Tcp>),
    Tls(TlsStream),
}

impl Conn {
    fn send(&self, data: &'static [u8]) {
        match self {
            Conn::Plain(t) => t.write_nocb(WriteBuf::Static(data)).unwrap(),
            Conn::Tls(s) => s.write(data, |_, _| {}).unwrap(),
        }
    }

    fn close(&self) {
        match self {
            Conn::Plain(t) => t.close(),
            Conn::Tls(s) => s.close(),
        }
    }
}

struct Client {
    bulk: bool,
    msg: &'static [u8],
    sent: Cell<usize>,
    recv: Cell<usize>,
    rts: Cell<u64>,
    start: Cell<Option<(Instant, u64, usize, u64, u64)>>,
    result: RefCell<Option<String>>,
    server_pid: Option<String>,
    conn: RefCell<Option<Conn>>,
}

fn ticks(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let rest = &stat[stat.rfind(')').expect("stat") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

impl Client {
    fn server_ticks(&self) -> u64 {
        self.server_pid.as_deref().map_or(0, ticks)
    }

    fn on_data(&self, conn: &Conn, n: usize) {
        self.recv.set(self.recv.get() + n);
        if self.bulk {
            while self.sent.get() - self.recv.get() + CHUNK <= WINDOW {
                self.sent.set(self.sent.get() + CHUNK);
                conn.send(self.msg);
            }
        } else if self.recv.get() == self.sent.get() {
            self.rts.set(self.rts.get() + 1);
            self.sent.set(self.sent.get() + MSG);
            conn.send(self.msg);
        }
    }

    fn begin(&self, conn: &Conn) {
        *self.conn.borrow_mut() = Some(conn.clone());
        if self.bulk {
            self.on_data(conn, 0);
        } else {
            self.sent.set(MSG);
            conn.send(self.msg);
        }
    }

    fn mark(&self) {
        let now = Instant::now();
        let cur = (
            now,
            self.rts.get(),
            self.recv.get(),
            self.server_ticks(),
            ticks("self"),
        );
        match self.start.get() {
            None => self.start.set(Some(cur)),
            Some((t0, r0, b0, s0, c0)) => {
                let secs = now.duration_since(t0).as_secs_f64();
                *self.result.borrow_mut() = Some(format!(
                    "elapsed={secs:.6} rts={} bytes={} server_ticks={} client_ticks={}",
                    cur.1 - r0,
                    cur.2 - b0,
                    cur.3 - s0,
                    cur.4 - c0
                ));
                if let Some(c) = self.conn.borrow_mut().take() {
                    c.close();
                }
            }
        }
    }
}

pub fn client(args: &[String]) {
    let (workload, proto) = (args[0].as_str(), args[1].as_str());
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let secs: f64 = opt("--secs").map_or(3.0, |s| s.parse().expect("secs"));
    let bulk = match workload {
        "pingpong_1k" => false,
        "bulk" => true,
        _ => crate::usage(),
    };
    let size = if bulk { CHUNK } else { MSG };
    let c = Rc::new(Client {
        bulk,
        msg: Box::leak(vec![b'x'; size].into_boxed_slice()),
        sent: Cell::new(0),
        recv: Cell::new(0),
        rts: Cell::new(0),
        start: Cell::new(None),
        result: RefCell::new(None),
        server_pid: opt("--server-pid").cloned(),
        conn: RefCell::new(None),
    });
    let lp = Loop::new().unwrap();
    let target = addr(opt("--port").map(String::as_str));
    let cc = c.clone();
    let _keep = if proto == "plain" {
        let tcp = Rc::new(Tcp::new(&lp).unwrap());
        let t2 = tcp.clone();
        tcp.connect(target, move |t, r| {
            r.expect("connect");
            t.set_nodelay(true).unwrap();
            let conn = Conn::Plain(t2.clone());
            let (c2, conn2) = (cc.clone(), conn.clone());
            t.read_start(move |_, r| match r {
                Ok(d) => c2.on_data(&conn2, d.len()),
                Err(_) => conn2.close(),
            })
            .unwrap();
            cc.begin(&conn);
        })
        .unwrap();
        Conn::Plain(tcp)
    } else {
        let v = version(proto);
        let ctx = TlsContext::client()
            .verify(false)
            .min_version(v)
            .max_version(v)
            .ciphers(CIPHERS)
            .ciphersuites(CIPHERSUITES)
            .build()
            .unwrap();
        let s = TlsStream::connect(&lp.handle(), target, &ctx, "localhost", move |s, r| {
            r.expect("handshake");
            s.tcp().set_nodelay(true).unwrap();
            let conn = Conn::Tls(s.clone());
            let (c2, conn2) = (cc.clone(), conn.clone());
            s.read_start(move |_, r| match r {
                TlsRead::Data(d) => c2.on_data(&conn2, d.len()),
                other => panic!("tls_client: {other:?}"),
            });
            cc.begin(&conn);
        })
        .unwrap();
        Conn::Tls(s)
    };
    let timer = Timer::new(&lp).unwrap();
    let c2 = c.clone();
    let window = Duration::from_secs_f64(secs);
    timer
        .start(WARMUP, window, move |t| {
            c2.mark();
            if c2.result.borrow().is_some() {
                t.close();
            }
        })
        .unwrap();
    lp.run(RunMode::Default).unwrap();
    let result = c.result.borrow_mut().take().expect("no result");
    println!("tls_result proto={proto} workload={workload} {result}");
}
