"""The facilitator view against the real server, in Debian's Chromium (Playwright, sync API).

Two (or three) people in one room, each in their own browser context: facilitator Sam,
members Alex and Robin. The first test is the issue's scenario: Alex's message reaches
Sam; Sam pins it (with the keyboard) and mutes Alex; Alex sees the pin and is refused with
the time left; a crisis message from Alex raises an alert first in Sam's panel; markup
shows as text. The second covers the other controls: hands and the floor, lock, pause,
slow mode, reports, delete, remove and readmit, and the activity log.

Screenshots go to $HUDDLE_TEST_OUTPUT (default test-output/) as browser-facilitator-*.png.
Skips without Chromium/Playwright/web/node_modules, fails then under HUDDLE_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Callable, Iterator

import pytest

from tests.browser_support import (
    XSS,
    HuddleServer,
    Person,
    assert_no_markup_ran,
    connected,
    enter,
    launch,
    member,
    member_action,
    message_action,
    msg,
    open_people,
    ready,
    say,
    serve,
    shot,
    texts,
)

with contextlib.suppress(ImportError):  # without playwright the tests skip
    from playwright.sync_api import Browser, Locator, Page, expect

CRISIS = "I don't want to be here anymore, I've been thinking about ending it"
MAX_TABS = 25  # a keyboard user reaches the message's actions within this many Tab presses


@pytest.fixture(scope="module")
def huddle_process() -> Iterator[HuddleServer | None]:
    yield from serve("browser-facilitator-server.log")


@pytest.fixture(scope="module")
def browser(huddle_process: HuddleServer | None) -> Iterator[Browser | None]:
    yield from launch(huddle_process)


@pytest.fixture
def people(browser: Browser | None) -> Iterator[Callable[[], Person]]:
    yield from open_people(browser, viewport=(1280, 800))


def _shot(page: Page, name: str) -> None:
    shot(page, f"facilitator-{name}")


def _tab_to(page: Page, target: Locator) -> None:
    """Press Tab until `target` has the keyboard focus (bounded)."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if target.evaluate("node => node === document.activeElement"):
            return
    active = page.evaluate("document.activeElement && document.activeElement.outerHTML")
    pytest.fail(f"{MAX_TABS} Tab presses did not reach the control; focus is on {active}")


def _circle(srv: HuddleServer, people: Callable[[], Person]) -> tuple[Person, Person, Person]:
    """A fresh room with Sam facilitating and two members, Alex and Robin, all joined."""
    room = f"circle-{secrets.token_hex(3)}"
    sam, alex, robin = people(), people(), people()
    enter(srv, sam, room, "sam", "facilitator")
    enter(srv, alex, room, "alex", "member")
    enter(srv, robin, room, "robin", "member")
    return sam, alex, robin


def test_facilitator_pins_mutes_and_gets_a_crisis_alert(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    sam, alex, robin = _circle(ready(huddle_process), people)

    # The facilitator view is for facilitators only; everyone has the live message log.
    expect(sam.page.locator("#facilitator")).to_be_visible()
    expect(sam.page.locator("#alerts-empty")).to_be_visible()
    expect(alex.page.locator("#facilitator")).to_be_hidden()
    for person in (sam, alex):
        log = person.page.locator("#messages")
        expect(log).to_have_attribute("role", "log")
        expect(log).to_have_attribute("aria-live", "polite")
    # Presence: both members are listed for Sam, with actions on them.
    expect(member(sam.page, "alex")).to_contain_text("Alex")
    expect(member(sam.page, "robin")).to_contain_text("Robin")
    expect(member(sam.page, "alex").locator("summary")).to_have_text("Actions for Alex")
    expect(member(alex.page, "robin").locator("summary")).to_have_count(0)

    # The member's message appears for the facilitator.
    say(alex, "This week the pain kept me up every night.")
    message = msg(sam.page, "kept me up every night")
    expect(message).to_have_count(1)
    expect(message.locator(".name")).to_have_text("Alex")

    # Sam pins it with the keyboard alone: Tab from the log to the newest message's
    # actions, Enter opens its menu, Enter on "Pin".
    menu_button = message.locator(".msg-menu-button")
    sam.page.locator("#messages").focus()
    _tab_to(sam.page, menu_button)
    sam.page.keyboard.press("Enter")
    pin = message.get_by_role("menuitem", name="Pin", exact=True)
    expect(pin).to_be_focused()
    sam.page.keyboard.press("Enter")
    expect(sam.page.locator("#pinned-list .pin")).to_contain_text("kept me up every night")
    expect(message.locator(".act-pin")).to_have_text("Unpin")
    expect(menu_button).to_be_focused()  # the keyboard user is back where they were

    # And mutes Alex for 15 minutes from the member list.
    member_action(sam.page, "alex", "Mute Alex for 15 min").click()
    expect(sam.page.locator("#action-status")).to_have_text("Alex is muted for 15 min.")
    expect(member(sam.page, "alex").locator(".muted-badge")).to_contain_text("muted until")
    _shot(sam.page, "pinned-and-muted")

    # Alex sees the pin and their mute; Send waits, and what Alex writes stays in the box.
    expect(alex.page.locator("#pinned-list .pin")).to_contain_text("kept me up every night")
    expect(alex.page.locator("#mute-state")).to_contain_text("A facilitator has muted you until")
    expect(alex.page.locator("#mute-state")).to_contain_text("min left")
    say(alex, "Can I still say something?")
    expect(alex.page.locator("#send")).to_be_disabled()
    expect(alex.page.locator("#composer")).to_have_value("Can I still say something?")
    expect(alex.page.locator("#posting-state")).to_have_text("Your draft stays here until then.")
    _shot(alex.page, "member-muted")
    expect(sam.page.locator("#messages .sys[data-kind='muted']")).to_have_count(1)

    # Unmuted, Alex sends the kept words; markup from a member shows as text for everyone.
    member_action(sam.page, "alex", "Unmute").click()
    expect(alex.page.locator("#mute-state")).to_be_hidden()
    expect(alex.page.locator("#send")).to_be_enabled()
    alex.page.locator("#composer").press("Enter")
    expect(texts(sam.page, "Can I still say something?")).to_have_count(1)
    say(alex, XSS)
    expect(texts(sam.page, "<img")).to_have_text(XSS)
    expect(texts(robin.page, "<img")).to_have_text(XSS)
    # The mute was between Alex and the facilitators: Robin's log, which has everything
    # sent after it, never said it.
    expect(robin.page.locator("#messages .sys[data-kind='muted']")).to_have_count(0)
    expect(robin.page.locator("#messages .sys[data-kind='unmuted']")).to_have_count(0)
    expect(sam.page.locator("#messages .sys[data-kind='unmuted']")).to_have_count(1)

    # Robin reports that message (reason optional): an alert for Sam.
    reported = msg(robin.page, "<img")
    message_action(reported, "Report…").click()
    robin.page.get_by_label("What worries you about it? (optional)").fill("Looks like code")
    robin.page.get_by_role("button", name="Send report").click()
    expect(reported.locator(".reported")).to_have_text(
        "Thank you. The facilitators have been told."
    )
    report = sam.page.locator('#alert-list .alert[data-kind="report"]')
    expect(report).to_have_count(1)
    expect(report).to_contain_text("Reported by Robin")
    expect(report.locator(".alert-text")).to_have_text(XSS)

    # Each page has rendered the markup for the last time (Sam's report card came after
    # the message; Alex's own copy is acked): whether it ran is read from each page's
    # record of added elements, not waited for.
    own = alex.page.locator("#messages .msg.own", has_text="<img")
    expect(own).to_have_attribute("data-offset", re.compile(r"^\d+$"))
    expect(own).not_to_have_class(re.compile(r"\bpending\b"))
    for person in (sam, alex, robin):
        assert_no_markup_ran(person)

    # A crisis message from the member: delivered, and an alert first in Sam's panel.
    say(alex, CRISIS)
    expect(texts(sam.page, "ending it")).to_have_count(1)
    try:
        crisis = sam.page.locator('#alert-list .alert[data-kind="crisis"]')
        expect(crisis).to_have_count(1)
        expect(crisis.locator(".alert-text")).to_have_text(CRISIS)
        expect(crisis.locator(".alert-kind")).to_have_text("Someone may need support")
        first = sam.page.locator("#alert-list .alert").first
        expect(first).to_have_attribute("data-kind", "crisis")  # before the older report
        # The sender gets support privately (crisis lines), not a refusal.
        expect(alex.page.locator("#notices .notice")).not_to_have_count(0)
        expect(alex.page.locator("#messages .msg.failed", has_text="ending it")).to_have_count(0)
    finally:
        _shot(sam.page, "crisis-alert")
        _shot(alex.page, "member-after-crisis")

    # "Show message" takes the facilitator to it; "Done" clears the alert.
    crisis.get_by_role("button", name="Show message").click()
    expect(msg(sam.page, "ending it")).to_be_focused()
    crisis.get_by_role("button", name=re.compile("^Done")).click()
    expect(crisis).to_have_count(0)
    expect(report).to_have_count(1)

    for person in (sam, alex, robin):
        assert person.dialogs == []
        assert person.errors == [], f"page errors: {person.errors}"


def test_facilitator_controls_hands_removal_and_the_activity_log(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    sam, alex, robin = _circle(ready(huddle_process), people)

    # Raised hands form a queue, in order, for the facilitator.
    alex.page.locator("#hand").click()
    expect(alex.page.locator("#hand")).to_have_attribute("aria-pressed", "true")
    robin.page.locator("#hand").click()
    queue = sam.page.locator("#hand-list li")
    expect(queue).to_have_count(2)
    expect(queue.locator(".hand-name")).to_have_text(["Alex", "Robin"])

    # Giving Alex the floor: everyone sees it; others wait their turn.
    sam.page.get_by_role("button", name="Give the floor to Alex").click()
    expect(alex.page.locator("#roomstate")).to_contain_text("You have the floor")
    expect(robin.page.locator("#roomstate")).to_contain_text("Alex has the floor")
    say(robin, "Can I add something?")
    expect(robin.page.locator("#posting-state")).to_contain_text("Alex has the floor.")
    expect(robin.page.locator("#send")).to_be_disabled()
    say(alex, "Thank you for letting me speak.")
    expect(texts(sam.page, "Thank you for letting me speak.")).to_have_count(1)
    expect(sam.page.locator("#floor-state")).to_have_text("Alex has the floor")
    expect(member(sam.page, "alex").locator(".floor-badge")).to_have_text("has the floor")
    # Alex spoke, so Alex no longer waits: only Robin is left in the queue.
    expect(queue.locator(".hand-name")).to_have_text(["Robin"])
    expect(alex.page.locator("#hand")).to_have_attribute("aria-pressed", "false")
    _shot(sam.page, "hands-and-floor")
    sam.page.get_by_role("button", name="Take the floor back").first.click()
    expect(robin.page.locator("#roomstate")).to_be_hidden()
    expect(sam.page.locator("#floor-row")).to_be_hidden()

    # Lower all hands.
    sam.page.get_by_role("button", name="Lower all hands").click()
    expect(queue).to_have_count(0)
    expect(alex.page.locator("#hand")).to_have_attribute("aria-pressed", "false")
    expect(robin.page.locator("#hand")).to_have_attribute("aria-pressed", "false")

    # Lock, pause and slow mode show for members, and lift again.
    sam.page.get_by_role("button", name="Lock the room").click()
    expect(alex.page.locator("#roomstate")).to_contain_text("Locked: only facilitators can post")
    expect(sam.page.locator("#lock-state")).to_have_text("Locked: only facilitators can post")
    sam.page.get_by_role("button", name="Unlock the room").click()
    sam.page.get_by_role("button", name="Pause the room").click()
    expect(alex.page.locator("#roomstate")).to_have_text("Paused")
    sam.page.get_by_role("button", name="Resume the room").click()
    sam.page.get_by_label("Slow mode").select_option("30")
    sam.page.locator("#ctl-slow-set").click()
    expect(alex.page.locator("#roomstate")).to_have_text("Slow mode: one message every 30 s")
    sam.page.get_by_label("Slow mode").select_option("0")
    sam.page.locator("#ctl-slow-set").click()
    expect(alex.page.locator("#roomstate")).to_be_hidden()

    # Members report others' messages, not their own; facilitators don't see Report.
    unkind = msg(robin.page, "Thank you for letting me speak.")
    expect(message_action(unkind, "Report…")).to_be_visible()
    own = msg(alex.page, "Thank you for letting me speak.")
    expect(own.locator(".msg-menu-button")).to_have_count(0)  # nothing to report of one's own
    expect(msg(sam.page, "Thank you for letting me speak.").locator(".act-report")).to_have_count(0)
    message_action(unkind, "Report…").click()
    robin.page.get_by_role("button", name="Send report").click()  # no reason given
    report = sam.page.locator('#alert-list .alert[data-kind="report"]')
    expect(report).to_contain_text("Reported by Robin")

    # Deleting the message (after a confirmation) removes it everywhere, and the report.
    target = msg(sam.page, "Thank you for letting me speak.")
    message_action(target, "Delete…").click()
    expect(target.get_by_role("button", name="Cancel")).to_be_focused()
    target.get_by_role("button", name="Delete", exact=True).click()
    expect(texts(alex.page, "Thank you for letting me speak.")).to_have_count(0)
    expect(texts(sam.page, "Thank you for letting me speak.")).to_have_count(0)
    expect(report).to_have_count(0)

    # Removing Robin: a kind, clear message, and no retrying.
    member_action(sam.page, "robin", "Remove from room…").click()
    member(sam.page, "robin").get_by_role("button", name="Remove", exact=True).click()
    expect(robin.page.locator("#status")).to_have_attribute("data-state", "removed")
    gone = robin.page.locator("#gone")
    expect(gone).to_be_visible()
    expect(gone).to_contain_text("A facilitator has removed you from this room for now.")
    expect(robin.page.locator("#compose")).to_be_hidden()
    expect(member(sam.page, "robin")).to_have_count(0)
    removed = sam.page.locator('#removed-list li[data-user-id="robin"]')
    expect(removed).to_contain_text("Robin")
    _shot(robin.page, "member-removed")
    robin.page.reload()  # a rejoin is refused: the same message, no retry loop
    expect(robin.page.locator("#status")).to_have_attribute("data-state", "removed")
    expect(robin.page.locator("#gone")).to_be_visible()

    # The activity log shows who did what (never message text).
    sam.page.locator("#audit summary").click()
    audit = sam.page.locator("#audit-list")
    expect(audit).to_contain_text("Sam removed Robin from the room")
    expect(audit).to_contain_text("Sam deleted a message by Alex")
    expect(audit).to_contain_text("Robin reported a message by Alex")
    expect(audit).to_contain_text("Sam lowered all hands")
    expect(audit).to_contain_text("Sam gave Alex the floor")
    expect(audit).not_to_contain_text("Thank you for letting me speak")
    _shot(sam.page, "controls-and-audit")

    # Readmitting lets Robin back in with the same link.
    removed.get_by_role("button", name="Let back in: Robin").click()
    expect(removed).to_have_count(0)
    expect(audit).to_contain_text("Sam let Robin back in")
    robin.page.reload()
    connected(robin.page)
    expect(member(sam.page, "robin")).to_be_visible()
    expect(robin.page.locator("#gone")).to_be_hidden()

    for person in (sam, alex, robin):
        assert person.dialogs == []
        assert person.errors == [], f"page errors: {person.errors}"
