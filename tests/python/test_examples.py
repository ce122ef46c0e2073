"""The Python example programs, run as programs."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_program_runs_and_reports_each_step():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "python", "demo.py")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("rsuv ") and "rsuv.Loop" in lines[0]
    assert lines[1].startswith("timers fired in order: [0.01, 0.02, 0.03]")
    assert any(l.startswith("woken by worker-1 after") for l in lines)
    assert "SIGUSR1 handled by add_signal_handler" in lines
    assert "task group: {'square-1': 1, 'square-2': 4, 'square-3': 9}" in lines
    assert any(l.startswith("TLS echo: 'hello over TLS' (TLSv1.") and
               "certificate verified for localhost" in l for l in lines)
    assert "subprocess: 'THROUGH A CHILD PROCESS', exit 0" in lines
    assert lines[-1] == "asyncio demo on rsuv: ok"


def test_the_tour_of_the_examples_runs_each_one():
    pytest.importorskip("aiohttp")  # the chat server and the Twisted site need the peers (3.11+)
    pytest.importorskip("twisted")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "python", "tour.py")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("chat_server: '* 127.0.0.1:") and lines[0].endswith("(exit 0)")
    assert lines[1] == "port_forwarder: 100,000 bytes and the half-close passed on (exit 0)"
    assert lines[2].startswith("comet_clock: ticks ") and lines[2].endswith("(exit 0)")
    assert lines[3].startswith("tls_echo: 'hello over TLS' echoed, client negotiated TLSv1.")
    assert lines[3].endswith("(exit 0, server exit 0)")
    assert lines[4].startswith("twisted_wsgi_ws: ") and lines[4].endswith("(exit 0)")
    assert lines[-1].startswith("tour done in ")
