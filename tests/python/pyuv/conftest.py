"""Fixtures for the pyuv-compat tests (pyuv 1.4's API on rsuv).

``lp`` is a fresh ``pyuv.Loop``; ``run(lp)`` runs it to completion under a
guard timer: if the loop is still running after ``timeout`` seconds the guard
stops it and the test fails, so no test can hang on a loop that never ends.
``pki`` is a directory of certificates for the TLS tests.
"""

import gc
import os
import shutil
import sys

import pytest


def _import_real_pyuv():
    # This directory is named ``pyuv`` and pytest puts its parent
    # (tests/python) on sys.path for the parent conftest, so a plain
    # ``import pyuv`` would find this directory as a namespace package before
    # the installed package (an editable install's finder comes last). Import
    # the real one with tests/python off the path; every later ``import pyuv``
    # then gets it from sys.modules.
    parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    mod = sys.modules.get("pyuv")
    if mod is not None and getattr(mod, "__file__", None) is None:
        del sys.modules["pyuv"]
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != parent]
    try:
        import pyuv
    finally:
        sys.path[:] = saved
    assert hasattr(pyuv, "Loop"), pyuv
    return pyuv


pyuv = _import_real_pyuv()
# tests/python's helpers (pyuv is in sys.modules now: that directory cannot shadow it).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _helpers import make_pki  # noqa: E402

GUARD_SECONDS = 5.0


class LoopTimeout(AssertionError):
    pass


def run_loop(lp, timeout=GUARD_SECONDS, mode=None):
    """Run ``lp`` (UV_RUN_DEFAULT) until it has nothing left to do; fail
    if that takes longer than ``timeout`` seconds."""
    fired = []

    def on_guard(timer):
        fired.append(True)
        lp.stop()

    guard = pyuv.Timer(lp)
    guard.start(on_guard, timeout, 0)
    guard.ref = False  # the guard alone never keeps the loop alive
    if mode is None:
        result = lp.run()
    else:
        result = lp.run(mode)
    if not guard.closed:
        guard.close()
    lp.run(pyuv.UV_RUN_NOWAIT)  # let the guard's close callback run
    if fired:
        raise LoopTimeout(f"loop still running after {timeout} s")
    return result


@pytest.fixture
def run():
    return run_loop


@pytest.fixture
def lp():
    loop = pyuv.Loop()
    yield loop
    # Close whatever a test left open so the next test starts clean.
    try:
        for h in loop.handles:
            if not h.closed:
                h.close()
        loop.run(pyuv.UV_RUN_NOWAIT)
    finally:
        del loop
        gc.collect()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A CA and two certificates it signs, made with the `openssl` command (as
    tests/python/test_tls.py makes them): ``server.pem``/``server.key`` for
    localhost and 127.0.0.1, ``client.pem``/``client.key``, and ``ca.pem``; plus
    ``other_ca.pem``, a CA that signed none of them."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command")
    return make_pki(tmp_path_factory.mktemp("pki"), cas=("ca", "other_ca"))
