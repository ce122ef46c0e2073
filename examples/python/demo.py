"""An asyncio program on rsuv: timers, a thread waking the loop, a signal, a task group, a
TLS echo with a standard ssl.SSLContext (a certificate made with `openssl` for the run), and
a child process through a pipe.

    python examples/python/demo.py
"""
import asyncio
import os
import signal
import ssl
import subprocess
import tempfile
import threading
import time

import rsuv


async def main():
    loop = asyncio.get_running_loop()
    print(f"rsuv {rsuv.__version__} on libuv {'.'.join(map(str, rsuv.libuv_version()))}: "
          f"{type(loop).__module__}.{type(loop).__name__}")
    t0 = loop.time()

    # Timers: due in the order asked, never before their time by loop.time().
    fired = []
    for delay in (0.03, 0.01, 0.02):
        loop.call_later(delay, lambda d=delay: fired.append((d, loop.time() - t0)))
    await asyncio.sleep(0.05)
    print("timers fired in order:", [d for d, _ in fired],
          "late by (ms):", [round((at - d) * 1000, 2) for d, at in fired])
    assert all(at >= d for d, at in fired)

    # A thread wakes the loop while it sleeps in the kernel.
    woke = loop.create_future()
    sent = []
    def worker():
        time.sleep(0.02)
        sent.append(time.monotonic())
        loop.call_soon_threadsafe(woke.set_result, threading.current_thread().name)
    threading.Thread(target=worker, name="worker-1").start()
    name = await woke
    print(f"woken by {name} after {(time.monotonic() - sent[0]) * 1e6:.0f} us")

    # A signal, handled on the loop.
    got = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, got.set)
    os.kill(os.getpid(), signal.SIGUSR1)
    await asyncio.wait_for(got.wait(), 1)
    loop.remove_signal_handler(signal.SIGUSR1)
    print("SIGUSR1 handled by add_signal_handler")

    # A task group: three tasks, one result each.
    async def square(n):
        await asyncio.sleep(0.01 * n)
        return n * n
    if hasattr(asyncio, "TaskGroup"):  # 3.11+
        async with asyncio.TaskGroup() as tg:
            ts = [tg.create_task(square(n), name=f"square-{n}") for n in (1, 2, 3)]
    else:
        ts = [loop.create_task(square(n), name=f"square-{n}") for n in (1, 2, 3)]
        await asyncio.gather(*ts)
    print("task group:", {t.get_name(): t.result() for t in ts})

    await tls_echo()

    # A child process: a line through `tr` and back, its exit status.
    p = await asyncio.create_subprocess_exec("tr", "a-z", "A-Z", stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE)
    out, _ = await p.communicate(b"through a child process\n")
    print(f"subprocess: {out.decode().strip()!r}, exit {p.returncode}")
    return "ok"


async def tls_echo():
    """A TLS echo server and client on this loop, with standard ssl.SSLContext objects."""
    with tempfile.TemporaryDirectory() as d:
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost"], check=True, capture_output=True)
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert, key)
        client_ctx = ssl.create_default_context(cafile=cert)

    async def echo(reader, writer):
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx,
                                                   server_hostname="localhost")
    writer.write(b"hello over TLS\n")
    line = await reader.readline()
    tls = writer.get_extra_info("ssl_object")
    print(f"TLS echo: {line.decode().strip()!r} ({tls.version()}, {tls.cipher()[0]}, "
          f"certificate verified for {tls.server_hostname})")
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    print("asyncio demo on rsuv:", rsuv.run(main()))
