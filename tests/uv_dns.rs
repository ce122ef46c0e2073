//! DNS: getaddrinfo and getnameinfo on loopback names only (this must never touch a network),
//! errors, cancellation.

#[path = "support/pool.rs"]
mod pool;
mod support;

use rsuv::{AddrInfo, AddrInfoHints, Error, Loop, RunMode, getaddrinfo, getnameinfo};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::thread;

type Slot<T> = Rc<RefCell<Option<rsuv::Result<T>>>>;

fn stream() -> Option<AddrInfoHints> {
    Some(AddrInfoHints {
        socktype: libc::SOCK_STREAM,
        ..Default::default()
    })
}

/// Runs one getaddrinfo to completion and returns what its callback got.
fn resolve(node: &str, service: &str, hints: Option<AddrInfoHints>) -> rsuv::Result<Vec<AddrInfo>> {
    let lp = Loop::new().unwrap();
    let got: Slot<Vec<AddrInfo>> = Rc::default();
    let g = got.clone();
    let loop_thread = thread::current().id();
    getaddrinfo(&lp, Some(node), Some(service), hints, move |r| {
        assert_eq!(thread::current().id(), loop_thread);
        *g.borrow_mut() = Some(r);
    })
    .unwrap();
    support::finish(lp);
    got.take().expect("the callback ran")
}

fn loopback_80() -> [SocketAddr; 2] {
    ["127.0.0.1:80".parse().unwrap(), "[::1]:80".parse().unwrap()]
}

#[test]
fn localhost_resolves_to_loopback() {
    let found = resolve("localhost", "80", stream()).unwrap();
    assert!(
        found.iter().any(|ai| loopback_80().contains(&ai.addr)),
        "{found:?}"
    );
    for ai in &found {
        assert!(ai.addr.ip().is_loopback() && ai.addr.port() == 80, "{ai:?}");
        assert_eq!(ai.socktype, libc::SOCK_STREAM);
        let family = if ai.addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        assert_eq!(ai.family, family);
    }
}

#[test]
fn a_numeric_host_resolves_to_itself() {
    let found = resolve("127.0.0.1", "80", stream()).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let ai = &found[0];
    assert_eq!(ai.addr, loopback_80()[0]);
    assert_eq!((ai.family, ai.socktype), (libc::AF_INET, libc::SOCK_STREAM));
    assert_eq!(ai.protocol, libc::IPPROTO_TCP);
    assert_eq!(ai.canonname, None);
}

#[test]
fn canonname_comes_with_the_first_result() {
    let hints = AddrInfoHints {
        flags: libc::AI_CANONNAME | libc::AI_NUMERICHOST,
        ..stream().unwrap()
    };
    let found = resolve("127.0.0.1", "80", Some(hints)).unwrap();
    assert_eq!(found[0].canonname.as_deref(), Some("127.0.0.1"));
}

#[test]
fn a_passive_lookup_without_host_gives_the_wildcard() {
    let hints = AddrInfoHints {
        family: libc::AF_INET,
        flags: libc::AI_PASSIVE,
        ..stream().unwrap()
    };
    let lp = Loop::new().unwrap();
    let got: Slot<Vec<AddrInfo>> = Rc::default();
    let g = got.clone();
    getaddrinfo(&lp, None, Some("8080"), Some(hints), move |r| {
        *g.borrow_mut() = Some(r)
    })
    .unwrap();
    support::finish(lp);
    let found = got.take().unwrap().unwrap();
    assert_eq!(found[0].addr, "0.0.0.0:8080".parse().unwrap());
}

#[test]
fn an_invalid_numeric_host_is_an_eai_error() {
    let hints = AddrInfoHints {
        flags: libc::AI_NUMERICHOST,
        ..stream().unwrap()
    };
    let err = resolve("not an address", "80", Some(hints)).unwrap_err();
    assert!(err.name().starts_with("EAI_"), "{err:?}");
    assert_eq!(err, Error::EAI_NONAME);
}

#[test]
fn bad_arguments_fail_right_away() {
    let lp = Loop::new().unwrap();
    let never = |_: rsuv::Result<Vec<AddrInfo>>| panic!("never called");
    let r = getaddrinfo(&lp, Some("local\0host"), Some("80"), None, never);
    assert_eq!(r.unwrap_err(), Error::EINVAL);
    let r = getaddrinfo(&lp, Some("localhost"), Some("http\0"), None, never);
    assert_eq!(r.unwrap_err(), Error::EINVAL);
    let r = getaddrinfo(&lp, None, None, None, never);
    assert_eq!(r.unwrap_err(), Error::EINVAL);
    assert!(!lp.alive(), "nothing was queued");
    let handle = lp.handle();
    support::finish(lp);
    let r = getaddrinfo(&handle, Some("localhost"), None, None, never);
    assert_eq!(r.unwrap_err(), Error::CLOSED);
    let r = getnameinfo(&handle, loopback_80()[0], 0, |_| panic!("never called"));
    assert_eq!(r.unwrap_err(), Error::CLOSED);
}

#[test]
fn getnameinfo_numeric() {
    let lp = Loop::new().unwrap();
    let flags = libc::NI_NUMERICHOST | libc::NI_NUMERICSERV;
    let got: Rc<RefCell<Vec<(String, String)>>> = Rc::default();
    for addr in ["127.0.0.1:80", "[::1]:443"] {
        let g = got.clone();
        getnameinfo(&lp, addr.parse().unwrap(), flags, move |r| {
            g.borrow_mut().push(r.unwrap())
        })
        .unwrap();
    }
    support::finish(lp);
    let mut got = got.take();
    got.sort();
    assert_eq!(
        got,
        [
            ("127.0.0.1".into(), "80".into()),
            ("::1".into(), "443".into())
        ]
    );
}

#[test]
fn queued_lookups_cancel() {
    let lp = Loop::new().unwrap();
    let full = pool::fill(&lp);
    // Every pool thread is busy: these lookups are surely still queued.
    let addrs: Slot<Vec<AddrInfo>> = Rc::default();
    let names: Slot<(String, String)> = Rc::default();
    let (a, n) = (addrs.clone(), names.clone());
    let lookup = getaddrinfo(&lp, Some("localhost"), Some("80"), stream(), move |r| {
        *a.borrow_mut() = Some(r)
    })
    .unwrap();
    let numeric = libc::NI_NUMERICHOST | libc::NI_NUMERICSERV;
    let reverse = getnameinfo(&lp, loopback_80()[0], numeric, move |r| {
        *n.borrow_mut() = Some(r)
    })
    .unwrap();
    lookup.cancel().unwrap();
    reverse.cancel().unwrap();
    assert!(lookup.is_pending() && reverse.is_pending());
    full.release();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(addrs.take(), Some(Err(Error::EAI_CANCELED)));
    assert_eq!(names.take(), Some(Err(Error::EAI_CANCELED)));
    assert_eq!(full.finished.get(), pool::size());
    assert_eq!(lookup.cancel(), Err(Error::CLOSED));
    assert_eq!(reverse.cancel(), Err(Error::CLOSED));
    drop(full);
    support::finish(lp);
}

#[test]
fn a_panic_in_the_callback_comes_out_of_run() {
    let lp = Loop::new().unwrap();
    getaddrinfo(&lp, Some("127.0.0.1"), None, stream(), |_| {
        panic!("boom in dns")
    })
    .unwrap();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| lp.run(RunMode::Default)));
    let payload = caught.expect_err("the callback's panic comes out of run");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in dns"));
    support::finish(lp);
}

#[test]
fn dropping_the_loop_with_a_lookup_queued_completes_it() {
    let lp = Loop::new().unwrap();
    let full = pool::fill(&lp);
    let got: Slot<Vec<AddrInfo>> = Rc::default();
    let g = got.clone();
    let hints = AddrInfoHints {
        flags: libc::AI_NUMERICHOST,
        ..stream().unwrap()
    };
    let lookup = getaddrinfo(&lp, Some("127.0.0.1"), Some("80"), Some(hints), move |r| {
        *g.borrow_mut() = Some(r)
    })
    .unwrap();
    let gate = full.gate.clone();
    let opener = thread::spawn(move || {
        thread::sleep(std::time::Duration::from_millis(50));
        gate.open();
    });
    drop(lp);
    opener.join().unwrap();
    let found = got
        .take()
        .expect("the callback ran during teardown")
        .unwrap();
    assert_eq!(found[0].addr, loopback_80()[0]);
    assert_eq!(lookup.cancel(), Err(Error::CLOSED));
    assert_eq!(full.finished.get(), pool::size());
}

#[test]
fn blocking_lookups_answer_before_returning() {
    let lp = Loop::new().unwrap();
    let hints = AddrInfoHints {
        family: libc::AF_INET,
        socktype: libc::SOCK_STREAM,
        ..AddrInfoHints::default()
    };
    let found =
        rsuv::getaddrinfo_blocking(&lp, Some("127.0.0.1"), Some("80"), Some(hints)).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].addr, "127.0.0.1:80".parse::<SocketAddr>().unwrap());
    let (host, service) = rsuv::getnameinfo_blocking(
        &lp,
        "127.0.0.1:22".parse().unwrap(),
        libc::NI_NUMERICHOST | libc::NI_NUMERICSERV,
    )
    .unwrap();
    assert_eq!((host.as_str(), service.as_str()), ("127.0.0.1", "22"));
    let bad =
        rsuv::getaddrinfo_blocking(&lp, Some("no-such-host.invalid"), None, None).unwrap_err();
    assert!(rsuv::gai_error(bad).is_some(), "{bad:?}");
    assert_eq!(
        rsuv::getaddrinfo_blocking(&lp, Some("a\0b"), None, None).err(),
        Some(Error::EINVAL)
    );
    support::finish(lp);
}
