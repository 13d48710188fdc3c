"""The browser client against the real server, in a real Chromium (Playwright, sync API).

Starts ``python -m chatserver serve`` as a subprocess, signs tokens with the CLI, and
drives two people (facilitator Sam, member Alex) through the page a person opens.
Screenshots go to $HUDDLE_TEST_OUTPUT (default test-output/) as browser-*.png.

Needs Debian's Chromium at /usr/bin/chromium, the `playwright` package (its bundled
browsers are not used) and web/node_modules (``npm ci`` in web/). Without them the test
skips, or fails when HUDDLE_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SOCKET_IO_CLIENT = (
    ROOT / "web" / "node_modules" / "socket.io-client" / "dist" / "socket.io.esm.min.js"
)
PYTHON = ROOT / ".venv" / "bin" / "python"
SECRET = "browser-test-secret-" + "k" * 32
WAIT_MS = 10_000  # every browser wait is bounded by this
START_TIMEOUT_S = 20.0
XSS = "<img src=x onerror=alert(1)>"

try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

    HAVE_PLAYWRIGHT = True
    expect.set_options(timeout=WAIT_MS)
except ImportError:  # pragma: no cover - depends on the machine
    HAVE_PLAYWRIGHT = False


def _missing() -> str | None:
    if not HAVE_PLAYWRIGHT:
        return "the `playwright` Python package is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if not SOCKET_IO_CLIENT.exists():
        return "web/node_modules is missing (run `npm ci` in web/)"
    return None


def _require_browser() -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("HUDDLE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required (HUDDLE_REQUIRE_BROWSER=1) but {reason}", pytrace=False)
    pytest.skip(reason)


def _python() -> str:
    return str(PYTHON) if PYTHON.exists() else sys.executable


def _output_dir() -> Path:
    out = Path(os.environ.get("HUDDLE_TEST_OUTPUT") or ROOT / "test-output")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _server_env(secret: str = SECRET) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HUDDLE_REDIS_URL")}
    env["HUDDLE_SECRET"] = secret
    env.pop("HUDDLE_PORT", None)
    env.pop("HUDDLE_HOST", None)
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HuddleServer:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path

    def token(self, user: str, name: str, room: str, role: str, *, secret: str = SECRET) -> str:
        done = subprocess.run(
            [
                _python(),
                "-m",
                "chatserver",
                "token",
                "--user",
                user,
                "--name",
                name,
                "--room",
                f"{room}={role}",
                "--ttl",
                "900",
            ],
            cwd=ROOT,
            env=_server_env(secret),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, f"token CLI failed: {done.stderr.strip()}"
        token = done.stdout.strip().splitlines()[-1]
        assert token.count(".") == 2, f"token CLI printed no JWT: {done.stdout!r}"
        return token

    def link(self, room: str, token: str) -> str:
        return f"{self.base}/#room={room}&token={token}"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _wait_healthy(srv: HuddleServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            pytest.fail(
                f"server exited with {srv.proc.returncode}:\n{srv.log_tail()}", pytrace=False
            )
        try:
            with urllib.request.urlopen(f"{srv.base}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.1)
    pytest.fail(
        f"server not healthy within {START_TIMEOUT_S}s ({last}):\n{srv.log_tail()}", pytrace=False
    )


@pytest.fixture(scope="module")
def huddle_process() -> Iterator[HuddleServer | None]:
    if _missing() is not None:
        yield None  # each test then skips, or fails under HUDDLE_REQUIRE_BROWSER=1
        return
    port = _free_port()
    log = _output_dir() / "browser-server.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [_python(), "-m", "chatserver", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=_server_env(),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    srv = HuddleServer(f"http://127.0.0.1:{port}", proc, log)
    try:
        _wait_healthy(srv)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def browser(huddle_process: HuddleServer | None) -> Iterator[Browser | None]:
    if huddle_process is None:
        yield None
        return
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Person:
    page: Page
    dialogs: list[str]
    errors: list[str]


@pytest.fixture
def people(browser: Browser | None) -> Iterator[Any]:
    contexts = []

    def open_person() -> Person:
        assert browser is not None
        ctx = browser.new_context(viewport={"width": 1100, "height": 720}, locale="en-GB")
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(WAIT_MS)
        person = Person(page, [], [])

        def on_dialog(dialog: Any) -> None:
            person.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                person.errors.append(msg.text)

        page.on("pageerror", lambda exc: person.errors.append(str(exc)))
        page.on("console", on_console)
        return person

    yield open_person
    for ctx in contexts:
        with contextlib.suppress(Exception):
            ctx.close()


class FlakyProxy:
    """A TCP proxy on loopback whose link can be cut and restored, like a dropped network."""

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._up = threading.Event()
        self._up.set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, name="flaky-proxy", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(None)
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(src, dst)

    def _drop(self, *socks: socket.socket) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self._lock:
                self._open.discard(sock)

    def cut(self) -> None:
        self._up.clear()
        with self._lock:
            socks = list(self._open)
        self._drop(*socks)

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self._stop.set()
        self.cut()
        self._listener.close()
        self._thread.join(timeout=5)


def _ready(srv: HuddleServer | None) -> HuddleServer:
    """First line of every test: skip or fail (HUDDLE_REQUIRE_BROWSER=1) without a browser."""
    _require_browser()
    assert srv is not None
    return srv


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(_output_dir() / f"browser-{name}.png"), full_page=False)


def _connected(page: Page) -> None:
    expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=WAIT_MS)
    expect(page.locator("#status")).to_have_text("connected", timeout=WAIT_MS)


def _texts(page: Page, text: str) -> Any:
    return page.locator("#messages .msg .text").filter(has_text=text)


def test_two_people_chat_in_the_browser(huddle_process: HuddleServer | None, people: Any) -> None:
    huddle_server = _ready(huddle_process)
    room = f"circle-{secrets.token_hex(3)}"
    sam, alex = people(), people()
    sam.page.goto(huddle_server.link(room, huddle_server.token("sam", "Sam", room, "facilitator")))
    _connected(sam.page)
    alex.page.goto(huddle_server.link(room, huddle_server.token("alex", "Alex", room, "member")))
    _connected(alex.page)

    # The token leaves the address bar once read (it lives in this tab's sessionStorage).
    assert "token=" not in alex.page.url
    expect(alex.page.locator("#room-name")).to_have_text(room)

    # Both see each other in the member list, with Sam's role.
    expect(sam.page.locator('#members li[data-user-id="alex"]')).to_contain_text("Alex")
    expect(alex.page.locator('#members li[data-user-id="sam"]')).to_contain_text("Sam")
    expect(alex.page.locator('#members li[data-user-id="sam"] .badge')).to_have_text("facilitator")

    # A raised hand shows next to the name for everyone.
    alex.page.locator("#hand").click()
    expect(alex.page.locator("#hand")).to_have_attribute("aria-pressed", "true")
    expect(sam.page.locator('#members li[data-user-id="alex"] .hand-up')).to_have_count(1)
    alex.page.locator("#hand").click()
    expect(sam.page.locator('#members li[data-user-id="alex"] .hand-up')).to_have_count(0)

    # Typing shows on the other side, then Alex's message arrives once.
    alex.page.locator("#composer").press_sequentially("Hello from Alex", delay=15)
    expect(sam.page.locator("#typing")).to_have_text("Alex is typing…")
    alex.page.locator("#composer").press("Enter")
    expect(_texts(sam.page, "Hello from Alex")).to_have_count(1)
    expect(_texts(sam.page, "Hello from Alex")).to_have_text("Hello from Alex")
    expect(
        sam.page.locator("#messages .msg", has_text="Hello from Alex").locator(".name")
    ).to_have_text("Alex")
    expect(sam.page.locator("#typing")).to_have_text("")
    own = alex.page.locator("#messages .msg.own", has_text="Hello from Alex")
    expect(own).to_have_count(1)
    expect(own).to_have_attribute("data-offset", "1")
    expect(own).not_to_have_class(re.compile(r"\bpending\b"))
    expect(alex.page.locator("#composer")).to_have_value("")

    # Markup from a person is shown as text, never run.
    sam.page.locator("#composer").fill(XSS)
    sam.page.locator("#send").click()
    from_sam = alex.page.locator("#messages .msg", has=alex.page.locator(".name", has_text="Sam"))
    expect(from_sam.locator(".text")).to_have_text(XSS)
    expect(from_sam.locator(".badge")).to_have_text("facilitator")
    expect(sam.page.locator("#messages .msg.own .text")).to_have_text(XSS)
    alex.page.wait_for_timeout(500)  # an injected onerror would have fired by now
    for person in (sam, alex):
        assert person.page.locator("#messages img").count() == 0
        assert person.dialogs == [], f"a dialog opened: {person.dialogs}"
    _shot(sam.page, "sam")
    _shot(alex.page, "alex")

    # And the other way round; clearing the box stops the indicator at once.
    sam.page.locator("#composer").press_sequentially("Take your time", delay=15)
    expect(alex.page.locator("#typing")).to_have_text("Sam is typing…")
    sam.page.locator("#composer").fill("")
    expect(alex.page.locator("#typing")).to_have_text("")

    # A reload shows the history again, each message once (cached, then recovered).
    alex.page.reload()
    _connected(alex.page)
    expect(_texts(alex.page, "Hello from Alex")).to_have_count(1)
    expect(alex.page.locator("#messages .msg .text").filter(has_text="<img")).to_have_count(1)
    expect(alex.page.locator('#members li[data-user-id="sam"]')).to_be_visible()

    # Away and back in the same tab: what was missed is recovered, nothing twice.
    alex.page.goto("about:blank")
    sam.page.locator("#composer").fill("While you were away")
    sam.page.locator("#composer").press("Enter")
    expect(
        sam.page.locator("#messages .msg.own", has_text="While you were away")
    ).to_have_attribute("data-offset", "3")
    alex.page.goto(f"{huddle_server.base}/#room={room}")
    _connected(alex.page)
    expect(_texts(alex.page, "While you were away")).to_have_count(1)
    expect(_texts(alex.page, "Hello from Alex")).to_have_count(1)
    expect(alex.page.locator("#messages .msg")).to_have_count(3)
    offsets = alex.page.locator("#messages .msg").evaluate_all(
        "els => els.map(e => e.dataset.offset)"
    )
    assert offsets == ["1", "2", "3"]
    _shot(alex.page, "alex-reloaded")

    # Someone opening the link fresh gets the history page.
    robin = people()
    robin.page.goto(huddle_server.link(room, huddle_server.token("robin", "Robin", room, "member")))
    _connected(robin.page)
    expect(robin.page.locator("#messages .msg")).to_have_count(3)
    expect(robin.page.locator("#messages .msg .text").nth(1)).to_have_text(XSS)
    expect(sam.page.locator('#members li[data-user-id="robin"]')).to_be_visible()

    for person in (sam, alex, robin):
        assert person.dialogs == []
        assert person.errors == [], f"page errors: {person.errors}"


def test_refused_connection_shows_the_reason(
    huddle_process: HuddleServer | None, people: Any
) -> None:
    huddle_server = _ready(huddle_process)
    room = f"circle-{secrets.token_hex(3)}"
    wrong = huddle_server.token(
        "mallory", "Mallory", room, "member", secret="another-secret-" + "z" * 32
    )
    person = people()
    person.page.goto(huddle_server.link(room, wrong))
    status = person.page.locator("#status")
    expect(status).to_have_attribute("data-state", "refused")
    expect(status).to_contain_text("unauthorized")
    expect(person.page.locator("#error")).to_contain_text("unauthorized")
    expect(person.page.locator("#composer")).to_be_disabled()
    _shot(person.page, "refused")


def test_dropped_connection_recovers_and_resends(
    huddle_process: HuddleServer | None, people: Any
) -> None:
    huddle_server = _ready(huddle_process)
    room = f"circle-{secrets.token_hex(3)}"
    proxy = FlakyProxy(int(huddle_server.base.rsplit(":", 1)[1]))
    try:
        sam, alex = people(), people()
        sam.page.goto(
            huddle_server.link(room, huddle_server.token("sam", "Sam", room, "facilitator"))
        )
        _connected(sam.page)
        alex_token = huddle_server.token("alex", "Alex", room, "member")
        alex.page.goto(f"http://127.0.0.1:{proxy.port}/#room={room}&token={alex_token}")
        _connected(alex.page)

        proxy.cut()
        expect(alex.page.locator("#status")).to_have_attribute("data-state", "reconnecting")
        expect(alex.page.locator("#status")).to_have_text("reconnecting…")
        sam.page.locator("#composer").fill("Are you still there?")
        sam.page.locator("#composer").press("Enter")
        expect(sam.page.locator("#messages .msg.own")).to_have_attribute("data-offset", "1")

        # Written while offline: kept as "sending…", sent after the reconnect.
        alex.page.locator("#composer").fill("My wifi dropped")
        alex.page.locator("#composer").press("Enter")
        pending = alex.page.locator("#messages .msg.pending")
        expect(pending).to_have_count(1)
        expect(pending.locator(".state")).to_have_text("sending…")
        _shot(alex.page, "alex-offline")

        proxy.restore()
        _connected(alex.page)
        expect(alex.page.locator("#messages .msg.pending")).to_have_count(0)
        expect(_texts(alex.page, "Are you still there?")).to_have_count(1)
        expect(_texts(sam.page, "My wifi dropped")).to_have_count(1)
        expect(alex.page.locator("#messages .msg")).to_have_count(2)
        offsets = alex.page.locator("#messages .msg").evaluate_all(
            "els => els.map(e => e.dataset.offset)"
        )
        assert offsets == ["1", "2"]
        sam.page.wait_for_timeout(300)
        expect(_texts(sam.page, "My wifi dropped")).to_have_count(1)
        _shot(alex.page, "alex-recovered")
        for person in (sam, alex):
            assert person.dialogs == []
    finally:
        proxy.close()


def test_quick_messages_wait_for_the_rate_limit_and_arrive_in_order(
    huddle_process: HuddleServer | None, people: Any
) -> None:
    huddle_server = _ready(huddle_process)
    room = f"circle-{secrets.token_hex(3)}"
    sam, alex = people(), people()
    sam.page.goto(huddle_server.link(room, huddle_server.token("sam", "Sam", room, "facilitator")))
    alex.page.goto(huddle_server.link(room, huddle_server.token("alex", "Alex", room, "member")))
    _connected(sam.page)
    _connected(alex.page)
    sent = [f"quick {i}" for i in range(6)]
    for text in sent:
        alex.page.locator("#composer").fill(text)
        alex.page.locator("#composer").press("Enter")
    # Past the member's burst the server answers rate_limited with retry_after_s: the
    # client keeps those messages and sends them by itself, in order, none lost or failed.
    expect(sam.page.locator("#messages .msg .text")).to_have_text(sent)
    expect(alex.page.locator("#messages .msg.pending")).to_have_count(0)
    expect(alex.page.locator("#messages .msg.failed")).to_have_count(0)
    expect(alex.page.locator("#messages .msg .text")).to_have_text(sent)
