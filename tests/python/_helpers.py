"""Small helpers shared by the test modules (importable because pytest puts
this directory on sys.path)."""

import asyncio
import subprocess
import sys
import threading
import time


def run(loop, aw, timeout=5.0):
    """run_until_complete with a safety timeout so a broken loop fails the
    test instead of hanging it."""
    return loop.run_until_complete(asyncio.wait_for(aw, timeout))


def run_briefly(loop, iterations=1):
    """Run the loop for a few iterations (stop() scheduled via call_soon)."""
    for _ in range(iterations):
        loop.call_soon(loop.stop)
        loop.run_forever()


def run_for(loop, seconds):
    loop.run_until_complete(asyncio.sleep(seconds))


def run_until(loop, predicate, timeout=2.0, step=0.001):
    """Run the loop until predicate() is true; return how long it took.
    Raises AssertionError after `timeout` seconds."""
    async def waiter():
        while not predicate():
            await asyncio.sleep(step)
    start = time.monotonic()
    try:
        loop.run_until_complete(asyncio.wait_for(waiter(), timeout))
    except asyncio.TimeoutError:
        raise AssertionError(
            f"condition not reached within {timeout} s") from None
    return time.monotonic() - start


def in_thread(fn, *args, delay=0.0):
    """Start a daemon thread running fn(*args) after `delay` seconds.
    Returns the thread; exceptions are stored in thread.exc."""
    def target():
        try:
            if delay:
                time.sleep(delay)
            thread.result = fn(*args)
        except BaseException as e:  # pragma: no cover - reported by caller
            thread.exc = e
    thread = threading.Thread(target=target, daemon=True)
    thread.exc = None
    thread.result = None
    thread.start()
    return thread


def py_at_least(*version):
    return sys.version_info >= version


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d, cas=("ca",)):
    """Certificates made with the `openssl` command in directory `d`: a CA per name in `cas`
    (`<name>.pem`/`.key`), and `server.pem`/`.key` (localhost, 127.0.0.1) and
    `client.pem`/`.key` signed by the first. Returns `d`."""
    # The extensions Python 3.13's strict verification (VERIFY_X509_STRICT) asks for.
    for ca in cas:
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
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{cas[0]}.pem", "-CAkey",
                 f"{cas[0]}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                 "-extfile", f"{name}.ext", cwd=d)
    return d
