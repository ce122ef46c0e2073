#!/usr/bin/env python3
"""One port served by several processes, each with its own rsuv loop (`SO_REUSEPORT`).

    python examples/python/reuse_port_server.py ADDR [--processes N]

The parent holds the port (port 0 picks one) with a bound, not listening, `SO_REUSEPORT`
socket, starts N worker processes (default: the number of CPUs) that each listen on it with
`create_server(reuse_port=True)`, then lets go of its own socket: the kernel spreads new
connections over the workers. Each worker answers `GET /` with a one-line HTTP response
naming its pid. Prints `reuse_port_server listening on HOST:PORT (N processes)` once every
worker listens; SIGINT/SIGTERM stop the workers and then the parent (exit status 0).
"""
import asyncio
import multiprocessing
import os
import signal
import socket
import sys
import time

import rsuv
from _common import parse_addr, stop_event


class Hello(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        if b"\r\n\r\n" in self.buf:
            body = f"pid {os.getpid()}\n".encode()
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                                 % (len(body), body))
            self.transport.close()


async def worker_main(host, port, ready):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Hello, host, port, reuse_port=True)
    ready.release()
    await stop_event().wait()
    server.close()
    await server.wait_closed()


def worker(host, port, ready):
    rsuv.run(worker_main(host, port, ready))


def main():
    args = sys.argv[1:]
    n = os.cpu_count() or 2
    if "--processes" in args:
        i = args.index("--processes")
        n = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 1:
        sys.exit("usage: reuse_port_server.py ADDR [--processes N]")
    host, port = parse_addr(args[0])
    hold = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    hold.bind((host, port))
    port = hold.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Semaphore(0)
    procs = [ctx.Process(target=worker, args=(host, port, ready)) for _ in range(n)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    hold.close()
    print(f"reuse_port_server listening on {host}:{port} ({n} processes)", flush=True)
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(1))
    while not stopping and all(p.is_alive() for p in procs):
        time.sleep(0.1)
    for p in procs:
        if p.is_alive():
            os.kill(p.pid, signal.SIGTERM)
    for p in procs:
        p.join(10)
    sys.exit(0 if all(p.exitcode == 0 for p in procs) else 1)


if __name__ == "__main__":
    main()
