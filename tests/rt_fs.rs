//! rsuv::rt::fs: whole-file helpers, directories and links, and `File` as AsyncRead +
//! AsyncWrite + AsyncSeek (small and odd-sized buffers, background writes, seeks, drops).

use futures::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use rsuv::rt::{block_on, fs, sleep};
use std::io::{ErrorKind, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn tempdir() -> TempDir {
    TempDir(
        fs::mkdtemp(std::env::temp_dir().join("rsuv-rtfs-XXXXXX"))
            .await
            .unwrap(),
    )
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn write_all_then_read_back_in_odd_sized_pieces() {
    block_on(async {
        let dir = tempdir().await;
        let path = dir.0.join("big");
        let data = pattern(3_000_000);
        let mut f = fs::File::create(&path).await.unwrap();
        for chunk in data.chunks(70_001) {
            f.write_all(chunk).await.unwrap();
        }
        f.flush().await.unwrap();
        assert_eq!(f.metadata().await.unwrap().size, data.len() as u64);
        f.close().await.unwrap();
        assert_eq!(f.as_raw_fd(), -1);
        assert_eq!(std::fs::read(&path).unwrap(), data);

        let mut f = fs::File::open(&path).await.unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 4093];
        loop {
            let n = f.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, data);
        assert_eq!(fs::read(&path).await.unwrap(), data);
    });
}

#[test]
fn seek_from_start_current_and_end() {
    block_on(async {
        let dir = tempdir().await;
        let path = dir.0.join("f");
        fs::write(&path, b"0123456789").await.unwrap();
        let mut f = fs::File::open_with(&path, libc::O_RDWR, 0).await.unwrap();
        let mut two = [0u8; 2];
        f.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"01");
        assert_eq!(f.seek(SeekFrom::Current(3)).await.unwrap(), 5);
        f.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"56");
        assert_eq!(f.seek(SeekFrom::End(-1)).await.unwrap(), 9);
        f.read_exact(&mut [0u8; 1]).await.unwrap();
        assert_eq!(f.seek(SeekFrom::Start(2)).await.unwrap(), 2);
        f.write_all(b"ab").await.unwrap();
        assert!(f.seek(SeekFrom::Current(-100)).await.is_err());
        f.set_len(6).await.unwrap();
        f.sync_all().await.unwrap();
        f.close().await.unwrap();
        assert_eq!(fs::read_to_string(&path).await.unwrap(), "01ab45");
    });
}

#[test]
fn directories_links_and_metadata() {
    block_on(async {
        let dir = tempdir().await;
        let deep = dir.0.join("a/b/c");
        fs::create_dir_all(&deep).await.unwrap();
        fs::create_dir_all(&deep).await.unwrap(); // again: fine
        assert!(fs::metadata(&deep).await.unwrap().is_dir());
        let file = deep.join("f.txt");
        fs::write(&file, "hello").await.unwrap();
        fs::copy(&file, dir.0.join("copy")).await.unwrap();
        fs::hard_link(&file, dir.0.join("hard")).await.unwrap();
        fs::symlink("a/b/c/f.txt", dir.0.join("soft"))
            .await
            .unwrap();
        assert_eq!(
            fs::read_link(dir.0.join("soft")).await.unwrap(),
            PathBuf::from("a/b/c/f.txt")
        );
        assert_eq!(
            fs::canonicalize(dir.0.join("soft")).await.unwrap(),
            std::fs::canonicalize(&file).unwrap()
        );
        assert!(
            fs::symlink_metadata(dir.0.join("soft")).await.unwrap().mode as u32 & libc::S_IFMT
                == libc::S_IFLNK
        );
        fs::set_permissions(&file, 0o600).await.unwrap();
        assert_eq!(fs::metadata(&file).await.unwrap().mode & 0o777, 0o600);
        fs::rename(dir.0.join("copy"), dir.0.join("moved"))
            .await
            .unwrap();
        let mut names: Vec<_> = fs::read_dir(&dir.0)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.name.into_string().unwrap(), e.kind))
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let kinds: Vec<_> = names.iter().map(|(n, k)| (n.as_str(), *k)).collect();
        assert_eq!(
            kinds,
            [
                ("a", fs::EntryType::Dir),
                ("hard", fs::EntryType::File),
                ("moved", fs::EntryType::File),
                ("soft", fs::EntryType::Link),
            ]
        );
        assert_eq!(
            fs::read_to_string(dir.0.join("moved")).await.unwrap(),
            "hello"
        );
        fs::remove_file(dir.0.join("moved")).await.unwrap();
        assert_eq!(
            fs::remove_dir(dir.0.join("a"))
                .await
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOTEMPTY)
        );
    });
}

#[test]
fn errors_are_io_errors_of_the_right_kind() {
    block_on(async {
        let dir = tempdir().await;
        let missing = dir.0.join("missing");
        assert_eq!(
            fs::File::open(&missing).await.err().unwrap().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            fs::read(&missing).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            fs::metadata(&missing).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        fs::write(dir.0.join("bin"), [0xffu8, 0xfe]).await.unwrap();
        assert_eq!(
            fs::read_to_string(dir.0.join("bin"))
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidData
        );
        let mut ro = fs::File::open(dir.0.join("bin")).await.unwrap();
        // The write is taken at once; its EBADF (read-only descriptor) comes with the flush.
        ro.write_all(b"x").await.unwrap();
        assert_eq!(
            ro.flush().await.unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
    });
}

#[test]
fn a_file_dropped_with_a_write_in_flight_still_writes_it_and_closes() {
    block_on(async {
        let dir = tempdir().await;
        let path = dir.0.join("dropped");
        let data = pattern(2_000_000);
        let fd = {
            let mut f = fs::File::create(&path).await.unwrap();
            f.write_all(&data).await.unwrap(); // accepted; still being written
            f.as_raw_fd()
        };
        // The descriptor closes once the write has finished.
        let mut waited = 0;
        while std::fs::metadata(format!("/proc/self/fd/{fd}")).is_ok() && waited < 200 {
            sleep(Duration::from_millis(10)).await;
            waited += 1;
        }
        assert!(
            std::fs::metadata(format!("/proc/self/fd/{fd}")).is_err(),
            "fd {fd} left open"
        );
        assert_eq!(std::fs::read(&path).unwrap(), data);
    });
}
