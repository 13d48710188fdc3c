"""A member away while a facilitator reviewed their held messages sees the outcome on return.

Against the real server in Debian's Chromium: Alex's two held messages are reviewed while
Alex's tab is on another page (disconnected, so no live notice can reach it). Back in the
room, the join's `held_status` marks the refused one "not shared with the group" and the
approved one has its place in the log. Every wait is bounded (browser_support.WAIT_MS).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable, Iterator

import pytest

from tests.browser_support import (
    HuddleServer,
    Person,
    connected,
    enter,
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

WAITING = "waiting for a facilitator to review it"


@pytest.fixture(scope="module")
def huddle_process() -> Iterator[HuddleServer | None]:
    yield from serve("browser-held-status-server.log")


@pytest.fixture(scope="module")
def browser(huddle_process: HuddleServer | None) -> Iterator[Browser | None]:
    yield from launch(huddle_process)


@pytest.fixture
def people(browser: Browser | None) -> Iterator[Callable[[], Person]]:
    yield from open_people(browser, viewport=(1280, 800))


def test_reviews_made_while_away_show_after_coming_back(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    srv = ready(huddle_process)
    room = f"circle-{secrets.token_hex(3)}"
    sam, alex = people(), people()
    enter(srv, sam, room, "sam", "facilitator")
    enter(srv, alex, room, "alex", "member")

    for text in (
        "Have a look at https://example-one.test/pain-diary",
        "And this one https://example-two.test/stretches",
    ):
        say(alex, text)
    first = alex.page.locator("#messages .msg", has_text="example-one")
    second = alex.page.locator("#messages .msg", has_text="example-two")
    for held in (first, second):
        expect(held.locator(".state")).to_have_text(WAITING)

    # Alex's tab goes to another page: the socket closes, so no notice can reach it.
    alex.page.goto("about:blank")
    cards = sam.page.locator('#alert-list .alert[data-kind="held"]')
    expect(cards).to_have_count(2)
    cards.filter(has_text="example-two").locator('button[data-action="deny"]').click()
    expect(cards).to_have_count(1)
    cards.filter(has_text="example-one").locator('button[data-action="approve"]').click()
    expect(cards).to_have_count(0)
    expect(texts(sam.page, "example-one")).to_have_count(1)

    # Back in the room (same tab: its cache still shows both as waiting).
    alex.page.goto(f"{srv.base}/#room={room}")
    connected(alex.page)
    expect(second.locator(".state")).to_have_text("not shared with the group")
    expect(second).to_have_class(re.compile(r"\bnot-shared\b"))
    expect(first).not_to_have_class(re.compile(r"\bheld\b"))
    expect(first).to_have_attribute("data-offset", re.compile(r"^\d+$"))
    expect(texts(alex.page, "example-one")).to_have_count(1)
    expect(texts(alex.page, "example-two")).to_have_count(1)

    # And it stays that way across a reload (kept in the tab's cache).
    alex.page.reload()
    connected(alex.page)
    expect(second.locator(".state")).to_have_text("not shared with the group")
    shot(alex.page, "held-status")
    for person in (sam, alex):
        assert person.dialogs == []
        assert person.errors == [], f"page errors: {person.errors}"


def test_a_not_shared_message_keeps_its_place_in_the_conversation(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    """Messages written after a member's refused one come after it, live and after a
    reload (the audit saw it sink below every newer message)."""
    srv = ready(huddle_process)
    room = f"circle-{secrets.token_hex(3)}"
    sam, alex = people(), people()
    enter(srv, sam, room, "sam", "facilitator")
    enter(srv, alex, room, "alex", "member")

    say(sam, "before it")
    expect(texts(alex.page, "before it")).to_have_count(1)
    say(alex, "Have a look at https://example-three.test/offer")
    card = sam.page.locator('#alert-list .alert[data-kind="held"]')
    card.locator('button[data-action="deny"]').click()
    refused = alex.page.locator("#messages .msg", has_text="example-three")
    expect(refused.locator(".state")).to_have_text("not shared with the group")
    for text in ("after one", "after two"):
        say(sam, text)
    order = ["before it", "example-three", "after one", "after two"]

    def in_order() -> None:
        expect(texts(alex.page, "after two")).to_have_count(1)
        shown = alex.page.locator("#messages .msg .text").all_inner_texts()
        positions = [next(i for i, t in enumerate(shown) if key in t) for key in order]
        assert positions == sorted(positions), shown

    in_order()
    alex.page.reload()
    connected(alex.page)
    expect(refused.locator(".state")).to_have_text("not shared with the group")
    in_order()
    for person in (sam, alex):
        assert person.errors == [], f"page errors: {person.errors}"
