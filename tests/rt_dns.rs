//! lookup_host and lookup_addr, on loopback names only.

mod support;

use rsuv::rt::{lookup_addr, lookup_host, timeout};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// Runs `body` on a new runtime, bounded in time, then proves the loop closes cleanly.
fn run<F: Future<Output = io::Result<()>>>(body: F) {
    support::run_async(LIMIT, body).unwrap();
}

#[test]
fn localhost_resolves_to_loopback() {
    run(async {
        let addrs = lookup_host("localhost", 80).await?;
        assert!(!addrs.is_empty());
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert!(addrs.iter().all(|a| *a == v4 || *a == v6), "{addrs:?}");
        let mut unique = addrs.clone();
        unique.dedup();
        assert_eq!(unique, addrs, "one address per IP");
        Ok(())
    });
}

#[test]
fn numeric_names() {
    run(async {
        assert_eq!(
            lookup_host("127.0.0.1", 8080).await?,
            ["127.0.0.1:8080".parse().unwrap()]
        );
        assert_eq!(lookup_host("::1", 1).await?, ["[::1]:1".parse().unwrap()]);
        // inet_aton's short form, through getaddrinfo with AI_NUMERICHOST.
        assert_eq!(
            lookup_host("127.1", 9).await?,
            ["127.0.0.1:9".parse().unwrap()]
        );
        for bad in ["999.999.999.999", "1.2.3.4.5", "1::2::3"] {
            let err = lookup_host(bad, 80).await.unwrap_err();
            let uv = err.get_ref().and_then(|e| e.downcast_ref::<rsuv::Error>());
            assert!(
                matches!(uv, Some(&rsuv::Error::EAI_NONAME)),
                "{bad}: {err:?}"
            );
        }
        let err = lookup_host("nul\0byte", 80).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        Ok(())
    });
}

#[test]
fn reverse_lookup_of_loopback() {
    run(async {
        let name = lookup_addr("127.0.0.1:80".parse().unwrap()).await?;
        assert!(!name.is_empty());
        eprintln!("127.0.0.1 is {name:?}");
        let name = lookup_addr("[::1]:80".parse().unwrap()).await?;
        assert!(!name.is_empty());
        Ok(())
    });
}

#[test]
fn dropped_lookups_are_cancelled_or_finish_quietly() {
    run(async {
        for _ in 0..20 {
            let fut = lookup_host("localhost", 80);
            let r = timeout(Duration::ZERO, fut).await;
            drop(r);
            drop(lookup_addr("127.0.0.1:80".parse().unwrap()));
        }
        // The runtime still resolves afterwards.
        assert!(!lookup_host("localhost", 443).await?.is_empty());
        Ok(())
    });
}
