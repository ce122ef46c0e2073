"""Shared fixtures for the rsuv Python test suite.

Every behaviour test takes the ``loop`` fixture, which is parametrized over
``asyncio`` (the stdlib loop: the oracle) and ``rsuv`` (the loop under test);
a test asserts the same outcome for both.

Environment switches (for whoever runs the suite, not for CI):

* ``RSUV_TESTS_STDLIB_ONLY=1``: tolerate a missing ``rsuv`` module; the
  ``rsuv`` parameters are then skipped. By default a missing ``rsuv`` is a
  hard error at collection time: the suite never silently tests nothing.
* ``RSUV_TESTS_MODULE=name``: import ``name`` instead of ``rsuv`` as the
  loop under test (e.g. ``uvloop``, to check that a test does not merely
  encode a stdlib implementation detail). The parameter id stays ``rsuv``.
"""

import asyncio
import faulthandler
import importlib
import os
import socket

import pytest

STDLIB_ONLY = os.environ.get("RSUV_TESTS_STDLIB_ONLY") == "1"
MODULE_NAME = os.environ.get("RSUV_TESTS_MODULE", "rsuv")

if STDLIB_ONLY:
    try:
        rsuv = importlib.import_module(MODULE_NAME)
    except ImportError:
        rsuv = None
else:
    # No try/except on purpose: if rsuv cannot be imported the whole
    # suite must fail loudly, not skip.
    rsuv = importlib.import_module(MODULE_NAME)

# Per-test wall-clock limit. faulthandler dumps every thread's traceback
# and exits the process, so a hung loop can never hang the suite.
TEST_TIMEOUT = float(os.environ.get("RSUV_TESTS_TIMEOUT", "30"))

LOOP_NAMES = ["asyncio", "rsuv"]


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "rsuv_only: the test exercises rsuv-specific API; the `loop` "
        "fixture (if used) is only parametrized with `rsuv`.",
    )


def pytest_generate_tests(metafunc):
    if "loop_name" in metafunc.fixturenames:
        if metafunc.definition.get_closest_marker("rsuv_only"):
            names = ["rsuv"]
        else:
            names = LOOP_NAMES
        metafunc.parametrize("loop_name", names)


def _require_rsuv():
    if rsuv is None:
        pytest.skip(f"{MODULE_NAME} not importable (RSUV_TESTS_STDLIB_ONLY=1)")
    return rsuv


@pytest.fixture
def rsuv_mod():
    """The rsuv module itself (for rsuv-only API tests)."""
    return _require_rsuv()


@pytest.fixture
def loop_factory(loop_name):
    """A zero-argument callable creating a new loop of the parametrized kind."""
    if loop_name == "asyncio":
        return asyncio.new_event_loop
    return _require_rsuv().new_event_loop


def close_loop(loop):
    """Close a loop the way asyncio.run does: cancel leftover tasks, finalize
    async generators, join the default executor, then close."""
    if loop.is_closed():
        return
    assert not loop.is_running(), "a test left its loop running"
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(
                asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


@pytest.fixture
def loop(loop_factory):
    lp = loop_factory()
    yield lp
    try:
        close_loop(lp)
    finally:
        asyncio.set_event_loop(None)


@pytest.fixture(autouse=True)
def _timeout_guard():
    faulthandler.dump_traceback_later(TEST_TIMEOUT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(autouse=True)
def _restore_policy():
    """Tests that install an event loop policy must not leak it."""
    yield
    asyncio.set_event_loop_policy(None)


@pytest.fixture
def sockpair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def pipe():
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    fds = [r, w]
    yield fds
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
