//! File-system requests: every operation in both forms (submitted with a callback, run at
//! once), their errors, cancellation while queued, a closed loop.

#[path = "support/pool.rs"]
mod pool;
mod support;

use rsuv::fs::{self, EntryType};
use rsuv::{Error, Loop, RunMode};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A fresh directory under the system's temp dir, removed (with what is left in it) on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(lp: &Loop) -> TempDir {
        let tpl = std::env::temp_dir().join("rsuv-fs-XXXXXX");
        TempDir(fs::mkdtemp(&tpl).run(lp).unwrap())
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Submits `op`, runs the loop, returns what its callback got (asserting it ran once).
fn submit<T: 'static>(lp: &Loop, op: fs::FsOp<T>) -> rsuv::Result<T> {
    let got = Rc::new(RefCell::new(None));
    let g = got.clone();
    let req = op
        .submit(lp, move |r| {
            assert!(g.borrow().is_none(), "callback ran twice");
            *g.borrow_mut() = Some(r);
        })
        .unwrap();
    assert!(req.is_pending());
    lp.run(RunMode::Default).unwrap();
    assert!(!req.is_pending());
    assert_eq!(req.cancel(), Err(Error::CLOSED));
    got.borrow_mut().take().expect("callback never ran")
}

fn write_file(lp: &Loop, path: &Path, data: &[u8]) {
    let fd = fs::open(path, libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC, 0o644)
        .run(lp)
        .unwrap();
    assert_eq!(
        fs::write(fd, data.to_vec(), -1).run(lp).unwrap(),
        data.len()
    );
    fs::close(fd).run(lp).unwrap();
}

#[test]
fn open_write_read_close_in_both_forms() {
    let lp = Loop::new().unwrap();
    let dir = TempDir::new(&lp);
    let path = dir.join("data.bin");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
    let flags = libc::O_CREAT | libc::O_RDWR;
    let fd = submit(&lp, fs::open(&path, flags, 0o600)).unwrap();
    assert_eq!(
        submit(&lp, fs::write(fd, data.clone(), 0)).unwrap(),
        data.len()
    );
    assert_eq!(
        submit(&lp, fs::read(fd, 1000, 5000)).unwrap(),
        &data[5000..6000]
    );
    assert_eq!(fs::read(fd, 300_000, 0).run(&lp).unwrap(), data);
    assert_eq!(
        submit(&lp, fs::read(fd, 10, data.len() as i64)).unwrap(),
        b""
    );
    submit(&lp, fs::fsync(fd)).unwrap();
    fs::fdatasync(fd).run(&lp).unwrap();
    submit(&lp, fs::close(fd)).unwrap();
    // Not `close(fd)` again: the tests run on parallel threads, and another may have been
    // given the same number since (closing its descriptor, once libuv's epoll one: abort).
    assert_eq!(fs::close(-1).run(&lp), Err(Error::EBADF));
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

#[test]
fn stat_fstat_lstat_truncate_chmod_and_times() {
    let lp = Loop::new().unwrap();
    let dir = TempDir::new(&lp);
    let path = dir.join("f");
    write_file(&lp, &path, b"0123456789");
    let st = submit(&lp, fs::stat(&path)).unwrap();
    assert!(st.is_file() && !st.is_dir());
    assert_eq!(st.size, 10);
    assert!(fs::stat(&dir.0).run(&lp).unwrap().is_dir());
    let fd = fs::open(&path, libc::O_RDWR, 0).run(&lp).unwrap();
    submit(&lp, fs::ftruncate(fd, 4)).unwrap();
    assert_eq!(submit(&lp, fs::fstat(fd)).unwrap().size, 4);
    submit(&lp, fs::fchmod(fd, 0o600)).unwrap();
    assert_eq!(fs::fstat(fd).run(&lp).unwrap().mode & 0o777, 0o600);
    submit(&lp, fs::futime(fd, 1_000_000.0, 2_000_000.5)).unwrap();
    let st = fs::fstat(fd).run(&lp).unwrap();
    assert_eq!((st.atime.sec, st.mtime.sec), (1_000_000, 2_000_000));
    fs::close(fd).run(&lp).unwrap();
    submit(&lp, fs::chmod(&path, 0o640)).unwrap();
    submit(&lp, fs::utime(&path, 3_000_000.0, 4_000_000.0)).unwrap();
    let st = fs::lstat(&path).run(&lp).unwrap();
    assert_eq!(st.mode & 0o777, 0o640);
    assert_eq!(st.mtime.sec, 4_000_000);
    // SAFETY: getuid and getgid have no preconditions and cannot fail.
    let (me, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    submit(&lp, fs::chown(&path, me, gid)).unwrap();
    assert_eq!(fs::stat(&path).run(&lp).unwrap().uid, u64::from(me));
}

#[test]
fn links_renames_directories_and_scandir() {
    let lp = Loop::new().unwrap();
    let dir = TempDir::new(&lp);
    let a = dir.join("a");
    write_file(&lp, &a, b"hello");
    submit(&lp, fs::link(&a, dir.join("hard"))).unwrap();
    assert_eq!(fs::stat(&a).run(&lp).unwrap().nlink, 2);
    submit(&lp, fs::symlink("a", dir.join("soft"), 0)).unwrap();
    assert_eq!(
        submit(&lp, fs::readlink(dir.join("soft"))).unwrap(),
        PathBuf::from("a")
    );
    let real = submit(&lp, fs::realpath(dir.join("soft"))).unwrap();
    assert_eq!(real, std::fs::canonicalize(&a).unwrap());
    let lst = fs::lstat(dir.join("soft")).run(&lp).unwrap();
    assert_eq!(lst.mode as u32 & libc::S_IFMT, libc::S_IFLNK);
    submit(&lp, fs::rename(&a, dir.join("b"))).unwrap();
    assert_eq!(fs::access(&a, libc::F_OK).run(&lp), Err(Error::ENOENT));
    submit(&lp, fs::access(dir.join("b"), libc::R_OK)).unwrap();
    submit(&lp, fs::mkdir(dir.join("sub"), 0o755)).unwrap();
    assert_eq!(
        fs::mkdir(dir.join("sub"), 0o755).run(&lp),
        Err(Error::EEXIST)
    );
    let mut names: Vec<_> = submit(&lp, fs::scandir(&dir.0))
        .unwrap()
        .into_iter()
        .map(|e| (e.name.into_string().unwrap(), e.kind))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        names,
        [
            ("b".to_string(), EntryType::File),
            ("hard".to_string(), EntryType::File),
            ("soft".to_string(), EntryType::Link),
            ("sub".to_string(), EntryType::Dir),
        ]
    );
    submit(&lp, fs::rmdir(dir.join("sub"))).unwrap();
    for name in ["b", "hard", "soft"] {
        submit(&lp, fs::unlink(dir.join(name))).unwrap();
    }
    assert_eq!(fs::scandir(&dir.0).run(&lp).unwrap(), []);
}

#[test]
fn copyfile_and_sendfile() {
    let lp = Loop::new().unwrap();
    let dir = TempDir::new(&lp);
    let (src, dst) = (dir.join("src"), dir.join("dst"));
    let data = vec![42u8; 100_000];
    write_file(&lp, &src, &data);
    submit(&lp, fs::copyfile(&src, &dst, 0)).unwrap();
    assert_eq!(std::fs::read(&dst).unwrap(), data);
    assert_eq!(
        fs::copyfile(&src, &dst, fs::COPYFILE_EXCL).run(&lp),
        Err(Error::EEXIST)
    );
    let inp = fs::open(&src, libc::O_RDONLY, 0).run(&lp).unwrap();
    let out = fs::open(dir.join("sent"), libc::O_CREAT | libc::O_WRONLY, 0o644)
        .run(&lp)
        .unwrap();
    let mut sent = 0;
    while sent < data.len() {
        let n = submit(&lp, fs::sendfile(out, inp, sent as i64, data.len() - sent)).unwrap();
        assert!(n > 0);
        sent += n;
    }
    fs::close(inp).run(&lp).unwrap();
    fs::close(out).run(&lp).unwrap();
    assert_eq!(std::fs::read(dir.join("sent")).unwrap(), data);
}

#[test]
fn errors_are_the_operations_own_in_both_forms() {
    let lp = Loop::new().unwrap();
    let dir = TempDir::new(&lp);
    let missing = dir.join("missing");
    assert_eq!(
        fs::open(&missing, libc::O_RDONLY, 0).run(&lp),
        Err(Error::ENOENT)
    );
    assert_eq!(
        submit(&lp, fs::open(&missing, libc::O_RDONLY, 0)),
        Err(Error::ENOENT)
    );
    assert_eq!(submit(&lp, fs::stat(&missing)), Err(Error::ENOENT));
    assert_eq!(submit(&lp, fs::rmdir(&missing)), Err(Error::ENOENT));
    assert_eq!(fs::readlink(&dir.0).run(&lp), Err(Error::EINVAL));
    assert_eq!(fs::scandir(&missing).run(&lp), Err(Error::ENOENT));
    assert_eq!(fs::read(-1, 10, 0).run(&lp), Err(Error::EBADF));
    // A NUL inside a path is refused, never passed to C cut short.
    let nul = Path::new("bad\0name");
    assert_eq!(fs::unlink(nul).run(&lp), Err(Error::EINVAL));
    assert!(matches!(
        fs::stat(nul).submit(&lp, |_| panic!("ran")),
        Err(Error::EINVAL)
    ));
    lp.run(RunMode::Default).unwrap();
}

#[test]
fn queued_operations_can_be_cancelled() {
    let lp = Loop::new().unwrap();
    let dir = TempDir::new(&lp);
    let full = pool::fill(&lp);
    let results = Rc::new(RefCell::new(Vec::new()));
    let reqs: Vec<_> = (0..8)
        .map(|_| {
            let r = results.clone();
            fs::stat(&dir.0)
                .submit(&lp, move |res| r.borrow_mut().push(res.map(|s| s.is_dir())))
                .unwrap()
        })
        .collect();
    for req in &reqs[4..] {
        req.cancel().unwrap(); // still queued behind the blockers: cancelled for sure
        req.cancel().unwrap(); // again: still fine
    }
    full.release();
    lp.run(RunMode::Default).unwrap();
    let got = results.borrow();
    assert_eq!(got.len(), 8);
    assert_eq!(got.iter().filter(|r| **r == Ok(true)).count(), 4);
    assert_eq!(
        got.iter().filter(|r| **r == Err(Error::ECANCELED)).count(),
        4
    );
}

#[test]
fn a_closed_loop_refuses_both_forms() {
    let lp = Loop::new().unwrap();
    let handle = lp.handle();
    lp.close().unwrap();
    assert_eq!(fs::stat("/").run(&handle), Err(Error::CLOSED));
    assert!(matches!(
        fs::stat("/").submit(&handle, |_| panic!("ran")),
        Err(Error::CLOSED)
    ));
}
