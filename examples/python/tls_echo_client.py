#!/usr/bin/env python3
"""A TLS client for `tls_echo_server` (Python or Rust), on asyncio with `ssl.SSLContext`.

    printf 'hello\\n' | python examples/python/tls_echo_client.py ADDR CA [--servername NAME]

The same command line as the Rust sample: it trusts CA only, checks the server's certificate
against NAME (`localhost` by default, also sent as SNI), offers ALPN `http/1.1`, prints
`negotiated VERSION CIPHER ALPN PROTO` on stderr once connected, sends each line of its
standard input and writes what comes back to stdout. At the end of input it closes with
close_notify and exits 0 once the connection has ended cleanly; a verification failure or
an echo cut short is a message on stderr and exit status 1.
"""
import asyncio
import ssl
import sys

import rsuv
from _common import parse_addr


async def main(addr, ca, servername):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["http/1.1"])
    host, port = parse_addr(addr)
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx,
                                                   server_hostname=servername)
    obj = writer.get_extra_info("ssl_object")
    print(f"negotiated {obj.version()} {obj.cipher()[0]} ALPN {obj.selected_alpn_protocol()}",
          file=sys.stderr, flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.buffer.readline)
        if not line:
            break
        writer.write(line)
        echoed = await reader.readexactly(len(line))
        sys.stdout.buffer.write(echoed)
        sys.stdout.flush()
    writer.close()
    await writer.wait_closed()


if __name__ == "__main__":
    args = sys.argv[1:]
    name = "localhost"
    if "--servername" in args:
        i = args.index("--servername")
        name = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit("usage: tls_echo_client.py ADDR CA [--servername NAME]")
    try:
        rsuv.run(main(args[0], args[1], name))
    except ssl.SSLCertVerificationError as e:
        sys.exit(f"tls_echo_client: certificate verify failed: {e.verify_message}")
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, OSError) as e:
        sys.exit(f"tls_echo_client: {type(e).__name__}: {e}")
