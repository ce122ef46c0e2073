"""Subprocesses of rsuv.Loop: `subprocess_exec` and `subprocess_shell`.

A first version: the child is started by `subprocess.Popen` (so every Popen argument works:
`cwd`, `env`, `pass_fds`, `close_fds`, `start_new_session`, `process_group`, `user`,
`group`, `extra_groups`, `umask`, `restore_signals`, `preexec_fn`), its pipes become the
loop's pipe transports, and asyncio's `base_subprocess.BaseSubprocessTransport` drives the
protocol. The exit is watched per child, never with SIGCHLD or `waitpid(-1)`: a pidfd
(`os.pidfd_open`) watched by the loop, or where the kernel has none, a thread blocked in
`waitpid` on that one pid. So a `subprocess.run` in another thread keeps its own children,
the status is never lost (the pidfd reports an exit that happened before it was watched),
and a child whose transport was closed early is still reaped.
"""
import os
import subprocess
import threading

from asyncio import base_subprocess
from asyncio.log import logger

from . import _rsuv


def _exit_code(status):
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return status


class SubprocessTransport(base_subprocess.BaseSubprocessTransport):
    """A child process's transport on an rsuv loop."""

    def _start(self, args, shell, stdin, stdout, stderr, bufsize, **kwargs):
        self._proc = subprocess.Popen(args, shell=shell, stdin=stdin, stdout=stdout,
                                      stderr=stderr, universal_newlines=False,
                                      bufsize=bufsize, **kwargs)


class _ExitWatch:
    """Reaps one child and reports its exit code to its transport, on the loop."""

    def __init__(self, loop, transport):
        self._loop = loop
        self._transport = transport
        self._proc = transport._proc
        self._pid = transport.get_pid()
        self._pidfd = None
        try:
            self._pidfd = os.pidfd_open(self._pid)
        except (AttributeError, OSError):
            thread = threading.Thread(target=self._wait_in_thread, daemon=True,
                                      name=f"rsuv-waitpid-{self._pid}")
            thread.start()
            return
        _rsuv.LoopCore.add_reader(loop, self._pidfd, self._on_pidfd)
        loop._exit_watches().add(self)

    def _on_pidfd(self):
        self._unwatch()
        self._report(self._reap(os.WNOHANG))

    def _unwatch(self):
        self._loop._exit_watches().discard(self)
        _rsuv.LoopCore.remove_reader(self._loop, self._pidfd)
        os.close(self._pidfd)
        self._pidfd = None

    def loop_closing(self):
        """The loop closes with the child still running: a thread reaps it when it exits
        (its status has no one to go to any more)."""
        self._unwatch()
        threading.Thread(target=self._wait_in_thread, daemon=True,
                         name=f"rsuv-waitpid-{self._pid}").start()

    def _wait_in_thread(self):
        code = self._reap(0)
        try:
            self._loop.call_soon_threadsafe(self._report, code)
        except RuntimeError:
            pass  # the loop was closed meanwhile

    def _reap(self, flags):
        try:
            pid, status = os.waitpid(self._pid, flags)
        except ChildProcessError:
            # Reaped by someone else: Popen.poll() (the transport's close() calls it) keeps
            # the status it got.
            code = self._proc.returncode
            if code is None:
                logger.warning("child process pid %d was reaped elsewhere; its exit status "
                               "is unknown, reported as 255", self._pid)
                code = 255
            return code
        if pid == 0:  # pidfd readable before the zombie is waitable: not on Linux
            return self._reap(0)
        return _exit_code(status)

    def _report(self, code):
        transport, self._transport = self._transport, None
        if transport is not None and transport._returncode is None:
            transport._process_exited(code)


class SubprocessMixin:
    """`subprocess_exec` and `subprocess_shell` for rsuv.Loop."""

    def _exit_watches(self):
        try:
            return self._rsuv_exit_watches
        except AttributeError:
            self._rsuv_exit_watches = set()
            return self._rsuv_exit_watches

    def _close_exit_watches(self):
        """At `close()`: the children still running are reaped by threads from now on."""
        for watch in list(self._exit_watches()):
            watch.loop_closing()

    async def subprocess_exec(self, protocol_factory, program, *args,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=False, shell=False,
                              bufsize=0, encoding=None, errors=None, text=None, **kwargs):
        if shell:
            raise ValueError("shell must be False")
        _check_popen_args(universal_newlines, bufsize, text, encoding, errors)
        protocol = protocol_factory()
        transport = await self._make_subprocess_transport(
            protocol, (program,) + args, False, stdin, stdout, stderr, bufsize, **kwargs)
        return transport, protocol

    async def subprocess_shell(self, protocol_factory, cmd, *, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=False, shell=True, bufsize=0,
                               encoding=None, errors=None, text=None, **kwargs):
        if not isinstance(cmd, (bytes, str)):
            raise ValueError("cmd must be a string")
        if not shell:
            raise ValueError("shell must be True")
        _check_popen_args(universal_newlines, bufsize, text, encoding, errors)
        protocol = protocol_factory()
        transport = await self._make_subprocess_transport(
            protocol, cmd, True, stdin, stdout, stderr, bufsize, **kwargs)
        return transport, protocol

    async def _make_subprocess_transport(self, protocol, args, shell, stdin, stdout, stderr,
                                         bufsize, extra=None, **kwargs):
        waiter = self.create_future()
        transport = SubprocessTransport(self, protocol, args, shell, stdin, stdout, stderr,
                                        bufsize, waiter=waiter, extra=extra, **kwargs)
        _ExitWatch(self, transport)
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            transport.close()
            await transport._wait()
            raise
        if self.get_debug():
            logger.debug("%r started", transport)
        return transport


def _check_popen_args(universal_newlines, bufsize, text, encoding, errors):
    """asyncio's refusals: the pipes carry bytes, unbuffered."""
    if universal_newlines:
        raise ValueError("universal_newlines must be False")
    if bufsize != 0:
        raise ValueError("bufsize must be 0")
    if text:
        raise ValueError("text must be False")
    if encoding is not None:
        raise ValueError("encoding must be None")
    if errors is not None:
        raise ValueError("errors must be None")


__all__ = ["SubprocessMixin", "SubprocessTransport"]
