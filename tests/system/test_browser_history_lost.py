"""The web client when Redis restarts empty (issue 12, items 13 and 1), in a real Chromium.

A worker process on its own redis-server (no persistence); a member chats, Redis is
stopped, the member writes while it is away, and Redis comes back empty. The page must say
plainly, where the fresh page starts, that the earlier messages are no longer available,
and the words written during the outage must be delivered once (not refused as a repeat).

Needs Debian's Chromium, the `playwright` package, web/node_modules and redis-server;
without them the test skips (or fails under HUDDLE_REQUIRE_BROWSER=1 /
HUDDLE_REQUIRE_REDIS=1).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser_support import (
    WAIT_MS,
    HuddleServer,
    Person,
    enter,
    launch,
    missing,
    msg,
    open_people,
    ready,
    say,
    serve,
    server_env,
    shot,
    texts,
)
from tests.redis_server import RedisServer

with contextlib.suppress(ImportError):  # without playwright the tests skip
    from playwright.sync_api import Browser, expect

LOST_NOTE = "Earlier messages from this session are no longer available."
# From Redis coming back to the page's note: the worker's resubscription, the page's
# reconnect (1-5 s with jitter) and perhaps one join retry (3 s). Bounded all the same.
COMING_BACK_MS = 3 * WAIT_MS


@pytest.fixture(scope="module")
def redis_store() -> Iterator[RedisServer | None]:
    if missing() is not None:
        yield None
        return
    server = RedisServer(appendonly=False)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="module")
def huddle_process(redis_store: RedisServer | None) -> Iterator[HuddleServer | None]:
    """``python -m chatserver serve`` with REDIS_URL: one worker on the Redis backend."""
    if redis_store is None:
        yield None
        return
    env = {**server_env(), "REDIS_URL": redis_store.url}
    yield from serve("browser-history-lost-server.log", env)


@pytest.fixture(scope="module")
def browser(huddle_process: HuddleServer | None) -> Iterator[Browser | None]:
    yield from launch(huddle_process)


@pytest.fixture
def people(browser: Browser | None) -> Iterator[Callable[[], Person]]:
    yield from open_people(browser)


def received_frames(person: Person) -> list[str]:
    """Every websocket frame the page receives, from now on (to see an ack arrive)."""
    frames: list[str] = []

    def on_websocket(ws: Any) -> None:
        ws.on("framereceived", lambda payload: frames.append(str(payload)))

    person.page.on("websocket", on_websocket)
    return frames


def wait_until(condition: Callable[[], bool], person: Person, what: str) -> None:
    deadline = time.monotonic() + WAIT_MS / 1000
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_MS} ms: {what}")
        person.page.wait_for_timeout(50)


def test_after_redis_restarts_empty_the_page_says_earlier_messages_are_gone(
    huddle_process: HuddleServer | None,
    redis_store: RedisServer | None,
    people: Callable[[], Person],
) -> None:
    srv = ready(huddle_process)
    assert redis_store is not None
    alex = people()
    frames = received_frames(alex)
    enter(srv, alex, "circle", "alex", "member")
    say(alex, "Before the restart: a rough night, but I'm here")
    expect(msg(alex.page, "Before the restart")).to_have_attribute("data-offset", "1")

    redis_store.stop()
    try:
        say(alex, "Said while the server was away")
        # The server refused it as unavailable; the page keeps it and will send it again.
        wait_until(lambda: any('"unavailable"' in f for f in frames), alex, "an unavailable ack")
        expect(msg(alex.page, "Said while the server was away")).to_contain_text("sending")
    finally:
        redis_store.start()  # empty: the room's log is gone

    messages = alex.page.locator("#messages")
    note = messages.locator(".sys.history-gap")
    expect(note).to_have_text(LOST_NOTE, timeout=COMING_BACK_MS)
    expect(note).to_have_attribute("role", "note")
    expect(texts(alex.page, "Before the restart")).to_have_count(0)
    # The words written during the outage arrive once, in the new log, after the note.
    away = msg(alex.page, "Said while the server was away")
    expect(away).to_have_attribute("data-offset", re.compile(r"^[1-9]\d*$"), timeout=WAIT_MS)
    expect(texts(alex.page, "Said while the server was away")).to_have_count(1)
    expect(messages.locator(":scope > *").first).to_have_class(re.compile(r"history-gap"))
    # Posting works at once.
    say(alex, "And after it, all fine")
    expect(msg(alex.page, "And after it, all fine")).to_have_attribute(
        "data-offset", re.compile(r"^[1-9]\d*$")
    )
    shot(alex.page, "history-lost")
    # Someone joining now has nothing to be told: no note for a first visit.
    bea = people()
    enter(srv, bea, "circle", "bea", "member")
    expect(texts(bea.page, "And after it, all fine")).to_have_count(1)
    expect(bea.page.locator("#messages .sys.history-gap")).to_have_count(0)
    assert alex.errors == [] and bea.errors == []
