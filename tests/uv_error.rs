//! Error: libuv names and messages, errno, io::Error conversion, check().

use rsuv::{Error, check};
use std::io;

#[test]
fn names_and_messages_are_libuvs() {
    assert_eq!(Error::ECONNRESET.name(), "ECONNRESET");
    assert_eq!(Error::ECONNRESET.message(), "connection reset by peer");
    assert_eq!(Error::EOF.to_string(), "end of file (EOF)");
    assert_eq!(format!("{:?}", Error::EPIPE), "Error(EPIPE: broken pipe)");
    assert_eq!(Error::EAI_NONAME.name(), "EAI_NONAME");
}

#[test]
fn rsuv_codes_are_named_and_outside_libuvs_range() {
    for (e, name) in [(Error::CLOSED, "CLOSED"), (Error::REENTRANT, "REENTRANT")] {
        assert_eq!(e.name(), name);
        assert!(!e.message().is_empty() && !e.message().starts_with("Unknown"));
        assert_eq!(e.raw_os_error(), None);
    }
}

#[test]
fn errno_and_io_error() {
    assert_eq!(Error::ECONNREFUSED.raw_os_error(), Some(libc::ECONNREFUSED));
    assert_eq!(Error::EOF.raw_os_error(), None);
    assert_eq!(Error::EAI_AGAIN.raw_os_error(), None);
    let e: io::Error = Error::ECONNRESET.into();
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET));
    let e: io::Error = Error::EOF.into();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    let e: io::Error = Error::CLOSED.into();
    assert_eq!(e.kind(), io::ErrorKind::NotConnected);
    assert!(e.to_string().contains("closed"));
}

#[test]
fn check_maps_negative_codes_only() {
    assert_eq!(check(0), Ok(0));
    assert_eq!(check(42), Ok(42));
    assert_eq!(check(-libc::EINVAL), Err(Error::EINVAL));
    assert_eq!(Error::from_raw(-libc::EAGAIN), Error::EAGAIN);
    assert_eq!(Error::EAGAIN.code(), -libc::EAGAIN);
}
