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
import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser_support import (
    HuddleServer,
    Person,
    assert_axe_clean,
    enter,
    launch,
    member,
    message_action,
    msg,
    open_people,
    ready,
    say,
    serve,
    server_env,
    shot,
)

with contextlib.suppress(ImportError):  # without playwright the tests skip
    from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.transport_independent

PHONE = (375, 812)
DESKTOP = (1280, 800)
TABLETS = [(768, 1024), (1024, 768)]
CRISIS = "I don't want to be here anymore, I've been thinking about ending it"
DAY = (
    "woke at four with the burning in my hips, paced the kitchen, tried the breathing, "
    "made it to the afternoon, and slept a little after lunch."
)
SHARE = "How the last month went for me, in full because the group asked. " + " ".join(
    f"Day {i}: {DAY}" for i in range(1, 9)
)
CONTACT = "text me on 07700 900123 if you want to talk"
MEDICATION = "selling my leftover oxycodone, whatsapp me on 07700 900123"


@pytest.fixture(scope="module")
def huddle_process() -> Iterator[HuddleServer | None]:
    # A full history is posted quickly from one helper connection (a big burst lets it),
    # and a closed page leaves at once (no server grace), so comings and goings show fast.
    env = {**server_env(), "HUDDLE_RATE_BURST": "500", "HUDDLE_LEAVE_GRACE_S": "0"}
    yield from serve("browser-layout-server.log", env=env)


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


def emit_as(page: Page, token: str, room: str, calls: list[tuple[str, dict[str, Any]]]) -> Any:
    """Send events on a second, short-lived connection from `page`; the acks, in order."""
    return page.evaluate(
        """async ({token, room, calls}) => {
            const { io } = await import("/vendor/socket.io.esm.min.js");
            const s = io({ auth: { token }, transports: ["websocket"], forceNew: true });
            try {
                await new Promise((ok, fail) => {
                    s.once("connect", ok);
                    s.once("connect_error", fail);
                });
                const joined = await s.timeout(5000).emitWithAck("join", { room });
                if (!joined.ok) return [joined];
                const acks = [];
                for (const [event, payload] of calls) {
                    acks.push(await s.timeout(5000).emitWithAck(event, { room, ...payload }));
                }
                return acks;
            } finally {
                s.disconnect();
            }
        }""",
        {"token": token, "room": room, "calls": calls},
    )


def post(text: str) -> tuple[str, dict[str, Any]]:
    return ("message", {"text": text, "client_id": str(uuid.uuid4())})


def on_screen(page: Page, selector: str) -> dict[str, Any]:
    """Is the element inside the viewport (and inside the log, when it is in the log), and
    is it what a tap at its centre would reach (nothing drawn over it)?"""
    found: dict[str, Any] = page.locator(selector).last.evaluate(
        """(el) => {
            const r = el.getBoundingClientRect();
            const log = el.closest(".messages");
            const c = log ? log.getBoundingClientRect() : { top: 0, bottom: innerHeight };
            const top = Math.max(0, c.top), bottom = Math.min(innerHeight, c.bottom);
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return { inside: r.height > 0 && r.top >= top - 1 && r.bottom <= bottom + 1,
                     reached: Boolean(hit) && el.contains(hit),
                     box: [Math.round(r.top), Math.round(r.bottom)],
                     area: [Math.round(top), Math.round(bottom)] };
        }"""
    )
    return found


def assert_on_screen(page: Page, selector: str, where: str) -> None:
    found = on_screen(page, selector)
    assert found["inside"] and found["reached"], f"{selector} not on screen ({where}): {found}"


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
    message_action(target, "Delete…").click()
    target.get_by_role("button", name="Delete", exact=True).click()
    expect(target).to_have_count(0)


# ---------------------------------------------------------------------------------------
# The worst case on screen at once: a long pin, a crisis note, a mute, a full history


def worst_case(srv: HuddleServer, sam: Person, alex: Person) -> str:
    """A room with a full history, a ~1,200-character pin, Alex's crisis note and contact
    note and a 15 min mute; returns the newest message's text."""
    room = room_id()
    enter(srv, sam, room, "sam", "facilitator")
    enter(srv, alex, room, "alex", "member")
    bea = srv.token("bea", "Bea", room, "member")
    texts = [f"History {i}: " + "a flare day, " * (i % 7 + 1) for i in range(60)] + [SHARE]
    acks = emit_as(alex.page, bea, room, [post(text) for text in texts])
    assert all(a.get("ok") for a in acks), acks[-3:]
    sam_token = srv.token("sam", "Sam", room, "facilitator")
    assert emit_as(sam.page, sam_token, room, [("pin", {"id": acks[-1]["id"]})])[0]["ok"]
    expect(alex.page.locator("#pinned-list .pin")).to_have_count(1)

    say(alex, CRISIS)
    expect(alex.page.locator("#notices .notice")).to_have_count(1)
    say(alex, CONTACT)
    expect(alex.page.locator("#notices .notice")).to_have_count(2)
    # The member's own message stays in view after the notes above the log appear.
    own = msg(alex.page, "if you want to talk")
    expect(own).to_have_attribute("data-offset", re.compile(r"\d"))
    assert_on_screen(alex.page, "#messages .msg.own", "own message after a note")

    muted = emit_as(sam.page, sam_token, room, [("mute", {"user_id": "alex", "duration_s": 900})])
    assert muted[0]["ok"]
    expect(alex.page.locator("#mute-state")).to_be_visible()
    newest = "Newest: thank you all for tonight."
    assert emit_as(sam.page, bea, room, [post(newest)])[0]["ok"]
    for page in (sam.page, alex.page):
        expect(msg(page, newest)).to_have_count(1)
    expect(sam.page.locator('#alert-list .alert[data-kind="crisis"]')).to_have_count(1)
    return newest


def room_of(person: Person) -> str:
    """The room a page is in, from its address (#room=…)."""
    script = "() => new URLSearchParams(location.hash.slice(1)).get('room')"
    return str(person.page.evaluate(script))


def check_worst_case(
    person: Person, newest: str, where: str, min_px: int = 150, part: str = ""
) -> None:
    """`part`: check only this part of the newest message (its words, " .text")."""
    page = person.page
    assert_on_screen(page, "#composer", where)
    assert_on_screen(page, f"#messages .msg{part}", where)
    expect(page.locator("#messages .msg").last).to_contain_text(newest)
    log_px = page.locator("#messages").evaluate("n => n.clientHeight")
    assert log_px >= min_px, f"only {log_px} px of conversation ({where})"
    assert person.errors == [], person.errors


def tabs_from_log_to_box(page: Page) -> int:
    """Tab presses from the conversation to the message box (bounded)."""
    page.locator("#messages").focus()
    for presses in range(1, 30):
        page.keyboard.press("Tab")
        if focused(page) == "composer":
            return presses
    pytest.fail(f"30 Tab presses from the log did not reach the box; at {focused(page)!r}")


def keyboard_pass(page: Page, role: str, where: str) -> None:
    """However long the history, its messages cost one Tab stop; the arrows move between
    messages; a menu opens and closes; the shortcuts and their list work."""
    assert page.locator("#messages .msg").count() > 60
    assert tabs_from_log_to_box(page) <= 3, where

    page.keyboard.press("Alt+Shift+L")  # the newest message's actions
    newest = page.locator("#messages .msg-menu-button").last
    expect(newest).to_be_focused()
    inside = "(n) => n.contains(document.activeElement) && n !== document.activeElement"
    # ↑ the message before (its first control), ↓ back; → the message's other controls.
    page.keyboard.press("ArrowUp")
    assert page.locator("#messages .msg").nth(-2).evaluate(inside), where
    page.keyboard.press("ArrowDown")
    expect(newest).to_be_focused()
    if page.locator("#messages .msg").last.locator(".reactions button").count():
        page.keyboard.press("ArrowRight")
        reactions = page.locator("#messages .msg").last.locator(".reactions button")
        expect(reactions.first).to_be_focused()
        page.keyboard.press("ArrowLeft")
        expect(newest).to_be_focused()
    page.keyboard.press("Enter")
    expect(newest).to_have_attribute("aria-expanded", "true")
    expect(page.locator(".msg-menu:not([hidden]) [role=menuitem]").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(newest).to_be_focused()
    expect(newest).to_have_attribute("aria-expanded", "false")
    # One Tab leads on from the conversation to the box.
    page.keyboard.press("Tab")
    expect(page.locator("#composer")).to_be_focused()

    page.keyboard.press("Alt+Shift+K")
    dialog = page.locator("#shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Go to the message box")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#composer")).to_be_focused()  # back where it was opened from

    if role == "facilitator":
        page.keyboard.press("Alt+Shift+A")
        expect(page.locator("#alerts")).to_be_focused()
        expect(page.locator("#alerts")).to_be_visible()
    page.keyboard.press("Alt+Shift+M")
    expect(page.locator("#composer")).to_be_focused()
    expect(page.locator("#composer")).to_be_visible()


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_worst_case_leaves_the_log_and_the_box_on_screen(
    huddle_process: HuddleServer | None, browser: Browser | None, size: tuple[int, int]
) -> None:
    srv = ready(huddle_process)
    people = open_people(browser, viewport=size)
    new_person = next(people)
    try:
        sam, alex = new_person(), new_person()
        newest = worst_case(srv, sam, alex)
        name = "phone" if size == PHONE else "desktop"
        for role, person in (("facilitator", sam), ("member", alex)):
            shot(person.page, f"layout-{role}-{name}")
            check_worst_case(person, newest, f"{role}, {name}")
            assert_axe_clean(person.page, f"{role}, {name}, light")
            person.page.emulate_media(color_scheme="dark")
            shot(person.page, f"layout-{role}-{name}-dark")
            assert_axe_clean(person.page, f"{role}, {name}, dark")
            person.page.emulate_media(color_scheme="light")
            keyboard_pass(person.page, role, f"{role}, {name}")

        # Tablets, upright and on their side: the same holds (checked on the same pages).
        # A member reports a message with the keyboard alone.
        alex.page.keyboard.press("Alt+Shift+L")
        alex.page.keyboard.press("Enter")
        expect(alex.page.get_by_role("menuitem", name="Report…")).to_be_focused()
        alex.page.keyboard.press("Enter")
        expect(alex.page.get_by_label("What worries you about it? (optional)")).to_be_focused()
        alex.page.keyboard.type("I am not sure this is kind")
        alex.page.keyboard.press("Enter")
        expect(alex.page.locator(".reported")).to_have_text(
            "Thank you. The facilitators have been told."
        )
        expect(sam.page.locator('#alert-list .alert[data-kind="report"]')).to_have_count(1)

        # The member is told why Send does nothing now, and the draft stays.
        alex.page.locator("#composer").fill("I'd like to add something")
        expect(alex.page.locator("#send")).to_be_disabled()
        alex.page.locator("#composer").press("Enter")
        expect(alex.page.locator("#composer")).to_have_value("I'd like to add something")
        expect(alex.page.locator("#posting-state")).to_contain_text("Your draft stays here")

        # The pin shows a few lines, with "Show more", and the pinned bar folds away.
        pin_text = alex.page.locator("#pinned-list .pin .text")
        assert pin_text.evaluate("n => n.getBoundingClientRect().height") < 100
        more = alex.page.locator("#pinned-list .fold-toggle")
        more.click()
        expect(more).to_have_attribute("aria-expanded", "true")
        assert_on_screen(alex.page, "#composer", f"member, {name}, pin opened")
        alex.page.get_by_role("button", name="Hide the pinned messages").click()
        expect(pin_text).to_be_hidden()
        expect(alex.page.locator("#pinned")).to_contain_text("Pinned (1)")

        # The notes fold into one "For you" item: the newest shows, the earlier one waits.
        notes = alex.page.locator("#notices .notice")
        expect(notes.first).to_be_visible()
        expect(notes.nth(1)).to_be_hidden()
        alex.page.get_by_role("button", name="1 earlier note").click()
        expect(notes.nth(1)).to_be_visible()
        assert_on_screen(alex.page, "#composer", f"member, {name}, notes opened")
    finally:
        with contextlib.suppress(StopIteration):
            next(people)


def test_tablets_a_running_session_and_a_facilitators_phone_views(
    huddle_process: HuddleServer | None, browser: Browser | None
) -> None:
    srv = ready(huddle_process)
    people = open_people(browser, viewport=PHONE)
    new_person = next(people)
    try:
        sam, alex = new_person(), new_person()
        newest = worst_case(srv, sam, alex)
        # Tablets, upright and on their side: the same holds (checked on the same pages).
        for tablet in TABLETS:
            for role, person in (("facilitator", sam), ("member", alex)):
                person.page.set_viewport_size({"width": tablet[0], "height": tablet[1]})
                where = f"{role}, tablet {tablet[0]}x{tablet[1]}"
                shot(person.page, f"layout-{role}-tablet-{tablet[0]}")
                check_worst_case(person, newest, where)
                assert_axe_clean(person.page, where)
        for person in (sam, alex):
            person.page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})

        # The facilitator's phone: one panel at a time, with counts; the hand queue
        # and the alerts are on screen in their views, not below the fold.
        views = sam.page.locator("#views")
        views.get_by_role("button", name="People (2)").click()
        expect(sam.page.locator("#hands-title")).to_be_in_viewport()
        expect(member(sam.page, "alex").locator(".alert-badge")).to_be_in_viewport()
        expect(sam.page.locator("#composer")).to_be_hidden()
        shot(sam.page, "layout-facilitator-phone-people")
        views.get_by_role("button", name="Needs attention (2)").click()
        expect(sam.page.locator('#alert-list .alert[data-kind="crisis"]')).to_be_in_viewport()
        shot(sam.page, "layout-facilitator-phone-attention")
        views.get_by_role("button", name="Chat").click()
        assert_on_screen(sam.page, "#composer", "facilitator, phone, back to Chat")

        # A running session's panel too (the agreement step for the member, the round
        # and the controls for the facilitator): the box and the newest still fit.
        sam_token = srv.token("sam", "Sam", room_of(alex), "facilitator")
        started = emit_as(sam.page, sam_token, room_of(alex), [("session_start", {})])
        assert started[0].get("ok"), started
        for role, person in (("facilitator", sam), ("member", alex)):
            expect(person.page.locator("#meeting")).to_have_attribute("data-status", "live")
            shot(person.page, f"layout-{role}-phone-session")
            where = f"{role}, phone, a session running"
            check_worst_case(person, newest, where, min_px=100, part=" .text")
    finally:
        with contextlib.suppress(StopIteration):
            next(people)


# ---------------------------------------------------------------------------------------
# People coming and going, for facilitators


def test_facilitators_see_people_come_and_go(
    huddle_process: HuddleServer | None, desktops: Callable[[], Person]
) -> None:
    srv = ready(huddle_process)
    room = room_id()
    sam, alex, bea = desktops(), desktops(), desktops()
    enter(srv, sam, room, "sam", "facilitator")
    enter(srv, alex, room, "alex", "member")
    live = sam.page.locator("#people-live")
    expect(live).to_have_text("Alex joined the room.")

    # An arrival is marked and announced; so is a raised hand, with its place.
    enter(srv, bea, room, "bea", "member")
    expect(member(sam.page, "bea").locator(".presence-badge")).to_contain_text("joined")
    expect(live).to_have_text("Bea joined the room.")
    alex.page.locator("#hand").click()
    expect(live).to_have_text("Alex raised their hand.")
    bea.page.locator("#hand").click()
    expect(live).to_have_text("Bea raised their hand (2 in the queue).")

    # Someone with an open crisis alert who drops out stays listed, marked.
    say(alex, CRISIS)
    expect(sam.page.locator('#alert-list .alert[data-kind="crisis"]')).to_have_count(1)
    expect(member(sam.page, "alex").locator(".alert-badge")).to_have_text("open alert")
    alex.page.close()
    gone = member(sam.page, "alex")
    expect(gone).to_have_attribute("data-presence", "reconnecting")
    expect(gone.locator(".presence-badge")).to_have_text("reconnecting…")
    expect(gone.locator(".alert-badge")).to_have_text("open alert")
    expect(sam.page.locator("#member-count")).to_have_text("(2)")
    # Members see who is here, not who left.
    expect(member(bea.page, "alex")).to_have_count(0)

    # A quick reconnect is not an arrival: nothing new is announced.
    # (Recorded in the page: the "reconnecting" moment can be shorter than a poll.)
    sam.page.evaluate(
        """() => {
            window.__beaSeen = [];
            new MutationObserver(() => {
                const li = document.querySelector('#members li[data-user-id="bea"]');
                window.__beaSeen.push(li ? li.dataset.presence : "gone");
            }).observe(document.getElementById("members"),
                       { subtree: true, childList: true, attributes: true });
        }"""
    )
    bea.page.reload()
    expect(bea.page.locator("#status")).to_have_attribute("data-state", "connected")
    expect(member(sam.page, "bea")).to_have_attribute("data-presence", "here")
    assert "reconnecting" in sam.page.evaluate("() => window.__beaSeen")
    expect(live).not_to_have_text("Bea joined the room.")
    assert_axe_clean(sam.page, "facilitator, comings and goings")
    shot(sam.page, "layout-comings-and-goings")
    assert sam.errors == []
