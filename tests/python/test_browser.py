"""The example pages in a real browser: Debian's headless Chromium (/usr/bin/chromium) driven
by Playwright. Two pages chat with each other and with a TCP participant (the WebSocket
chat), two pages chat over Socket.IO (the JavaScript socket.io client), and the comet clock
page shows ticks arriving a second apart (plain server and aiohttp). A screenshot of each page
is kept in target/screenshots/."""

import os
import re
import socket

import pytest

from test_py_examples import ROOT, example  # noqa: F401 (fixture)

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
SHOTS = os.path.join(ROOT, "target", "screenshots")

pytestmark = [pytest.mark.rsuv_only,
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason="Debian's chromium is not installed (make setup)")]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, name))


def _join(browser, url, name):
    page = browser.new_page()
    page.goto(url)
    page.fill("#name", name)
    page.click("#join")
    page.wait_for_selector("body[data-joined=yes]", timeout=10_000)
    return page


def _say(page, text):
    page.fill("#line", text)
    page.click("#send")


def _wait_msg(page, text):
    page.wait_for_function(
        "t => [...document.querySelectorAll('.msg')].some(d => d.textContent === t)",
        arg=text, timeout=10_000)


def test_two_pages_and_a_tcp_participant_chat_over_websocket(browser, example):
    ex = example("chat_server.py", "127.0.0.1:0", "127.0.0.1:0")
    tcp_port, http_port = ex.ports
    tcp = socket.create_connection(("127.0.0.1", tcp_port))
    tcp.settimeout(10)
    lines = tcp.makefile("rb")
    url = f"http://127.0.0.1:{http_port}/"
    ann = _join(browser, url, "ann")
    assert lines.readline().decode().strip() == "* ann@web joined"
    bob = _join(browser, url, "bob")
    assert lines.readline().decode().strip() == "* bob@web joined"
    _wait_msg(ann, "* bob@web joined")
    _say(ann, "hello from ann")
    _wait_msg(bob, "ann@web: hello from ann")
    assert lines.readline().decode().strip() == "ann@web: hello from ann"
    tcp_name = "%s:%d" % tcp.getsockname()
    tcp.sendall(b"hello from the terminal\n")
    _wait_msg(ann, f"{tcp_name}: hello from the terminal")
    _wait_msg(bob, f"{tcp_name}: hello from the terminal")
    _shot(ann, "chat.png")
    bob.close()
    assert lines.readline().decode().strip() == "* bob@web left"
    ann.close()
    tcp.close()
    rc, _, err = ex.stop()
    assert rc == 0, err


def test_two_pages_chat_over_socketio(browser, example):
    js = os.path.join(ROOT, "target", "npm", "node_modules", "socket.io-client", "dist",
                      "socket.io.min.js")
    if not os.path.exists(js):
        pytest.skip("socket.io-client is not installed (make setup)")
    ex = example("socketio_chat.py", "127.0.0.1:0")
    url = f"http://127.0.0.1:{ex.ports[0]}/"
    ann = _join(browser, url, "ann")
    bob = _join(browser, url, "bob")
    _wait_msg(ann, "* bob joined")
    _say(bob, "hi ann, via socket.io")
    _wait_msg(ann, "bob: hi ann, via socket.io")
    _say(ann, "hi bob")
    _wait_msg(bob, "ann: hi bob")
    _shot(ann, "socketio-chat.png")
    bob.close()
    _wait_msg(ann, "* bob left")
    ann.close()
    rc, _, err = ex.stop()
    assert rc == 0, err


@pytest.mark.parametrize("flavour", [[], ["--aiohttp"]], ids=["plain", "aiohttp"])
def test_the_comet_clock_page_gets_a_tick_every_second(browser, example, flavour):
    ex = example("comet_clock.py", "127.0.0.1:0", *flavour)
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{ex.ports[0]}/")
    page.wait_for_function("document.querySelectorAll('#ticks li').length >= 4",
                           timeout=15_000)
    items = page.eval_on_selector_all("#ticks li", "els => els.map(e => e.textContent)")
    _shot(page, f"comet-clock{'-aiohttp' if flavour else ''}.png")
    page.close()
    parsed = [re.fullmatch(r"(\d\d:\d\d:\d\d) \(received at ([\d.]+) s\)", t) for t in items]
    assert all(parsed), items
    names = [m.group(1) for m in parsed]
    at = [float(m.group(2)) for m in parsed]
    assert len(set(names[:4])) == 4, names
    gaps = [b - a for a, b in zip(at[1:4], at[2:4])]  # after the first, which comes at once
    assert all(0.7 < g < 1.3 for g in gaps), (items, gaps)
    rc, _, err = ex.stop()
    assert rc == 0, err
