//! Command and Child: output and status, piped stdin/stdout through `cat` (4 MiB both ways at
//! once), kill, spawn errors, cancel safety of reads, environment and working directory,
//! backpressure, dropping a child or its stdin.

mod support;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use rsuv::rt::{Command, Stdio, sleep, spawn_local, timeout};
use std::io;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `body` on a new runtime, bounded in time, then proves the loop closes cleanly.
fn run<F: Future<Output = io::Result<()>>>(body: F) {
    support::run_async(LIMIT, body).unwrap();
}

/// Whether process `pid` is gone (reaped): `kill(pid, 0)` answers `ESRCH`.
fn gone(pid: u32) -> bool {
    rsuv::kill(pid as i32, 0) == Err(rsuv::Error::ESRCH)
}

#[test]
fn output_and_status() {
    run(async {
        let out = Command::new("sh")
            .args(["-c", "echo hi; echo oops >&2; exit 3"])
            .output()
            .await?;
        assert_eq!(out.stdout, b"hi\n");
        assert_eq!(out.stderr, b"oops\n");
        assert_eq!(out.status.code(), Some(3));
        assert!(!out.status.success());
        let status = Command::new("true").status().await?;
        assert!(status.success());
        let status = Command::new("sh")
            .args(["-c", "exit 7"])
            .stdout(Stdio::null())
            .status()
            .await?;
        assert_eq!(status.code(), Some(7));
        Ok(())
    });
}

#[test]
fn cat_echoes_four_mebibytes() {
    run(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        assert!(child.id().is_some());
        let data: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
        let mut stdin = child.stdin.take().unwrap();
        let sent = data.clone();
        let writer = spawn_local(async move {
            stdin.write_all(&sent).await?;
            stdin.flush().await?;
            stdin.close().await
        });
        let mut back = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut back).await?;
        writer.await.unwrap()?;
        assert_eq!(back.len(), data.len());
        assert!(back == data, "byte-exact");
        assert!(child.wait().await?.success());
        assert_eq!(child.id(), None, "collected");
        Ok(())
    });
}

#[test]
fn kill_ends_the_child_with_the_signal() {
    run(async {
        let mut child = Command::new("sleep").arg("30").spawn()?;
        assert_eq!(child.try_wait()?, None);
        child.kill()?;
        let status = child.wait().await?;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert_eq!(status.code(), None);
        child.kill()?; // already exited: Ok, as std
        assert_eq!(child.try_wait()?, Some(status));
        assert_eq!(child.wait().await?, status, "the status is kept");
        Ok(())
    });
}

#[test]
fn spawn_errors() {
    run(async {
        let err = Command::new("/nonexistent/program").spawn().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let err = Command::new("rsuv-no-such-program-anywhere")
            .output()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let err = Command::new("/tmp").spawn().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        let err = Command::new("echo").arg("nul\0byte").spawn().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        Ok(())
    });
}

#[test]
fn a_dropped_read_loses_no_data() {
    run(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut buf = [0; 64];
        // The timeout fires first: the read future is dropped while waiting.
        let r = timeout(Duration::from_millis(20), stdout.read(&mut buf)).await;
        assert!(r.is_err(), "cat has nothing to say yet");
        stdin.write_all(b"ping\n").await?;
        let mut got = Vec::new();
        while got.len() < 5 {
            let n = stdout.read(&mut buf).await?;
            assert_ne!(n, 0, "early EOF");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"ping\n");
        // Bytes already buffered survive a read future dropped before it is polled, and
        // partial reads take them in order.
        stdin.write_all(b"abcdef").await?;
        sleep(Duration::from_millis(20)).await;
        drop(stdout.read(&mut buf));
        let mut small = [0; 2];
        let mut got = Vec::new();
        while got.len() < 6 {
            let n = stdout.read(&mut small).await?;
            got.extend_from_slice(&small[..n]);
        }
        assert_eq!(got, b"abcdef");
        drop(stdin); // cat sees end of file
        assert_eq!(stdout.read(&mut buf).await?, 0);
        assert_eq!(stdout.read(&mut buf).await?, 0, "EOF stays");
        assert!(child.wait().await?.success());
        Ok(())
    });
}

#[test]
fn environment_and_working_directory() {
    run(async {
        let out = Command::new("/bin/sh")
            .args(["-c", "echo \"$RSUV_A|$RSUV_B|$HOME\"; pwd"])
            .env("RSUV_B", "gone")
            .env_clear()
            .env("RSUV_A", "a")
            .current_dir("/")
            .output()
            .await?;
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a||\n/\n");
        let out = Command::new("sh")
            .args(["-c", "echo \"${HOME:-unset}\""])
            .env_remove("HOME")
            .output()
            .await?;
        assert_eq!(out.stdout, b"unset\n");
        let out = Command::new("cat").output().await?;
        assert_eq!(out.stdout, b"", "stdin is /dev/null for output()");
        Ok(())
    });
}

#[test]
fn a_slow_reader_holds_the_child_back_and_misses_nothing() {
    run(async {
        let mut child = Command::new("head")
            .args(["-c", "3000000", "/dev/zero"])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut stdout = child.stdout.take().unwrap();
        // Not reading: the internal buffer stops at about 1 MiB, then the child blocks.
        let mut first = [0; 1];
        assert_eq!(stdout.read(&mut first).await?, 1);
        sleep(Duration::from_millis(100)).await;
        assert_eq!(child.try_wait()?, None, "head is blocked on a full pipe");
        let mut rest = Vec::new();
        stdout.read_to_end(&mut rest).await?;
        assert_eq!(rest.len() + 1, 3_000_000);
        assert!(rest.iter().all(|&b| b == 0));
        assert!(child.wait().await?.success());
        Ok(())
    });
}

#[test]
fn dropping_stdin_still_delivers_what_was_queued() {
    run(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        let data = vec![7u8; 512 * 1024];
        let mut sent = 0;
        while sent < data.len() {
            sent += stdin.write(&data[sent..]).await?; // accepted, maybe only queued
        }
        drop(stdin);
        let mut back = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut back).await?;
        assert_eq!(back.len(), data.len());
        assert!(child.wait().await?.success());
        Ok(())
    });
}

#[test]
fn a_dropped_child_runs_on_and_is_reaped() {
    run(async {
        let child = Command::new("sleep").arg("0.2").spawn()?;
        let pid = child.id().unwrap();
        drop(child);
        assert!(!gone(pid), "still running");
        while !gone(pid) {
            sleep(Duration::from_millis(10)).await;
        }
        let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn()?;
        let pid = child.id().unwrap();
        drop(child);
        while !gone(pid) {
            sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    });
}

#[test]
fn wait_with_output_reads_both_streams() {
    run(async {
        let child = Command::new("sh")
            .args([
                "-c",
                "head -c 200000 /dev/zero; head -c 300000 /dev/zero >&2",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let out = child.wait_with_output().await?;
        assert_eq!((out.stdout.len(), out.stderr.len()), (200_000, 300_000));
        assert!(out.status.success());
        Ok(())
    });
}
