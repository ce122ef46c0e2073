"""Fixtures for the pyuv-compat tests (pyuv 1.4's API on rsuv).

``lp`` is a fresh ``pyuv.Loop``; ``run(lp)`` runs it to completion under a
guard timer: if the loop is still running after ``timeout`` seconds the guard
stops it and the test fails, so no test can hang on a loop that never ends.
``pki`` is a directory of certificates for the TLS tests.
"""

import gc
import os
import shutil
import subprocess
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


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A CA and two certificates it signs, made with the `openssl` command (as
    tests/python/test_tls.py makes them): ``server.pem``/``server.key`` for
    localhost and 127.0.0.1, ``client.pem``/``client.key``, and ``ca.pem``; plus
    ``other_ca.pem``, a CA that signed none of them."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command")
    d = tmp_path_factory.mktemp("pki")
    # The extensions Python 3.13's strict verification (VERIFY_X509_STRICT) asks for.
    for ca in ("ca", "other_ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
                 "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=rsuv test {ca}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, san in (("server", "DNS:localhost,IP:127.0.0.1"), ("client", "DNS:client")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                 f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(
            f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
            "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
                 f"{name}.ext", cwd=d)
    return d
