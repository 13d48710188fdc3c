"""Shared by the browser tests: the real server as a subprocess, Debian's Chromium, people.

Each browser test module defines thin fixtures on top of these generators:

    @pytest.fixture(scope="module")
    def huddle_process() -> Iterator[HuddleServer | None]:
        yield from serve()

Needs Debian's Chromium at /usr/bin/chromium, the `playwright` package (its bundled
browsers are not used) and web/node_modules (``npm ci`` in web/). Without them the tests
skip, or fail when HUDDLE_REQUIRE_BROWSER=1. Every browser wait is bounded by WAIT_MS.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.processes import required, stop_process

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

SECRET = "browser-test-secret-" + "k" * 32
WAIT_MS = 10_000  # every browser wait is bounded by this
START_TIMEOUT_S = 60.0  # a loaded machine (CI shares it) can take this long to import
XSS = "<img src=x onerror=alert(1)>"

# Installed in every page before its own scripts run: records each element added to the
# document that could run markup from a message (an <img>, or an on* handler attribute).
# huddle's client adds neither, so the list stays empty unless text became markup.
MARKUP_WATCH = """
window.__huddleMarkup = [];
new MutationObserver((records) => {
  for (const record of records) {
    for (const node of record.addedNodes) {
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      for (const el of [node, ...node.querySelectorAll("*")]) {
        if (el.tagName === "IMG" || [...el.attributes].some((a) => a.name.startsWith("on"))) {
          window.__huddleMarkup.push(el.outerHTML);
        }
      }
    }
  }
}).observe(document, { childList: true, subtree: true });
"""

try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

    HAVE_PLAYWRIGHT = True
    expect.set_options(timeout=WAIT_MS)
except ImportError:  # pragma: no cover - depends on the machine
    HAVE_PLAYWRIGHT = False


def missing() -> str | None:
    if not HAVE_PLAYWRIGHT:
        return "the `playwright` Python package is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if not SOCKET_IO_CLIENT.exists():
        return "web/node_modules is missing (run `npm ci` in web/)"
    return None


def require_browser() -> None:
    reason = missing()
    if reason is None:
        return
    if required("HUDDLE_REQUIRE_BROWSER"):
        pytest.fail(f"browser test required (CI) but {reason}", pytrace=False)
    pytest.skip(reason)


def python() -> str:
    return sys.executable


def output_dir() -> Path:
    out = Path(os.environ.get("HUDDLE_TEST_OUTPUT") or ROOT / "test-output")
    out.mkdir(parents=True, exist_ok=True)
    return out


def server_env(secret: str = SECRET) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HUDDLE_REDIS_URL")}
    env["HUDDLE_SECRET"] = secret
    env.pop("HUDDLE_PORT", None)
    env.pop("HUDDLE_HOST", None)
    return env


def free_port() -> int:
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
                python(),
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
            env=server_env(secret),
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


def serve(
    log_name: str = "browser-server.log", env: dict[str, str] | None = None
) -> Iterator[HuddleServer | None]:
    """``python -m chatserver serve`` on a free port (``env``: its environment, by default
    ``server_env()``); yields None when browsers are missing."""
    if missing() is not None:
        yield None  # each test then skips, or fails under HUDDLE_REQUIRE_BROWSER=1
        return
    port = free_port()
    log = output_dir() / log_name
    env = dict(env if env is not None else server_env())
    # Rooms and the group space of its own: nothing said in an earlier run is in its history.
    env.setdefault("HUDDLE_DATA_DIR", tempfile.mkdtemp(prefix="huddle-browser-"))
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [python(), "-m", "chatserver", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    srv = HuddleServer(f"http://127.0.0.1:{port}", proc, log)
    try:
        _wait_healthy(srv)
        yield srv
    finally:
        stop_process(proc, grace_s=15)


def launch(srv: HuddleServer | None) -> Iterator[Browser | None]:
    """Debian's Chromium through Playwright; yields None when there is no server."""
    if srv is None:
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
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def open_people(
    browser: Browser | None, viewport: tuple[int, int] = (1100, 720)
) -> Iterator[Callable[[], Person]]:
    """A factory of people, each in their own browser context (own storage, own socket)."""
    contexts = []

    def open_person() -> Person:
        assert browser is not None
        ctx = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, locale="en-GB"
        )
        contexts.append(ctx)
        ctx.add_init_script(MARKUP_WATCH)
        page = ctx.new_page()
        page.set_default_timeout(WAIT_MS)
        person = Person(page)

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


def ready(srv: HuddleServer | None) -> HuddleServer:
    """First line of every test: skip or fail (HUDDLE_REQUIRE_BROWSER=1) without a browser."""
    require_browser()
    assert srv is not None
    return srv


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(output_dir() / f"browser-{name}.png"), full_page=False)


def assert_no_markup_ran(person: Person) -> None:
    """Text with markup in it (XSS) never became elements on this page, and no dialog
    opened. Call it once the page has rendered the text for the last time (for its
    sender: acked). No waiting for a handler to fire: an injected onerror needs an element
    to hang on, and the page's watch (MARKUP_WATCH) records every element as it is added,
    even one removed again, before any later event is handled."""
    added = person.page.evaluate("() => window.__huddleMarkup")
    assert added == [], f"markup from a message became elements: {added}"
    assert person.page.locator("img, [onerror]").count() == 0
    assert person.dialogs == [], f"a dialog opened: {person.dialogs}"


def connected(page: Page) -> None:
    expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=WAIT_MS)
    expect(page.locator("#status")).to_have_text("connected", timeout=WAIT_MS)


def texts(page: Page, text: str) -> Any:
    return page.locator("#messages .msg .text").filter(has_text=text)


# Page helpers shared by the browser test modules.


def enter(srv: HuddleServer, person: Person, room: str, user: str, role: str) -> None:
    """Open `room` as `user` (named after it) through a link, and wait until connected."""
    person.page.goto(srv.link(room, srv.token(user, user.title(), room, role)))
    connected(person.page)


def say(person: Person, text: str) -> None:
    person.page.locator("#composer").fill(text)
    person.page.locator("#composer").press("Enter")


def msg(page: Page, text: str) -> Any:
    return page.locator("#messages .msg", has_text=text)


def member(page: Page, user: str) -> Any:
    return page.locator(f'#members li[data-user-id="{user}"]')


def member_action(page: Page, user: str, name: str) -> Any:
    """Open the member's actions (a disclosure) and return the named button."""
    person = member(page, user)
    details = person.locator("details.member-actions")
    if details.get_attribute("open") is None:
        person.locator("summary").click()
    return person.get_by_role("button", name=name, exact=True)


def message_action(message: Any, name: str) -> Any:
    """Open a message's actions menu ("⋯") and return its item `name` (Report…, Pin,
    Unpin, Delete…)."""
    message.hover()
    trigger = message.locator(".msg-menu-button")
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()
    return message.get_by_role("menuitem", name=name, exact=True)


AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations on the page as it is now."""
    if not page.evaluate("() => Boolean(window.axe)"):
        # Evaluated through the debugging protocol, so the page's CSP does not apply.
        page.evaluate(AXE.read_text() + "\n;undefined")
    found = page.evaluate(
        """async () => {
            const result = await window.axe.run(document, {
                rules: { "label-content-name-mismatch": { enabled: true } },
                resultTypes: ["violations"],
            });
            return result.violations
                .filter((v) => v.impact === "serious" || v.impact === "critical")
                .map((v) => ({ id: v.id, impact: v.impact,
                               nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
        }"""
    )
    return list(found)


def assert_axe_clean(page: Page, where: str) -> None:
    found = axe_violations(page)
    assert found == [], f"axe-core ({where}): {json.dumps(found, indent=1)}"
