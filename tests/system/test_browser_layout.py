"""The page a member in a flare uses on a phone and a facilitator runs a room from (issue 13).

Real server, Debian's Chromium through Playwright, one server and one browser for the whole
module; each person has their own browser context at a phone (375 x 812), tablet or desktop
(1280 x 800) size. These tests are about the page (layout, keyboard, accessibility), not
the websocket path, so they run once in CI (transport_independent).

Each accessibility check runs axe-core (web/node_modules/axe-core, from npm) in the page,
with label-content-name-mismatch turned on, and fails on any serious or critical violation.
Screenshots of both roles at both widths go to $HUDDLE_TEST_OUTPUT as
browser-layout-*.png.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser_support import (
    ROOT,
    HuddleServer,
    Person,
    enter,
    launch,
    msg,
    open_people,
    ready,
    say,
    serve,
    shot,
)

with contextlib.suppress(ImportError):  # without playwright the tests skip
    from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.transport_independent

PHONE = (375, 812)
DESKTOP = (1280, 800)
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
CONTACT = "text me on 07700 900123 if you want to talk"
MEDICATION = "selling my leftover oxycodone, whatsapp me on 07700 900123"


@pytest.fixture(scope="module")
def huddle_process() -> Iterator[HuddleServer | None]:
    yield from serve("browser-layout-server.log")


@pytest.fixture(scope="module")
def browser(huddle_process: HuddleServer | None) -> Iterator[Browser | None]:
    yield from launch(huddle_process)


@pytest.fixture
def phones(browser: Browser | None) -> Iterator[Callable[[], Person]]:
    yield from open_people(browser, viewport=PHONE)


@pytest.fixture
def desktops(browser: Browser | None) -> Iterator[Callable[[], Person]]:
    yield from open_people(browser, viewport=DESKTOP)


def room_id() -> str:
    return f"layout-{secrets.token_hex(3)}"


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


def focused(page: Page) -> str:
    return str(page.evaluate("() => document.activeElement && document.activeElement.id"))


# ---------------------------------------------------------------------------------------
# Skip links


def test_skip_links_move_focus_and_keep_the_session(
    huddle_process: HuddleServer | None, desktops: Callable[[], Person]
) -> None:
    srv = ready(huddle_process)
    room = room_id()
    sam, alex = desktops(), desktops()
    enter(srv, sam, room, "sam", "facilitator")
    enter(srv, alex, room, "alex", "member")
    expect(sam.page.locator("#facilitator")).to_be_visible()

    # The member's first keyboard stop is the skip link; it reaches the box, not a reload.
    alex.page.keyboard.press("Tab")
    expect(alex.page.get_by_role("link", name="Skip to the message box")).to_be_focused()
    alex.page.keyboard.press("Enter")
    expect(alex.page.locator("#composer")).to_be_focused()
    expect(alex.page.locator("#status")).to_have_attribute("data-state", "connected")
    assert alex.page.evaluate("() => location.hash") == f"#room={room}"
    expect(alex.page.locator("#error")).to_be_empty()

    # The facilitator's second stop goes to what needs attention.
    sam.page.keyboard.press("Tab")
    sam.page.keyboard.press("Tab")
    expect(sam.page.get_by_role("link", name="Skip to what needs attention")).to_be_focused()
    sam.page.keyboard.press("Enter")
    expect(sam.page.locator("#alerts")).to_be_focused()
    assert sam.page.evaluate("() => location.hash") == f"#room={room}"
    say(sam, "still here")  # the session goes on
    expect(msg(alex.page, "still here")).to_have_count(1)


# ---------------------------------------------------------------------------------------
# The smaller findings


def test_the_smaller_findings(
    huddle_process: HuddleServer | None, desktops: Callable[[], Person]
) -> None:
    srv = ready(huddle_process)
    room = room_id()
    sam, alex = desktops(), desktops()
    enter(srv, sam, room, "sam", "facilitator")
    enter(srv, alex, room, "alex", "member")
    expect(sam.page.locator("#facilitator")).to_be_visible()

    # Facilitators run the hand queue; they have no hand to raise.
    expect(sam.page.locator("#hand")).to_be_hidden()
    expect(alex.page.locator("#hand")).to_be_visible()

    # A member cannot report the facilitator's ground rules, only other members' words.
    say(sam, "Ground rules: what is shared here stays here.")
    rules = msg(alex.page, "Ground rules")
    expect(rules).to_have_count(1)
    expect(rules.locator(".act-report, .msg-menu-button")).to_have_count(0)

    # Giving a member the floor lowers their hand.
    alex.page.locator("#hand").click()
    expect(sam.page.locator("#hand-list li")).to_have_count(1)
    sam.page.get_by_role("button", name="Give the floor to Alex").click()
    expect(alex.page.locator("#hand")).to_have_attribute("aria-pressed", "false")
    expect(sam.page.locator("#hand-list li")).to_have_count(0)
    sam.page.get_by_role("button", name="Take the floor back").first.click()
    expect(sam.page.locator("#floor-row")).to_be_hidden()

    # A contact alert says what it is; deleting the message closes it.
    say(alex, CONTACT)
    contact = sam.page.locator('#alert-list .alert[data-kind="contact"]')
    expect(contact.locator(".alert-kind")).to_have_text("Contact details were hidden")
    expect(msg(sam.page, "if you want to talk")).to_have_attribute("data-offset", re.compile(r"\d"))
    delete_message(sam.page, "if you want to talk")
    expect(contact).to_have_count(0)
    sam.page.reload()  # the server closed it too
    expect(sam.page.locator("#alerts-empty")).to_be_visible()

    # A held medication offer: neither "Share" nor "Don't share" is shown as the default.
    say(alex, MEDICATION)
    held = sam.page.locator('#alert-list .alert[data-kind="held"]')
    share = held.get_by_role("button", name="Share with the group")
    dont = held.get_by_role("button", name="Don't share")
    expect(share).to_be_visible()
    look = "b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]"
    assert share.evaluate(look) == dont.evaluate(look)

    assert_axe_clean(sam.page, "facilitator, desktop, light")
    shot(sam.page, "layout-smaller-findings")
    assert sam.errors == [] and alex.errors == []


def delete_message(page: Page, text: str) -> None:
    """A facilitator deletes a message through its actions, confirming."""
    target = msg(page, text)
    target.hover()
    target.get_by_role("button", name="Delete…").click()
    target.get_by_role("button", name="Delete", exact=True).click()
    expect(target).to_have_count(0)
