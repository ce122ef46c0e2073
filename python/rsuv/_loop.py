"""rsuv.Loop: the Rust core (`_rsuv.LoopCore`) plus the parts of asyncio's loop API that are
not on a hot path: running, tasks, executors, async generators, exception handling, signals,
DNS argument handling. The semantics are those of CPython's `asyncio.base_events` and
`asyncio.unix_events`; the README lists each deliberate difference."""

import asyncio
import concurrent.futures
import contextvars
import errno as _errno
import os
import signal
import socket
import sys
import threading
import traceback
import warnings
import weakref
from asyncio import coroutines, events, futures, tasks
from asyncio.log import logger

from . import _rsuv
from ._net import NetMixin
from ._sendfile import SendfileMixin
from ._pipes import PipeMixin
from ._sock import SockMixin
from ._subprocess import SubprocessMixin
from ._tls import TlsMixin
from ._udp import DatagramMixin

__all__ = ("Loop",)

_PY311 = sys.version_info >= (3, 11)
_PY312 = sys.version_info >= (3, 12)


def _run_until_complete_cb(fut):
    if not fut.cancelled():
        exc = fut.exception()
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            # The loop stops by itself: the exception comes out of run_forever.
            return
    futures._get_loop(fut).stop()


def _sighandler_noop(signum, frame):
    """A Python-level handler for signals the loop handles (their number reaches the loop
    through the wake-up descriptor)."""


def _is_numeric_port(port):
    if port is None or isinstance(port, int):
        return True
    if isinstance(port, bytes):
        port = port.decode("ascii", "replace")
    return isinstance(port, str) and port.isdigit()


def _is_numeric_host(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        try:
            host = host.decode("ascii")
        except UnicodeDecodeError:
            return False
    if not isinstance(host, str):
        return False
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host.partition("%")[0])
            return True
        except (OSError, ValueError):
            pass
    return False


def _plain_args(host, port):
    """Arguments socket.getaddrinfo takes as they are: str/bytes/None host (not empty), an
    int port within a C long, or a str/bytes/None port."""
    if not (host is None or (type(host) in (str, bytes) and host)):
        return False
    if type(port) is int:
        return -2**63 <= port < 2**63
    return port is None or type(port) in (str, bytes)


def _host_arg(host):
    """The host as socket.getaddrinfo passes it to the C library (IDNA-encoded)."""
    if host is None:
        return None
    if isinstance(host, str):
        return host.encode("idna").decode("ascii")
    if isinstance(host, (bytes, bytearray)):
        return bytes(host).decode("ascii")
    raise TypeError("getaddrinfo() argument 1 must be string or None")


def _port_arg(port):
    if port is None:
        return None
    if isinstance(port, int):
        return str(port)
    if isinstance(port, str):
        return port
    if isinstance(port, (bytes, bytearray)):
        return bytes(port).decode("ascii")
    raise OSError("Int or String expected")


def _enum(cls, value):
    try:
        return cls(value)
    except ValueError:
        return value


class Loop(SockMixin, TlsMixin, NetMixin, DatagramMixin, SendfileMixin, PipeMixin,
           SubprocessMixin, _rsuv.LoopCore,
           asyncio.AbstractEventLoop):
    """An asyncio event loop on libuv, with its core in Rust.

    ``Loop()`` makes a new libuv loop. ``Loop(libuv_loop=capsule)`` runs on a libuv loop that
    a host program owns, given as a ``PyCapsule`` named ``"uv_loop_t"`` (as C code makes
    with ``PyCapsule_New(loop, "uv_loop_t", NULL)``). The host must link the same libuv (see
    ``rsuv.libuv_version()``), use the loop on this thread only, not run it itself while this
    loop runs or closes (libuv's ``uv_run`` cannot be nested), and keep it valid until after
    ``close()``. While this loop runs, the host's own handles on it run too. ``close()``
    closes only what this loop made and leaves the libuv loop open for its owner. The
    capsule of another ``rsuv.Loop`` (``libuv_loop()``) is refused.
    """

    __module__ = "rsuv"

    def __init__(self, seed=None, *, libuv_loop=None):
        # `seed` (used by rsuv's Rust API) and `libuv_loop` are taken by LoopCore.__new__.
        self._exception_handler = None
        self._task_factory = None
        self._default_executor = None
        self._executor_shutdown_called = False
        self._asyncgens = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        self._signal_handlers = {}
        self._coroutine_origin_tracking_enabled = False
        self._coroutine_origin_tracking_saved_depth = None
        self.set_debug(coroutines._is_debug_mode())

    def __repr__(self):
        return (f"<{self.__class__.__name__} running={self.is_running()} "
                f"closed={self.is_closed()} debug={self.get_debug()}>")

    def __del__(self, _warn=warnings.warn):
        try:
            closed = self.is_closed()
        except Exception:
            return
        if not closed:
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)
            if not self.is_running():
                self.close()

    # --- state -------------------------------------------------------------------------

    @property
    def _debug(self):
        return self.get_debug()

    @property
    def _closed(self):
        return self.is_closed()

    def _check_closed(self):
        if self.is_closed():
            raise RuntimeError("Event loop is closed")

    def _check_running(self):
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        if events._get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def set_debug(self, enabled):
        super().set_debug(enabled)
        if self.is_running():
            self.call_soon_threadsafe(self._set_coroutine_origin_tracking, bool(enabled))

    def _set_coroutine_origin_tracking(self, enabled):
        if bool(enabled) == bool(self._coroutine_origin_tracking_enabled):
            return
        if enabled:
            self._coroutine_origin_tracking_saved_depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(events._DEBUG_STACK_DEPTH
                                                    if hasattr(events, "_DEBUG_STACK_DEPTH")
                                                    else 10)
        else:
            sys.set_coroutine_origin_tracking_depth(self._coroutine_origin_tracking_saved_depth)
        self._coroutine_origin_tracking_enabled = enabled

    # --- running -----------------------------------------------------------------------

    def run_forever(self):
        """Runs until stop() is called."""
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self.get_debug())
        old_hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                               finalizer=self._asyncgen_finalizer_hook)
        wakeup = self._set_wakeup_fd()
        events._set_running_loop(self)
        try:
            self._run_forever_core()
        finally:
            events._set_running_loop(None)
            if wakeup is not None:
                self._restore_wakeup_fd(wakeup)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_hooks)

    def _set_wakeup_fd(self):
        """In the main thread, signals wake the loop through its own descriptor (so that
        Python handlers and Ctrl-C run at once, whichever thread the kernel picks) -- unless
        a wake-up descriptor is set already (by the program, or another loop's
        add_signal_handler): that one is left alone."""
        if threading.current_thread() is not threading.main_thread():
            return None
        ours = self._signal_wakeup_fd()
        try:
            old = signal.set_wakeup_fd(ours, warn_on_full_buffer=False)
        except (ValueError, OSError):
            return None
        if old not in (-1, ours):
            signal.set_wakeup_fd(old)
            return None
        return (old,)

    @staticmethod
    def _restore_wakeup_fd(saved):
        try:
            signal.set_wakeup_fd(saved[0])
        except (ValueError, OSError):
            pass

    def run_until_complete(self, future):
        """Runs until `future` is done; returns its result or raises its exception."""
        self._check_closed()
        self._check_running()
        new_task = not futures.isfuture(future)
        future = tasks.ensure_future(future, loop=self)
        if new_task:
            # An exception raised out of run_forever is reported there, not here as well.
            future._log_destroy_pending = False
        future.add_done_callback(_run_until_complete_cb)
        try:
            self.run_forever()
        except BaseException:
            if new_task and future.done() and not future.cancelled():
                future.exception()  # mark it retrieved
            raise
        finally:
            future.remove_done_callback(_run_until_complete_cb)
        if not future.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return future.result()

    def close(self):
        """Closes the loop: drops what is scheduled, shuts the default executor down
        without waiting. A no-op when closed already."""
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        if self.get_debug():
            logger.debug("Close %r", self)
        for sig in list(self._signal_handlers):
            self.remove_signal_handler(sig)
        self._close_exit_watches()
        self._close_core()
        executor = self._default_executor
        if executor is not None:
            self._default_executor = None
            executor.shutdown(wait=False)

    # --- futures and tasks ---------------------------------------------------------------

    if _PY311:
        def create_task(self, coro, *, name=None, context=None):
            self._check_closed()
            if self._task_factory is None:
                task = tasks.Task(coro, loop=self, name=name, context=context)
                if task._source_traceback:
                    del task._source_traceback[-1]
            else:
                if context is None:
                    task = self._task_factory(self, coro)
                else:
                    task = self._task_factory(self, coro, context=context)
                if name is not None:
                    task.set_name(name)
            return task
    else:
        def create_task(self, coro, *, name=None):
            self._check_closed()
            if self._task_factory is None:
                task = tasks.Task(coro, loop=self, name=name)
                if task._source_traceback:
                    del task._source_traceback[-1]
            else:
                task = self._task_factory(self, coro)
                if name is not None:
                    task.set_name(name)
            return task

    def set_task_factory(self, factory):
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self._task_factory = factory

    def get_task_factory(self):
        return self._task_factory

    # --- async generators ----------------------------------------------------------------

    def _asyncgen_finalizer_hook(self, agen):
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    def _asyncgen_firstiter_hook(self, agen):
        if self._asyncgens_shutdown_called:
            warnings.warn(f"asynchronous generator {agen!r} was scheduled after "
                          f"loop.shutdown_asyncgens() call", ResourceWarning, source=self)
        self._asyncgens.add(agen)

    async def shutdown_asyncgens(self):
        """Closes every async generator still alive (aclose())."""
        self._asyncgens_shutdown_called = True
        if not len(self._asyncgens):
            return
        closing = list(self._asyncgens)
        self._asyncgens.clear()
        results = await tasks.gather(*[ag.aclose() for ag in closing], return_exceptions=True)
        for result, agen in zip(results, closing):
            if isinstance(result, Exception):
                self.call_exception_handler({
                    "message": f"an error occurred during closing of "
                               f"asynchronous generator {agen!r}",
                    "exception": result,
                    "asyncgen": agen,
                })

    # --- executors -----------------------------------------------------------------------

    def run_in_executor(self, executor, func, *args):
        self._check_closed()
        if self.get_debug():
            self._check_executor_callback(func)
        if executor is None:
            if self._executor_shutdown_called:
                raise RuntimeError("Executor shutdown has been called")
            executor = self._default_executor
            if executor is None:
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")
                self._default_executor = executor
        return futures.wrap_future(executor.submit(func, *args), loop=self)

    @staticmethod
    def _check_executor_callback(func):
        if coroutines.iscoroutine(func) or coroutines.iscoroutinefunction(func):
            raise TypeError("coroutines cannot be used with run_in_executor()")
        if not callable(func):
            raise TypeError(f"a callable object was expected by run_in_executor(), got {func!r}")

    def set_default_executor(self, executor):
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            if _PY311:
                raise TypeError("executor must be ThreadPoolExecutor instance")
            warnings.warn("Using the default executor that is not an instance of "
                          "ThreadPoolExecutor is deprecated and will be prohibited "
                          "in Python 3.9", DeprecationWarning, 2)
        self._default_executor = executor

    async def _shutdown_default_executor(self, timeout=None):
        # As CPython 3.13's: `timeout` bounds the wait for the executor's threads; past it, a
        # RuntimeWarning, and the executor is left to finish on its own.
        self._executor_shutdown_called = True
        if self._default_executor is None:
            return
        future = self.create_future()
        thread = threading.Thread(target=self._do_shutdown, args=(future,))
        thread.start()
        try:
            if timeout is None:
                await future
            else:
                from asyncio import timeouts  # 3.11+; `timeout` exists from 3.12
                async with timeouts.timeout(timeout):
                    await future
        except TimeoutError:
            if timeout is None:
                raise
            warnings.warn("The executor did not finishing joining its threads within "
                          f"{timeout} seconds.", RuntimeWarning, stacklevel=3)
            self._default_executor.shutdown(wait=False)
        else:
            thread.join()

    if _PY312:
        async def shutdown_default_executor(self, timeout=None):
            """Shuts the default executor down, waiting at most `timeout` seconds."""
            await self._shutdown_default_executor(timeout)
    else:
        async def shutdown_default_executor(self):
            """Shuts the default executor down."""
            await self._shutdown_default_executor()

    def _do_shutdown(self, future):
        try:
            self._default_executor.shutdown(wait=True)
            if not self.is_closed():
                self.call_soon_threadsafe(futures._set_result_unless_cancelled, future, None)
        except Exception as ex:
            if not self.is_closed() and not future.cancelled():
                self.call_soon_threadsafe(future.set_exception, ex)

    # --- DNS -----------------------------------------------------------------------------

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        """socket.getaddrinfo on libuv's threadpool (numeric hosts without a thread)."""
        self._check_closed()
        if (not _plain_args(host, port) or
                (_is_numeric_host(host) and _is_numeric_port(port))):
            # No lookup in the kernel's sense: numeric, or arguments socket refuses (it
            # raises its own error before any lookup).
            return socket.getaddrinfo(host, port, family, type, proto, flags)
        h, p = _host_arg(host), _port_arg(port)
        fut = self.create_future()
        self._getaddrinfo(h, p, int(family), int(type), int(proto), int(flags), fut)
        raw = await fut
        return [(_enum(socket.AddressFamily, f), _enum(socket.SocketKind, t), pr, c, a)
                for f, t, pr, c, a in raw]

    async def getnameinfo(self, sockaddr, flags=0):
        """socket.getnameinfo on libuv's threadpool (numeric answers without a thread)."""
        self._check_closed()
        if flags & socket.NI_NUMERICHOST and flags & socket.NI_NUMERICSERV:
            return socket.getnameinfo(sockaddr, flags)
        addr = self._numeric_sockaddr(sockaddr)
        fut = self.create_future()
        self._getnameinfo(addr, int(flags), fut)
        return await fut

    @staticmethod
    def _numeric_sockaddr(sockaddr):
        """What socket.getnameinfo does before its lookup: the numeric form of the address,
        with the same errors for bad arguments (socket itself raises them)."""
        if not (isinstance(sockaddr, tuple) and 2 <= len(sockaddr) <= 4
                and type(sockaddr[0]) is str and isinstance(sockaddr[1], int)
                and all(isinstance(v, int) for v in sockaddr[2:])):
            socket.getnameinfo(sockaddr, socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)
            raise TypeError("getnameinfo() argument 1 must be a tuple")
        host, port, *rest = sockaddr
        flowinfo = rest[0] if len(rest) > 0 else 0
        scope_id = rest[1] if len(rest) > 1 else 0
        if not 0 <= flowinfo <= 0xFFFFF:
            raise OverflowError("getnameinfo(): flowinfo must be 0-1048575.")
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM, 0, socket.AI_NUMERICHOST)
        if len(infos) != 1:
            raise OSError("sockaddr resolved to multiple addresses")
        family, _, _, _, sa = infos[0]
        if family == socket.AF_INET:
            if len(sockaddr) != 2:
                raise OSError("IPv4 sockaddr must be 2 tuple")
            return (sa[0], sa[1], 0, 0)
        return (sa[0], sa[1], flowinfo, scope_id)

    # --- exceptions ----------------------------------------------------------------------

    def get_exception_handler(self):
        return self._exception_handler

    def set_exception_handler(self, handler):
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context):
        """Logs `context` (the message, then each other key) to the 'asyncio' logger."""
        message = context.get("message") or "Unhandled exception in event loop"
        exception = context.get("exception")
        exc_info = (type(exception), exception, exception.__traceback__) \
            if exception is not None else False
        lines = [message]
        for key in sorted(context):
            if key in {"message", "exception"}:
                continue
            value = context[key]
            if key == "source_traceback":
                value = ("Object created at (most recent call last):\n"
                         + "".join(traceback.format_list(value)).rstrip())
            elif key == "handle_traceback":
                value = ("Handle created at (most recent call last):\n"
                         + "".join(traceback.format_list(value)).rstrip())
            else:
                value = repr(value)
            lines.append(f"{key}: {value}")
        logger.error("\n".join(lines), exc_info=exc_info)

    def call_exception_handler(self, context):
        """Hands `context` to the handler set with set_exception_handler (or the default
        one); what they raise is logged, except SystemExit and KeyboardInterrupt."""
        if self._exception_handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler", exc_info=True)
            return
        try:
            ctx = None
            thing = context.get("task") or context.get("future") or context.get("handle")
            if _PY312 and thing is not None and hasattr(thing, "get_context"):
                ctx = thing.get_context()
            if ctx is not None:
                ctx.run(self._exception_handler, self, context)
            else:
                self._exception_handler(self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            try:
                self.default_exception_handler({
                    "message": "Unhandled error in exception handler",
                    "exception": exc,
                    "context": context,
                })
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler while handling an "
                             "unexpected error in custom exception handler", exc_info=True)

    # --- signals -------------------------------------------------------------------------

    @staticmethod
    def _check_signal(sig):
        if not isinstance(sig, int):
            raise TypeError(f"sig must be an int, not {sig!r}")
        if sig not in signal.valid_signals():
            raise ValueError(f"invalid signal number {sig}")

    def add_signal_handler(self, sig, callback, *args):
        """Runs callback(*args) on the loop when signal `sig` arrives."""
        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()
        try:
            signal.set_wakeup_fd(self._signal_wakeup_fd(), warn_on_full_buffer=False)
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc))
        handle = _rsuv.Handle(callback, args, self, None)
        self._signal_handlers[sig] = handle
        try:
            signal.signal(sig, _sighandler_noop)
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._signal_handlers[sig]
            if not self._signal_handlers:
                try:
                    signal.set_wakeup_fd(-1)
                except (ValueError, OSError) as nexc:
                    logger.info("set_wakeup_fd(-1) failed: %s", nexc)
            if exc.errno == _errno.EINVAL:
                raise RuntimeError(f"sig {sig:d} cannot be caught")
            raise

    def remove_signal_handler(self, sig):
        """Removes the handler of `sig`; whether there was one."""
        self._check_signal(sig)
        try:
            del self._signal_handlers[sig]
        except KeyError:
            return False
        handler = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, handler)
        except OSError as exc:
            if exc.errno == _errno.EINVAL:
                raise RuntimeError(f"sig {sig:d} cannot be caught")
            raise
        if not self._signal_handlers and not self.is_running():
            try:
                signal.set_wakeup_fd(-1)
            except (ValueError, OSError) as exc:
                logger.info("set_wakeup_fd(-1) failed: %s", exc)
        return True

    def _handle_signal(self, sig):
        """Called by the core for each signal number the wake-up descriptor brought."""
        handle = self._signal_handlers.get(sig)
        if handle is None:
            return
        if handle.cancelled():
            self.remove_signal_handler(sig)
        else:
            self.call_soon(handle._run)
