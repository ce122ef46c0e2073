"""pyuv.fs: every request function synchronously (no callback) and on the
threadpool (with a callback), FSEvent, FSPoll, stat_result, DirEnt and
FSError (pyuv 1.4 src/fs.c)."""

import os
import socket
import stat
import time

import pytest

import pyuv

fs = pyuv.fs


class Fs:
    """Calls a pyuv.fs function synchronously or asynchronously with the same
    outcome: the result, or FSError(errno, strerror)."""

    def __init__(self, lp, run, mode):
        self.lp, self.run, self.mode = lp, run, mode
        self.reqs = []

    def __call__(self, fn, *args):
        if self.mode == "sync":
            return fn(self.lp, *args)
        seen = []
        req = fn(self.lp, *args, callback=seen.append)
        assert isinstance(req, pyuv.FSRequest) and isinstance(req, pyuv.Request)
        assert req.loop is self.lp
        self.run(self.lp)
        assert seen == [req]
        self.reqs.append(req)
        if req.error is not None:
            assert req.result is None
            raise pyuv.error.FSError(req.error, pyuv.errno.strerror(req.error))
        return req.result


@pytest.fixture(params=["sync", "async"])
def call(request, lp, run):
    return Fs(lp, run, request.param)


def test_fs_open_write_read_fstat_close(call, tmp_path):
    path = str(tmp_path / "data.bin")
    fd = call(fs.open, path, os.O_CREAT | os.O_RDWR, 0o640)
    assert isinstance(fd, int) and fd >= 0
    assert call(fs.write, fd, b"hello world", 0) == 11
    assert call(fs.write, fd, bytearray(b"W"), 6) == 1
    assert call(fs.read, fd, 5, 6) == b"World"
    assert call(fs.read, fd, 100, 0) == b"hello World"
    assert call(fs.read, fd, 10, 100) == b""  # past the end
    st = call(fs.fstat, fd)
    assert isinstance(st, fs.stat_result)
    assert st.st_size == 11 and stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o640 & ~_umask()
    assert call(fs.close, fd) is None
    with pytest.raises(OSError):
        os.fstat(fd)
    with open(path, "rb") as f:
        assert f.read() == b"hello World"
    if call.mode == "async":
        assert call.reqs[0].path == path  # the path of a path request


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_fs_stat_result_fields(call, tmp_path):
    path = tmp_path / "s"
    path.write_bytes(b"12345")
    os.utime(path, (1_000_000_000.25, 1_100_000_000.5))
    st = call(fs.stat, str(path))
    ref = os.stat(path)
    fields = ["st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid",
              "st_size", "st_atime", "st_mtime", "st_ctime", "st_blksize",
              "st_blocks", "st_rdev", "st_flags", "st_gen", "st_birthtime"]
    assert len(st) == len(fields) == 16
    for i, name in enumerate(fields):
        assert st[i] == getattr(st, name)
    for name in ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid",
                 "st_size", "st_blksize", "st_blocks", "st_rdev"):
        assert getattr(st, name) == getattr(ref, name), name
    assert st.st_atime == pytest.approx(1_000_000_000.25)
    assert st.st_mtime == pytest.approx(1_100_000_000.5)
    assert st.st_ctime == pytest.approx(ref.st_ctime, abs=1e-6)
    assert isinstance(st.st_birthtime, float)
    assert isinstance(st.st_flags, int) and isinstance(st.st_gen, int)


def test_fs_stat_float_times(lp, tmp_path):
    path = tmp_path / "t"
    path.write_bytes(b"")
    os.utime(path, (5.75, 7.75))
    assert fs.stat_float_times() is True
    try:
        assert fs.stat_float_times(False) is None
        assert fs.stat_float_times() is False
        st = fs.stat(lp, str(path))
        assert st.st_mtime == 7 and isinstance(st.st_mtime, int)
    finally:
        fs.stat_float_times(True)
    assert fs.stat(lp, str(path)).st_mtime == 7.75


def test_fs_lstat_symlink_readlink_realpath(call, tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"abc")
    link = str(tmp_path / "link")
    assert call(fs.symlink, str(target), link, 0) is None
    assert stat.S_ISLNK(call(fs.lstat, link).st_mode)
    assert stat.S_ISREG(call(fs.stat, link).st_mode)
    assert call(fs.readlink, link) == str(target)
    assert call(fs.realpath, link) == os.path.realpath(target)
    d = tmp_path / "dir"
    d.mkdir()
    dlink = str(tmp_path / "dlink")
    call(fs.symlink, str(d), dlink, fs.UV_FS_SYMLINK_DIR)
    assert os.path.isdir(dlink) and os.path.islink(dlink)
    assert (fs.UV_FS_SYMLINK_DIR, fs.UV_FS_SYMLINK_JUNCTION) == (1, 2)


def test_fs_mkdir_rmdir_rename_unlink_link(call, tmp_path):
    d = str(tmp_path / "newdir")
    assert call(fs.mkdir, d, 0o700) is None
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700 & ~_umask()
    with pytest.raises(pyuv.error.FSError) as ei:
        call(fs.mkdir, d, 0o700)
    assert ei.value.args[0] == pyuv.errno.UV_EEXIST
    assert call(fs.rmdir, d) is None
    assert not os.path.exists(d)
    a = tmp_path / "a"
    a.write_bytes(b"x")
    assert call(fs.rename, str(a), str(tmp_path / "b")) is None
    assert (tmp_path / "b").read_bytes() == b"x" and not a.exists()
    assert call(fs.link, str(tmp_path / "b"), str(tmp_path / "c")) is None
    assert os.stat(tmp_path / "c").st_nlink == 2
    assert call(fs.unlink, str(tmp_path / "b")) is None
    assert not (tmp_path / "b").exists() and (tmp_path / "c").exists()
    with pytest.raises(pyuv.error.FSError) as ei:
        call(fs.rmdir, str(tmp_path))  # not empty
    assert ei.value.args[0] == pyuv.errno.UV_ENOTEMPTY


def test_fs_scandir_direntries(call, tmp_path):
    (tmp_path / "file").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path / "file", tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    try:
        ents = call(fs.scandir, str(tmp_path))
    finally:
        sock.close()
    assert all(isinstance(e, fs.DirEnt) for e in ents)
    by_name = {e.name: e.type for e in ents}
    assert by_name == {"file": fs.UV_DIRENT_FILE, "sub": fs.UV_DIRENT_DIR,
                       "link": fs.UV_DIRENT_LINK, "fifo": fs.UV_DIRENT_FIFO,
                       "sock": fs.UV_DIRENT_SOCKET}
    e = ents[0]
    assert tuple(e) == (e.name, e.type)
    assert call(fs.scandir, str(tmp_path / "sub")) == []


def test_fs_scandir_device_types(lp):
    by_name = {e.name: e.type for e in fs.scandir(lp, "/dev")}
    assert by_name["null"] == fs.UV_DIRENT_CHAR
    blocks = [e.name for e in os.scandir("/dev") if stat.S_ISBLK(os.lstat(e.path).st_mode)]
    for name in blocks:
        assert by_name[name] == fs.UV_DIRENT_BLOCK
    assert (fs.UV_DIRENT_UNKNOWN, fs.UV_DIRENT_FILE, fs.UV_DIRENT_DIR,
            fs.UV_DIRENT_LINK, fs.UV_DIRENT_FIFO, fs.UV_DIRENT_SOCKET,
            fs.UV_DIRENT_CHAR, fs.UV_DIRENT_BLOCK) == (0, 1, 2, 3, 4, 5, 6, 7)


def test_fs_chmod_fchmod_chown_fchown(call, tmp_path):
    path = tmp_path / "perm"
    path.write_bytes(b"")
    assert call(fs.chmod, str(path), 0o604) is None
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o604
    fd = os.open(path, os.O_RDONLY)
    try:
        assert call(fs.fchmod, fd, 0o640) is None
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        uid, gid = os.getuid(), os.getgid()
        assert call(fs.chown, str(path), uid, gid) is None
        assert call(fs.fchown, fd, uid, gid) is None
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (uid, gid)
        if uid == 0:
            call(fs.chown, str(path), 12345, 23456)
            assert (os.stat(path).st_uid, os.stat(path).st_gid) == (12345, 23456)
            call(fs.fchown, fd, 0, 0)
            assert (os.stat(path).st_uid, os.stat(path).st_gid) == (0, 0)
    finally:
        os.close(fd)


def test_fs_chown_minus_one_keeps_ids(lp, tmp_path):
    # uid or gid -1 means "leave unchanged" (pyuv parses C ints, src/fs.c:773, :823)
    path = tmp_path / "keep"
    path.write_bytes(b"")
    before = os.stat(path)
    fs.chown(lp, str(path), -1, -1)
    fd = os.open(path, os.O_RDONLY)
    try:
        fs.fchown(lp, fd, -1, os.getgid())
    finally:
        os.close(fd)
    after = os.stat(path)
    assert (after.st_uid, after.st_gid) == (before.st_uid, os.getgid())


def test_fs_utime_futime(call, tmp_path):
    path = tmp_path / "times"
    path.write_bytes(b"")
    assert call(fs.utime, str(path), 100.5, 200.25) is None
    st = os.stat(path)
    assert (st.st_atime, st.st_mtime) == pytest.approx((100.5, 200.25))
    fd = os.open(path, os.O_RDONLY)
    try:
        assert call(fs.futime, fd, 300, 400.75) is None
    finally:
        os.close(fd)
    st = os.stat(path)
    assert (st.st_atime, st.st_mtime) == pytest.approx((300, 400.75))


def test_fs_ftruncate_fsync_fdatasync(call, tmp_path):
    path = tmp_path / "trunc"
    path.write_bytes(b"0123456789")
    fd = os.open(path, os.O_RDWR)
    try:
        assert call(fs.ftruncate, fd, 4) is None
        assert os.fstat(fd).st_size == 4
        assert call(fs.ftruncate, fd, 8) is None
        assert path.read_bytes() == b"0123\0\0\0\0"
        assert call(fs.fsync, fd) is None
        assert call(fs.fdatasync, fd) is None
    finally:
        os.close(fd)
    with pytest.raises(pyuv.error.FSError) as ei:
        call(fs.fsync, fd)  # closed now
    assert ei.value.args[0] == pyuv.errno.UV_EBADF


def test_fs_sendfile(call, tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"abcdefghij")
    in_fd = os.open(src, os.O_RDONLY)
    out_fd = os.open(tmp_path / "dst", os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        assert call(fs.sendfile, out_fd, in_fd, 2, 5) == 5
    finally:
        os.close(in_fd)
        os.close(out_fd)
    assert (tmp_path / "dst").read_bytes() == b"cdefg"


def test_fs_access(call, tmp_path):
    path = tmp_path / "acc"
    path.write_bytes(b"")
    assert call(fs.access, str(path), os.R_OK | os.W_OK) is None
    assert call(fs.access, str(path), os.F_OK) is None
    with pytest.raises(pyuv.error.FSError) as ei:
        call(fs.access, str(tmp_path / "missing"), os.F_OK)
    assert ei.value.args[0] == pyuv.errno.UV_ENOENT
    if os.getuid() != 0:
        os.chmod(path, 0)
        with pytest.raises(pyuv.error.FSError) as ei:
            call(fs.access, str(path), os.R_OK)
        assert ei.value.args[0] == pyuv.errno.UV_EACCES


def test_fs_errors_are_fserror_with_errno_and_strerror(lp, run, tmp_path):
    missing = str(tmp_path / "missing")
    with pytest.raises(pyuv.error.FSError) as ei:
        fs.stat(lp, missing)
    err = ei.value
    assert isinstance(err, pyuv.error.UVError)
    assert not isinstance(err, pyuv.error.HandleError)
    assert err.args == (pyuv.errno.UV_ENOENT, pyuv.errno.strerror(pyuv.errno.UV_ENOENT))
    with pytest.raises(pyuv.error.FSError) as ei:
        fs.open(lp, missing, os.O_RDONLY, 0)
    assert ei.value.args[0] == pyuv.errno.UV_ENOENT
    with pytest.raises(pyuv.error.FSError) as ei:
        fs.read(lp, 987654, 1, 0)
    assert ei.value.args[0] == pyuv.errno.UV_EBADF
    # Async: the request carries the error, the callback still runs.
    seen = []
    req = fs.unlink(lp, missing, callback=seen.append)
    run(lp)
    assert seen == [req]
    assert req.error == pyuv.errno.UV_ENOENT and req.result is None
    assert req.path == missing


def test_fs_bad_arguments(lp, tmp_path):
    with pytest.raises(TypeError):
        fs.stat(lp, str(tmp_path), callback=5)
    with pytest.raises(TypeError):
        fs.stat("not a loop", str(tmp_path))
    with pytest.raises(TypeError):
        fs.write(lp, 1, "text", 0)


def test_fs_request_dict_and_callback_exception(lp, run, tmp_path):
    seen = []
    lp.excepthook = lambda typ, val, tb: seen.append(typ)

    def cb(req):
        req.note = "set in callback"
        raise UnicodeError
    req = fs.stat(lp, str(tmp_path), callback=cb)
    req.tag = 1
    run(lp)
    assert req.__dict__ == {"tag": 1, "note": "set in callback"}
    assert seen == [UnicodeError]


def test_fs_request_cancel_after_completion(lp, run, tmp_path):
    req = fs.stat(lp, str(tmp_path), callback=lambda r: None)
    run(lp)
    assert req.cancel() is False  # nothing to cancel any more
    assert req.error is None and stat.S_ISDIR(req.result.st_mode)


# -- FSEvent ------------------------------------------------------------------

def test_fsevent_directory_rename_and_change(lp, run, tmp_path):
    events = []
    ev = fs.FSEvent(lp)

    def cb(h, filename, flags, error):
        events.append((h, filename, flags, error))
        if any(f == "created" for _, f, _, _ in events):
            h.close()
    assert ev.start(str(tmp_path), 0, cb) is None
    assert ev.path == str(tmp_path)
    assert ev.active
    t = pyuv.Timer(lp)
    t.start(lambda h: ((tmp_path / "created").write_bytes(b"x"), h.close()), 0.02, 0)
    run(lp)
    mine = [e for e in events if e[1] == "created"]
    assert mine, events
    assert all(h is ev and err is None for h, _, _, err in events)
    assert mine[0][2] & (fs.UV_RENAME | fs.UV_CHANGE)
    assert (fs.UV_RENAME, fs.UV_CHANGE) == (1, 2)


def test_fsevent_file_change_keywords_and_stop(lp, run, tmp_path):
    path = tmp_path / "watched"
    path.write_bytes(b"a")
    events = []
    ev = fs.FSEvent(lp)
    ev.start(path=str(path), flags=fs.UV_FS_EVENT_WATCH_ENTRY | fs.UV_FS_EVENT_STAT,
             callback=lambda h, fn, flags, err: (events.append((fn, flags, err)), h.stop()))
    t = pyuv.Timer(lp)
    t.start(lambda h: (path.write_bytes(b"changed"), h.close()), 0.02, 0)
    run(lp)
    assert events and events[0][0] == "watched"
    assert events[0][1] & fs.UV_CHANGE and events[0][2] is None
    assert not ev.active
    assert (fs.UV_FS_EVENT_WATCH_ENTRY, fs.UV_FS_EVENT_STAT) == (1, 2)
    ev.close()
    run(lp)


def test_fsevent_missing_path_raises(lp, tmp_path):
    ev = fs.FSEvent(lp)
    with pytest.raises(pyuv.error.FSEventError) as ei:
        ev.start(str(tmp_path / "nope"), 0, lambda *a: None)
    assert ei.value.args[0] == pyuv.errno.UV_ENOENT
    assert isinstance(ei.value, pyuv.error.HandleError)
    ev.close()


# -- FSPoll -------------------------------------------------------------------

def test_fspoll_detects_change(lp, run, tmp_path):
    path = tmp_path / "polled"
    path.write_bytes(b"short")
    changes = []
    p = fs.FSPoll(lp)

    def cb(h, prev, curr, error):
        changes.append((h, prev, curr, error))
        h.close()
    assert p.start(str(path), 0.05, cb) is None
    assert p.path == str(path)
    assert p.active

    def modify(t):
        t.close()
        path.write_bytes(b"much longer content")
    pyuv.Timer(lp).start(modify, 0.15, 0)
    run(lp)
    assert len(changes) == 1
    h, prev, curr, error = changes[0]
    assert h is p and error is None
    assert isinstance(prev, fs.stat_result) and isinstance(curr, fs.stat_result)
    assert (prev.st_size, curr.st_size) == (5, 19)


def test_fspoll_missing_file_reports_error_then_stop(lp, run, tmp_path):
    got = []
    p = fs.FSPoll(lp)
    p.start(path=str(tmp_path / "absent"), interval=0.05,
            callback=lambda h, prev, curr, err: (got.append((prev, curr, err)), h.stop()))
    run(lp)
    assert got == [(None, None, pyuv.errno.UV_ENOENT)]
    assert not p.active
    p.close()
    run(lp)
    with pytest.raises(pyuv.error.HandleClosedError):
        p.start(str(tmp_path), 1.0, lambda *a: None)


def test_fspoll_and_fsevent_stop_before_change(lp, run, tmp_path):
    p = fs.FSPoll(lp)
    p.start(str(tmp_path), 0.05, lambda *a: pytest.fail("stopped poll fired"))
    assert p.stop() is None
    e = fs.FSEvent(lp)
    e.start(str(tmp_path), 0, lambda *a: pytest.fail("stopped event fired"))
    assert e.stop() is None
    (tmp_path / "late").write_bytes(b"x")
    time.sleep(0.1)
    assert run(lp) is False
    p.close()
    e.close()
    run(lp)
