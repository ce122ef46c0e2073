"""pyuv.Process and pyuv.StdIO with real child processes (pyuv 1.4
src/process.c)."""

import os
import signal
import subprocess
import sys

import pytest

import pyuv

PY = sys.executable


def _spawn_capture(lp, run, args, stdin_data=None, **kw):
    """Spawn with stdout (and optionally stdin) on pipes; returns
    (proc, exit info, stdout bytes)."""
    out = bytearray()
    exits = []
    stdout = pyuv.Pipe(lp)
    stdio = []
    stdin = None
    if stdin_data is not None:
        stdin = pyuv.Pipe(lp)
        stdio.append(pyuv.StdIO(stream=stdin, flags=pyuv.UV_CREATE_PIPE | pyuv.UV_READABLE_PIPE))
    else:
        stdio.append(pyuv.StdIO(flags=pyuv.UV_IGNORE))
    stdio.append(pyuv.StdIO(stream=stdout, flags=pyuv.UV_CREATE_PIPE | pyuv.UV_WRITABLE_PIPE))

    def on_exit(proc, exit_status, term_signal):
        exits.append((proc, exit_status, term_signal, proc.pid))
        proc.close()

    def on_read(h, data, error):
        if data is None:
            assert error == pyuv.errno.UV_EOF
            h.close()
        else:
            out.extend(data)

    proc = pyuv.Process.spawn(lp, args, stdio=stdio, exit_callback=on_exit, **kw)
    stdout.start_read(on_read)
    if stdin is not None:
        stdin.write(stdin_data)
        stdin.shutdown(lambda h, e: h.close())
    run(lp)
    return proc, exits, bytes(out)


def test_process_spawn_args_env_cwd_exit_status(lp, run, tmp_path):
    code = ("import os, sys; print(os.getpid(), os.getcwd(), os.environ.get('FOO'), "
            "'PATH' in os.environ); sys.exit(3)")
    proc, exits, out = _spawn_capture(lp, run, [PY, "-c", code],
                                      env={"FOO": "bar baz"}, cwd=str(tmp_path))
    assert isinstance(proc, pyuv.Process)
    assert isinstance(proc, pyuv.Handle)
    words = out.decode().split()
    assert int(words[0]) == exits[0][3]  # the pid seen in the exit callback
    assert words[1] == str(tmp_path)
    assert out.decode().split()[2:] == ["bar", "baz", "False"]  # env replaces
    assert exits[0][:3] == (proc, 3, 0)


def test_process_args_as_string_and_executable(lp, run):
    proc, exits, out = _spawn_capture(lp, run, "/bin/true")
    assert exits[0][:3] == (proc, 0, 0)
    proc, exits, out = _spawn_capture(lp, run, ["argv-zero", "-c", 'echo "$0"'],
                                      executable="/bin/sh")
    assert out == b"argv-zero\n"
    assert exits[0][1:3] == (0, 0)


def test_process_stdin_pipe(lp, run):
    code = "import sys; sys.stdout.write(sys.stdin.read().upper())"
    proc, exits, out = _spawn_capture(lp, run, [PY, "-c", code], stdin_data=b"shout this")
    assert out == b"SHOUT THIS"
    assert exits[0][1:3] == (0, 0)


def test_process_kill_and_term_signal(lp, run):
    exits = []

    def on_exit(proc, status, sig):
        exits.append((status, sig))
        proc.close()
    proc = pyuv.Process.spawn(lp, [PY, "-c", "import time; time.sleep(30)"],
                              exit_callback=on_exit)
    assert proc.pid > 0
    assert proc.active
    assert proc.kill(signal.SIGTERM) is None
    run(lp)
    assert exits == [(0, signal.SIGTERM)]


def test_process_kill_after_exit_raises(lp, run):
    proc = pyuv.Process.spawn(lp, ["/bin/true"])
    run(lp)
    with pytest.raises(pyuv.error.ProcessError) as ei:
        proc.kill(signal.SIGTERM)
    assert ei.value.args[0] == pyuv.errno.UV_ESRCH
    proc.close()
    run(lp)


def test_process_stdio_inherit_fd(lp, run, tmp_path):
    path = tmp_path / "out.txt"
    exits = []
    with open(path, "wb") as f:
        stdio = [pyuv.StdIO(flags=pyuv.UV_IGNORE),
                 pyuv.StdIO(fd=f.fileno(), flags=pyuv.UV_INHERIT_FD)]
        assert stdio[1].fd == f.fileno()
        assert stdio[1].flags == pyuv.UV_INHERIT_FD
        assert stdio[1].stream is None
        pyuv.Process.spawn(lp, [PY, "-c", "print('into the file')"], stdio=stdio,
                           exit_callback=lambda p, s, t: (exits.append(s), p.close()))
        run(lp)
    assert exits == [0]
    assert path.read_bytes() == b"into the file\n"


def test_process_stdio_inherit_stream(lp, run):
    import socket
    a, b = socket.socketpair()
    b.settimeout(5)
    stream = pyuv.Pipe(lp)
    stream.open(a.detach())
    io = pyuv.StdIO(stream=stream, flags=pyuv.UV_INHERIT_STREAM)
    assert io.stream is stream and io.flags == pyuv.UV_INHERIT_STREAM
    exits = []
    pyuv.Process.spawn(lp, [PY, "-c", "print('via stream')"],
                       stdio=[pyuv.StdIO(flags=pyuv.UV_IGNORE), io],
                       exit_callback=lambda p, s, t: (exits.append(s), p.close()))
    run(lp)
    stream.close()
    run(lp)
    assert b.recv(100) == b"via stream\n"
    b.close()
    assert exits == [0]


def test_process_stdio_ignore_is_dev_null(lp, run):
    code = ("import os, sys; n = os.stat('/dev/null'); "
            "sys.exit(0 if all(os.path.samestat(os.fstat(fd), n) for fd in (0, 1)) else 9)")
    exits = []
    pyuv.Process.spawn(lp, [PY, "-c", code],
                       stdio=[pyuv.StdIO(flags=pyuv.UV_IGNORE), pyuv.StdIO()],
                       exit_callback=lambda p, s, t: (exits.append(s), p.close()))
    run(lp)
    assert exits == [0]


def test_stdio_defaults_and_constants():
    io = pyuv.StdIO()
    assert io.flags == pyuv.UV_IGNORE == 0
    assert io.stream is None
    assert io.fd == -1
    assert (pyuv.UV_CREATE_PIPE, pyuv.UV_INHERIT_FD, pyuv.UV_INHERIT_STREAM,
            pyuv.UV_READABLE_PIPE, pyuv.UV_WRITABLE_PIPE) == (1, 2, 4, 16, 32)
    assert (pyuv.UV_PROCESS_SETUID, pyuv.UV_PROCESS_SETGID,
            pyuv.UV_PROCESS_WINDOWS_VERBATIM_ARGUMENTS, pyuv.UV_PROCESS_DETACHED,
            pyuv.UV_PROCESS_WINDOWS_HIDE) == (1, 2, 4, 8, 16)


def test_process_detached_has_own_session(lp, run):
    code = "import os; print(os.getsid(0) == os.getpid())"
    proc, exits, out = _spawn_capture(lp, run, [PY, "-c", code],
                                      flags=pyuv.UV_PROCESS_DETACHED)
    assert out == b"True\n"
    proc, exits, out = _spawn_capture(lp, run, [PY, "-c", code])
    assert out == b"False\n"


@pytest.mark.skipif(os.getuid() != 0, reason="setuid needs root")
def test_process_setuid_setgid(lp, run):
    # /bin/sh, not sys.executable: the interpreter may live where nobody
    # cannot reach it (/root). pyuv passes uid/gid to uv_spawn (src/process.c:258).
    proc, exits, out = _spawn_capture(
        lp, run, ["/bin/sh", "-c", 'echo "$(id -u) $(id -g)"'], cwd="/",
        uid=65534, gid=65534, flags=pyuv.UV_PROCESS_SETUID | pyuv.UV_PROCESS_SETGID)
    assert out == b"65534 65534\n"
    assert exits[0][1:3] == (0, 0)
    proc, exits, out = _spawn_capture(lp, run, ["/bin/sh", "-c", 'echo "$(id -u)"'],
                                      uid=65534, gid=65534)  # no flags: ignored
    assert out == b"0\n"


def test_process_spawn_errors(lp, run):
    with pytest.raises(pyuv.error.ProcessError) as ei:
        pyuv.Process.spawn(lp, ["/nonexistent/program"])
    assert ei.value.args[0] == pyuv.errno.UV_ENOENT
    with pytest.raises(ValueError):
        pyuv.Process.spawn(lp, [])
    with pytest.raises(TypeError):
        pyuv.Process.spawn(lp, ["/bin/true"], stdio=["not a StdIO"])
    run(lp)


def test_process_unspawned_pid_is_none(lp):
    assert pyuv.Process(lp).pid is None


def test_process_close_callback(lp, run):
    closed = []
    exits = []

    def on_exit(proc, status, sig):
        exits.append(status)
        proc.close(lambda p: closed.append((p, p.loop)))
    proc = pyuv.Process.spawn(lp, ["/bin/true"], exit_callback=on_exit)
    run(lp)
    assert exits == [0]
    assert closed == [(proc, None)]
    assert proc.closed


def test_process_pid_survives_close(lp, run):
    proc = pyuv.Process.spawn(lp, ["/bin/true"],
                              exit_callback=lambda p, s, t: p.close())
    pid = proc.pid
    run(lp)
    assert proc.closed
    assert proc.pid == pid


def test_process_close_running_child_keeps_it_running(lp, run):
    proc = pyuv.Process.spawn(lp, [PY, "-c", "import time; time.sleep(30)"])
    pid = proc.pid
    proc.close()
    run(lp)
    try:
        os.kill(pid, 0)  # still alive: closing the handle does not kill it
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_process_exit_callback_exception_to_excepthook(lp, run):
    seen = []
    lp.excepthook = lambda typ, val, tb: seen.append(typ)

    def on_exit(proc, status, sig):
        proc.close()
        raise NotImplementedError
    pyuv.Process.spawn(lp, ["/bin/true"], exit_callback=on_exit)
    run(lp)
    assert seen == [NotImplementedError]


def test_process_disable_stdio_inheritance():
    code = (
        "import fcntl, os, pyuv\n"
        "r, w = os.pipe()\n"
        "os.set_inheritable(r, True)\n"
        "before = fcntl.fcntl(r, fcntl.F_GETFD) & fcntl.FD_CLOEXEC\n"
        "assert pyuv.Process.disable_stdio_inheritance() is None\n"
        "after = fcntl.fcntl(r, fcntl.F_GETFD) & fcntl.FD_CLOEXEC\n"
        "print(bool(before), bool(after))\n"
    )
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]
