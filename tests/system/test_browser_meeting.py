"""A whole support-group session in Chromium: facilitator Sam and members Alex, Bea and
Cara, on two workers (one redis-server) behind nginx — start → the group agreement → a
check-in round with a pass and a timeout → open sharing with reactions, a win, a quiet
status and "I need support" → a check-out round → the end, which closes the room.

nginx balances by client address (ip_hash) and every browser here is 127.0.0.1, so Sam
and Alex come through nginx (to one worker) and Bea and Cara open the other worker's own
address. Bea uses a phone-sized window (375 by 812), and so does a second tab of Sam's
during the check-out round: everything a facilitator runs the session by is on that
screen at once, nothing drawn over anything, the controls reached by keyboard. A
member's Send waits (saying why, keeping the draft) before they accept the agreement,
while the room is locked, while it is someone else's turn and after the session ends;
the thanks for accepting says "You can post now" only while they can. Screenshots:
browser-meeting-*.png (the facilitator's phone: browser-meeting-running-facilitator-phone).

The check-in round is started by Kim, a co-facilitator on a plain Socket.IO client, with
a 3 s share so that a turn runs out within the test (the page offers shares from 30 s);
everything else is done on the pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Person,
    assert_axe_clean,
    connected,
    missing,
    open_people,
    require_browser,
    shot,
)
from tests.cluster import Cluster, Nginx
from tests.conftest import make_token, open_client

# Worker processes (tests/cluster.py) run with the default websocket path whatever
# HUDDLE_WS_FAST_PATH says: CI's second run, with the fast path off, would repeat this
# module unchanged, so it runs once.
pytestmark = pytest.mark.transport_independent

with contextlib.suppress(ImportError):  # without playwright the tests skip
    from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOM = "circle"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster | None]:
    if missing() is not None:
        yield None
        return
    c = Cluster(workers=2)
    # deploy/nginx.conf names three upstreams: the second worker stands in for the third.
    first, second = (w.address for w in c.workers)
    c.nginx = Nginx(c.nginx.binary, [first, second, second], c.dir / "nginx")
    try:
        c.redis.start()
        with ThreadPoolExecutor(2) as pool:  # side by side: each waits for its /readyz
            list(pool.map(lambda w: w.start(ready_timeout_s=60), c.workers))
        c.nginx.start()
        yield c
    finally:
        c.stop()


def link(base: str, user: str, role: str) -> str:
    token = make_token(user, {ROOM: role}, name=user.title(), ttl_s=900)
    return f"{base}/#room={ROOM}&token={token}"


def open_page(new_person: Callable[[], Person], user: str, role: str, base: str) -> Page:
    person = new_person()
    person.page.goto(link(base, user, role))
    connected(person.page)
    return person.page


def say(page: Page, text: str) -> None:
    page.locator("#composer").fill(text)
    page.locator("#composer").press("Enter")


def kim_starts_a_round(cluster: Cluster) -> None:
    async def run() -> None:
        kim = await open_client(cluster.nginx.url, make_token("kim", {ROOM: "facilitator"}))
        try:
            assert (await kim.call("join", {"room": ROOM}))["ok"]
            ack = await kim.call(
                "round_start", {"room": ROOM, "name": "check_in", "order": "join", "share_s": 3}
            )
            assert ack["ok"], ack
        finally:
            await kim.sio.disconnect()

    # Playwright's sync API holds this thread's event loop: the client gets a thread of its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result(timeout=30)


# What a facilitator running a session on a phone must see at once in the chat view.
RUNNING = {
    "the phase": "#meeting-title",
    "its time left": ".meeting-time",
    "the round's order": "#round-order",
    "who is speaking": "#round-order li[aria-current=true]",
    "the share's time left": ".round-time",
    "a quiet status": '#round-order li[data-user-id="bea"] .quiet-status',
    "the wins strip": "#wins-list .win",
    "moving the round on": "#turn-done",
    "the message box": "#composer",
}
# Of those, the ones drawn side by side or stacked that must not cover one another.
APART = [
    "#meeting-title",
    ".meeting-time",
    "#round-order",
    ".round-time",
    "#wins-list",
    "#turn-done",
    "#composer",
]
# The session's controls a keyboard reaches by Tab from the message box, going back.
CONTROLS = ["turn-done", "round-end", "phase-next", "session-end"]
PROBE = """(els) => els.map((el) => {
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return { box: [r.left, r.top, r.right, r.bottom].map(Math.round),
             inside: r.height > 0 && r.top >= -1 && r.bottom <= innerHeight + 1
                     && r.left >= -1 && r.right <= innerWidth + 1,
             reached: Boolean(hit) && (el.contains(hit) || hit.contains(el)) };
})"""


# Records every moment a page's notes contradict each other: the thank-you for accepting
# the agreement (#action-status) says "You can post now" while the note by the box
# (#posting-state) says why posting waits (someone else's turn, a lock, the end). Its
# "agreement" rule is left out: the ack of "agree" may come just before its event.
NOTES_WATCH = """() => {
    window.__notesClash = [];
    const said = document.getElementById("action-status");
    const note = document.getElementById("posting-state");
    const check = () => {
        const rule = note.dataset.rule || "";
        if (said.textContent.includes("You can post now") && rule
            && rule !== "agreement" && rule !== "slow_mode") {
            window.__notesClash.push(`${said.textContent} | ${note.textContent}`);
        }
    };
    const watch = { subtree: true, childList: true, characterData: true, attributes: true };
    for (const node of [said, note]) new MutationObserver(check).observe(node, watch);
}"""
NOTES_CLASHES = "() => window.__notesClash"


def facilitators_phone_view(page: Page) -> None:
    """A running session on a 375 x 812 phone, for its facilitator: the phase and its
    timer, the round's order with the speaker and a quiet status, the share's time, the
    wins strip, "Next speaker" and the box are all on screen at once without scrolling,
    none drawn over another; the session's controls are reached by keyboard."""
    expect(page.locator("#round-order li")).to_have_count(3)
    expect(page.locator("#round-order li[aria-current=true]")).to_contain_text("Alex")
    expect(page.locator(".meeting-time")).to_contain_text(re.compile(r"\d+:\d\d left"))
    expect(page.locator("#wins-list .win")).to_contain_text("walked to the shop")
    expect(page.locator(RUNNING["a quiet status"])).to_have_text("In a flare, listening")
    found = {
        what: page.locator(selector).first.evaluate(f"el => ({PROBE})([el])[0]")
        for what, selector in RUNNING.items()
    }
    shot(page, "meeting-running-facilitator-phone")
    hidden = {what: f for what, f in found.items() if not (f["inside"] and f["reached"])}
    assert hidden == {}, f"not on the phone's screen at once: {hidden}"
    boxes = [page.locator(sel).first.evaluate(f"el => ({PROBE})([el])[0].box") for sel in APART]
    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            b = boxes[j]
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, f"{APART[i]} {a} overlaps {APART[j]} {b}"
    page.locator("#composer").focus()
    reached: list[str] = []
    for _ in range(40):  # bounded: the page has fewer stops than this above the box
        page.keyboard.press("Shift+Tab")
        at = str(page.evaluate("() => document.activeElement && document.activeElement.id"))
        if at in CONTROLS:
            reached.append(at)
            expect(page.locator(f"#{at}")).to_be_in_viewport()
        if set(reached) == set(CONTROLS):
            break
    assert sorted(reached) == sorted(CONTROLS), f"by keyboard: {reached}"
    assert_axe_clean(page, "facilitator, phone, a session running")


def test_a_whole_session_in_the_browser(cluster: Cluster | None) -> None:
    require_browser()
    assert cluster is not None
    direct = f"http://{cluster.workers[1].address}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            whole_session(browser, cluster, direct)
        finally:
            browser.close()


def whole_session(browser: Browser, cluster: Cluster, direct: str) -> None:
    desktop = open_people(browser)
    phone = open_people(browser, viewport=(375, 812))
    try:
        new_desktop, new_phone = next(desktop), next(phone)
        sam = open_page(new_desktop, "sam", "facilitator", cluster.nginx.url)
        alex = open_page(new_desktop, "alex", "member", cluster.nginx.url)
        bea = open_page(new_phone, "bea", "member", direct)
        cara = open_page(new_desktop, "cara", "member", direct)
        members = (alex, bea, cara)

        # Sam sets the agenda, then starts: every member is asked to accept the group
        # agreement before posting.
        sam.locator(".agenda-edit summary").click()
        sam.locator("#agenda-text").fill(
            "Welcome | 0 | Settle in.\n"
            "Check-in round | 15 | How are you today?\n"
            "Open sharing | 40 | What helped this week?\n"
            "Check-out round | 10 | One thing you take away."
        )
        sam.get_by_role("button", name="Save agenda").click()
        expect(sam.locator("#action-status")).to_contain_text("agenda is saved")
        sam.locator(".agenda-edit summary").click()
        sam.locator("#session-start").click()
        for page in members:
            expect(page.locator("#meeting-title")).to_contain_text("Welcome")
            expect(page.locator("#agree")).to_be_visible()
        # On the phone the agreement folds to a few lines, so "I agree" is on screen too.
        expect(bea.locator("#agree")).to_be_in_viewport(ratio=1)
        shot(bea, "meeting-agreement-phone")
        bea.get_by_role("button", name="Read it all").click()
        expect(bea.locator(".agreement-text")).to_contain_text("not a crisis service")
        expect(alex.get_by_role("button", name="Read it all")).to_be_hidden()  # a desktop
        # Send waits for the agreement, says so, and keeps the draft; accepting it lets
        # the same draft go.
        say(alex, "hello everyone")
        expect(alex.locator("#posting-state")).to_contain_text("accept the group agreement")
        expect(alex.locator("#send")).to_be_disabled()
        expect(alex.locator("#composer")).to_have_value("hello everyone")
        for page in members:
            page.evaluate(NOTES_WATCH)

        def accepts_the_agreement(page: Page) -> None:  # by keyboard: focus, press Enter
            page.locator("#agree").focus()
            page.keyboard.press("Enter")
            expect(page.locator("#agree")).to_be_hidden()
            expect(page.locator("#posting-state")).to_be_empty()
            expect(page.locator("#action-status")).to_have_text("Thank you. You can post now.")

        accepts_the_agreement(alex)
        accepts_the_agreement(bea)
        # The thank-you never contradicts the note by the box: "You can post now" goes
        # when the room is locked, and accepting while it is locked is thanked without it.
        sam.get_by_role("button", name="Lock the room").click()
        expect(alex.locator("#posting-state")).to_contain_text("The room is locked")
        # At once, not after the thank-you's own 7 s (so no retrying expect() here).
        assert alex.evaluate(NOTES_CLASHES) == [], "the notes contradicted"
        cara.locator("#agree").focus()
        cara.keyboard.press("Enter")
        expect(cara.locator("#agree")).to_be_hidden()
        expect(cara.locator("#action-status")).to_have_text("Thank you.")
        expect(cara.locator("#posting-state")).to_contain_text("The room is locked")
        sam.get_by_role("button", name="Unlock the room").click()
        expect(alex.locator("#posting-state")).to_be_empty()
        expect(alex.locator("#send")).to_be_enabled()
        alex.locator("#composer").press("Enter")
        expect(sam.locator(".msg", has_text="hello everyone")).to_be_visible()
        sam.locator("#phase-next").click()
        expect(bea.locator("#meeting-title")).to_contain_text("Check-in round (2 of 4)")

        # The check-in round: Alex shares and is done, Bea passes, Cara's time runs out.
        kim_starts_a_round(cluster)
        for page in members:
            expect(page.locator("#round-order li")).to_have_count(3)
        expect(alex.locator("#round-order li[aria-current=true]")).to_contain_text("Alex")
        expect(bea.locator(".round-next")).to_contain_text("Up next: Bea")
        shot(sam, "meeting-round-desktop")
        # Only the speaker's Send works; the others are told whose turn it is, and a draft
        # written meanwhile waits for their own turn.
        say(bea, "Me too, a 6.")
        expect(bea.locator("#posting-state")).to_contain_text("It's Alex's turn in the round")
        expect(bea.locator("#send")).to_be_disabled()
        for part in ("#posting-state", "#composer", "#send"):  # on the phone's screen
            expect(bea.locator(part)).to_be_in_viewport(ratio=1)
        shot(bea, "meeting-not-my-turn-phone")
        say(alex, "Check-in: a 6 today, but I slept.")
        expect(cara.locator(".msg", has_text="a 6 today")).to_be_visible()
        alex.locator("#turn-done").focus()
        alex.keyboard.press("Enter")
        expect(bea.locator("#turn-pass")).to_be_visible()
        expect(bea.locator("#posting-state")).to_be_empty()
        expect(bea.locator("#composer")).to_have_value("Me too, a 6.")
        expect(bea.locator("#send")).to_be_enabled()
        expect(alex.locator("#posting-state")).to_contain_text("It's Bea's turn")
        shot(bea, "meeting-my-turn-phone")
        bea.locator("#composer").fill("")
        bea.locator("#turn-pass").click()
        expect(cara.locator("#round-order li[aria-current=true]")).to_contain_text("Cara")
        expect(alex.locator("#posting-state")).to_contain_text("It's Cara's turn")
        expect(alex.locator("#send")).to_be_disabled()
        expect(sam.locator(".round-title")).to_contain_text("complete", timeout=8_000)
        expect(sam.locator('#round-order li[data-outcome="timed_out"]')).to_contain_text("Cara")
        expect(sam.locator('#round-order li[data-outcome="passed"]')).to_contain_text("Bea")
        # The round is over: everyone may post (Alex, who had to wait during Cara's turn).
        expect(alex.locator("#posting-state")).to_be_empty()
        expect(alex.locator("#send")).to_be_enabled()

        # Open sharing: a reaction, a win, a quiet status, and asking for support.
        sam.locator("#phase-next").click()
        expect(alex.locator("#meeting-title")).to_contain_text("Open sharing")
        say(cara, "Small win: I walked to the shop and back.")
        shared = alex.locator(".msg", has_text="walked to the shop")
        heart = shared.locator('button[data-reaction="heart"]')
        heart.focus()
        alex.keyboard.press("Space")
        expect(heart).to_have_attribute("aria-pressed", "true")
        expect(heart).to_have_attribute("aria-label", re.compile(r"Sending love.*: you$"))
        expect(
            cara.locator(".msg", has_text="walked to the shop").locator(
                'button[data-reaction="heart"]'
            )
        ).to_have_attribute("aria-pressed", "false")
        expect(
            cara.locator(".msg", has_text="walked to the shop").locator(
                'button[data-reaction="heart"]'
            )
        ).to_contain_text("1")
        cara.locator(".msg", has_text="walked to the shop").locator(
            'button[data-action="win"]'
        ).click()
        expect(bea.locator("#wins-list")).to_contain_text("walked to the shop")
        bea.locator("#my-status").select_option("flare")
        expect(alex.locator('#members li[data-user-id="bea"] .quiet-status')).to_have_text(
            "In a flare, listening"
        )
        alex.locator("#need-support").click()
        expect(alex.locator("#action-status")).to_contain_text("check in with you privately")
        expect(sam.locator("#alert-list")).to_contain_text("A member asked for support")
        # Sam checks in with Alex privately: only the two of them (and co-facilitators) see it.
        sam.locator("#checkin-member").select_option("alex")
        sam.locator("#checkin-open").click()
        thread = alex.locator('.thread[data-user-id="alex"]')
        expect(thread).to_be_visible()
        thread.locator("input").fill("Thanks for reaching out. It's been a hard week.")
        thread.locator("input").press("Enter")
        expect(sam.locator('.thread[data-user-id="alex"] .thread-list')).to_contain_text(
            "hard week"
        )
        expect(cara.locator(".thread")).to_have_count(0)
        expect(cara.locator("#messages")).not_to_contain_text("hard week")
        shot(sam, "meeting-open-sharing-desktop")
        shot(bea, "meeting-open-sharing-phone")

        # Turns, phases and the session's end are announced to screen readers.
        expect(bea.locator("#meeting-live")).to_contain_text("Now: Open sharing")
        # Check-out, then the end: the room is closed to members until the next session.
        sam.locator("#phase-next").click()
        sam.locator("#round-name").select_option("check_out")
        sam.locator("#round-share").select_option(label="1 min 30 s")
        sam.locator("#round-start").click()
        expect(bea.locator(".round-title")).to_contain_text("Check-out")
        expect(bea.locator(".round-time")).to_contain_text(re.compile(r"^1:[0-3]\d left"))
        # The facilitator on a phone too (a second tab of Sam's): the running session.
        sam_phone = open_page(new_phone, "sam", "facilitator", cluster.nginx.url)
        facilitators_phone_view(sam_phone)
        # A new tab draws the room from its join ack alone: the reactions so far too.
        shop = sam_phone.locator(".msg", has_text="walked to the shop")
        expect(shop.locator('button[data-reaction="heart"]')).to_contain_text("1")
        sam_phone.close()
        bea.locator("#my-status").select_option("")
        for _ in range(3):
            sam.locator("#turn-done").click()
        # Not the check-in's "complete", still on the page if the check-out never reached it.
        expect(cara.locator(".round-title")).to_have_text("Check-out round: complete")
        sam.locator("#session-end").click()
        for page in members:
            expect(page.locator("#meeting-title")).to_have_text("This session has ended")
        say(bea, "one more thing")
        expect(bea.locator("#posting-state")).to_contain_text("session has ended")
        expect(bea.locator("#send")).to_be_disabled()
        expect(bea.locator("#composer")).to_have_value("one more thing")
        shot(bea, "meeting-ended-phone")
        for page in members:
            assert page.evaluate(NOTES_CLASHES) == [], "the notes contradicted"
    finally:
        for factory in (desktop, phone):
            with contextlib.suppress(StopIteration):
                next(factory)
