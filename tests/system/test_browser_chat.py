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
import re
import secrets
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from tests.browser_support import (
    XSS,
    HuddleServer,
    Person,
    assert_no_markup_ran,
    connected,
    launch,
    open_people,
    ready,
    say,
    serve,
    shot,
    texts,
)

with contextlib.suppress(ImportError):  # without playwright the tests skip
    from playwright.sync_api import Browser, expect


@pytest.fixture(scope="module")
def huddle_process() -> Iterator[HuddleServer | None]:
    yield from serve()


@pytest.fixture(scope="module")
def browser(huddle_process: HuddleServer | None) -> Iterator[Browser | None]:
    yield from launch(huddle_process)


@pytest.fixture
def people(browser: Browser | None) -> Iterator[Callable[[], Person]]:
    yield from open_people(browser)


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


def test_two_people_chat_in_the_browser(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    huddle_server = ready(huddle_process)
    room = f"circle-{secrets.token_hex(3)}"
    sam, alex = people(), people()
    sam.page.goto(huddle_server.link(room, huddle_server.token("sam", "Sam", room, "facilitator")))
    connected(sam.page)
    alex.page.goto(huddle_server.link(room, huddle_server.token("alex", "Alex", room, "member")))
    connected(alex.page)

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
    expect(texts(sam.page, "Hello from Alex")).to_have_count(1)
    expect(texts(sam.page, "Hello from Alex")).to_have_text("Hello from Alex")
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
    # Rendered for the last time: for Sam once acked (no longer pending), for Alex on
    # arrival. Whether markup ran is then read from each page's record of added elements.
    acked = sam.page.locator("#messages .msg.own", has_text="<img")
    expect(acked).to_have_attribute("data-offset", "2")
    expect(acked).not_to_have_class(re.compile(r"\bpending\b"))
    for person in (sam, alex):
        assert_no_markup_ran(person)
    shot(sam.page, "sam")
    shot(alex.page, "alex")

    # And the other way round; clearing the box stops the indicator at once.
    sam.page.locator("#composer").press_sequentially("Take your time", delay=15)
    expect(alex.page.locator("#typing")).to_have_text("Sam is typing…")
    sam.page.locator("#composer").fill("")
    expect(alex.page.locator("#typing")).to_have_text("")

    # A reload shows the history again, each message once (cached, then recovered).
    alex.page.reload()
    connected(alex.page)
    expect(texts(alex.page, "Hello from Alex")).to_have_count(1)
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
    connected(alex.page)
    expect(texts(alex.page, "While you were away")).to_have_count(1)
    expect(texts(alex.page, "Hello from Alex")).to_have_count(1)
    expect(alex.page.locator("#messages .msg")).to_have_count(3)
    offsets = alex.page.locator("#messages .msg").evaluate_all(
        "els => els.map(e => e.dataset.offset)"
    )
    assert offsets == ["1", "2", "3"]
    shot(alex.page, "alex-reloaded")

    # Someone opening the link fresh gets the history page.
    robin = people()
    robin.page.goto(huddle_server.link(room, huddle_server.token("robin", "Robin", room, "member")))
    connected(robin.page)
    expect(robin.page.locator("#messages .msg")).to_have_count(3)
    expect(robin.page.locator("#messages .msg .text").nth(1)).to_have_text(XSS)
    expect(sam.page.locator('#members li[data-user-id="robin"]')).to_be_visible()

    # The history (from the cache and the server) rendered it as text too: Alex's page
    # shows the later "While you were away" after it, Robin's all three messages.
    for person in (sam, alex, robin):
        assert_no_markup_ran(person)
        assert person.errors == [], f"page errors: {person.errors}"


def test_refused_connection_shows_the_reason(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    huddle_server = ready(huddle_process)
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
    shot(person.page, "refused")


def test_dropped_connection_recovers_and_resends(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    huddle_server = ready(huddle_process)
    room = f"circle-{secrets.token_hex(3)}"
    proxy = FlakyProxy(int(huddle_server.base.rsplit(":", 1)[1]))
    try:
        sam, alex = people(), people()
        sam.page.goto(
            huddle_server.link(room, huddle_server.token("sam", "Sam", room, "facilitator"))
        )
        connected(sam.page)
        alex_token = huddle_server.token("alex", "Alex", room, "member")
        alex.page.goto(f"http://127.0.0.1:{proxy.port}/#room={room}&token={alex_token}")
        connected(alex.page)

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
        shot(alex.page, "alex-offline")

        proxy.restore()
        connected(alex.page)
        expect(alex.page.locator("#messages .msg.pending")).to_have_count(0)
        expect(texts(alex.page, "Are you still there?")).to_have_count(1)
        expect(texts(sam.page, "My wifi dropped")).to_have_count(1)
        expect(alex.page.locator("#messages .msg")).to_have_count(2)
        offsets = alex.page.locator("#messages .msg").evaluate_all(
            "els => els.map(e => e.dataset.offset)"
        )
        assert offsets == ["1", "2"]
        # Barrier: Alex's outbox sends in order and entries reach Sam in offset order, so a
        # second copy of the resent message would show before Alex's next one.
        say(alex, "Back now")
        expect(sam.page.locator("#messages .msg .text")).to_have_text(
            ["Are you still there?", "My wifi dropped", "Back now"]
        )
        shot(alex.page, "alex-recovered")
        for person in (sam, alex):
            assert person.dialogs == []
    finally:
        proxy.close()


def test_quick_messages_wait_for_the_rate_limit_and_arrive_in_order(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    huddle_server = ready(huddle_process)
    room = f"circle-{secrets.token_hex(3)}"
    sam, alex = people(), people()
    sam.page.goto(huddle_server.link(room, huddle_server.token("sam", "Sam", room, "facilitator")))
    alex.page.goto(huddle_server.link(room, huddle_server.token("alex", "Alex", room, "member")))
    connected(sam.page)
    connected(alex.page)
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
