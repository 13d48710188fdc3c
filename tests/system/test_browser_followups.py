"""Follow-up fixes of the browser client, against the real server in Debian's Chromium.

Each test is one room with its own people (browser contexts): facilitator Sam (and Kim),
members Alex and Robin. Covered: held messages reviewed one by one and kept across a
reload (A, B), the activity log's moderation entries (K), refusals kept across a reload
and error text that goes when its reason ends (B, D), a timed mute that ends on time (G),
the outbox sent one message at a time (E), the phone layout (C), deleted-message
placeholders (F), over-long drafts (I), refused links in plain words (J), the removal note
after a reload (H), and alerts kept by the server (L) and one card per held message (M).

The L and M tests need the server's persisted alerts and `kinds` on held alerts; they are
the last ones in the file. Every wait is bounded (browser_support.WAIT_MS); the whole file
runs in well under a minute. Screenshots: $HUDDLE_TEST_OUTPUT/browser-followups-*.png.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser_support import (
    SECRET,
    HuddleServer,
    Person,
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
    from playwright.sync_api import Browser, Page, expect

CRISIS = "I don't want to be here anymore, I've been thinking about ending it"
REMOVED = "A facilitator removed this message."


@pytest.fixture(scope="module")
def huddle_process() -> Iterator[HuddleServer | None]:
    yield from serve("browser-followups-server.log")


@pytest.fixture(scope="module")
def browser(huddle_process: HuddleServer | None) -> Iterator[Browser | None]:
    yield from launch(huddle_process)


@pytest.fixture
def people(browser: Browser | None) -> Iterator[Callable[[], Person]]:
    yield from open_people(browser, viewport=(1280, 800))


@pytest.fixture
def phones(browser: Browser | None) -> Iterator[Callable[[], Person]]:
    yield from open_people(browser, viewport=(390, 740))


def _room() -> str:
    return f"circle-{secrets.token_hex(3)}"


def _sam_and_alex(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> tuple[HuddleServer, str, Person, Person]:
    """A new room with facilitator Sam and member Alex in it."""
    srv = ready(huddle_process)
    room = _room()
    sam, alex = people(), people()
    enter(srv, sam, room, "sam", "facilitator")
    enter(srv, alex, room, "alex", "member")
    return srv, room, sam, alex


def _emit_as(page: Page, token: str, room: str, event: str, payload: dict[str, Any]) -> Any:
    """Send one event on a second, short-lived connection from `page` (same origin)."""
    return page.evaluate(
        """async ({token, room, event, payload}) => {
            const { io } = await import("/vendor/socket.io.esm.min.js");
            const s = io({ auth: { token }, transports: ["websocket"], forceNew: true });
            try {
                await new Promise((ok, fail) => {
                    s.once("connect", ok);
                    s.once("connect_error", fail);
                });
                const joined = await s.timeout(5000).emitWithAck("join", { room });
                if (!joined.ok) return joined;
                return await s.timeout(5000).emitWithAck(event, { room, ...payload });
            } finally {
                s.disconnect();
            }
        }""",
        {"token": token, "room": room, "event": event, "payload": payload},
    )


def _stay_as(page: Page, tokens: list[str], room: str) -> None:
    """Join `room` as several extra people from `page`, and stay connected."""
    page.evaluate(
        """async ({tokens, room}) => {
            const { io } = await import("/vendor/socket.io.esm.min.js");
            window.__extra = window.__extra || [];
            for (const token of tokens) {
                const s = io({ auth: { token }, transports: ["websocket"], forceNew: true });
                await new Promise((ok, fail) => {
                    s.once("connect", ok);
                    s.once("connect_error", fail);
                });
                await s.timeout(5000).emitWithAck("join", { room });
                window.__extra.push(s);
            }
        }""",
        {"tokens": tokens, "room": room},
    )


def _clean(*persons: Person) -> None:
    for person in persons:
        assert person.dialogs == []
        assert person.errors == [], f"page errors: {person.errors}"


def test_held_messages_are_reviewed_one_by_one_and_kept_across_a_reload(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    _, _, sam, alex = _sam_and_alex(huddle_process, people)

    # Two messages with unknown links: both held for review.
    say(alex, "Have a look at https://example-one.test/pain-diary")
    say(alex, "And this one https://example-two.test/stretches")
    first = msg(alex.page, "example-one")
    second = msg(alex.page, "example-two")
    for held in (first, second):
        expect(held).to_have_class(re.compile(r"\bheld\b"))
        expect(held.locator(".state")).to_have_text("waiting for a facilitator to review it")

    # B: a reload keeps them (they have no place in the log yet).
    alex.page.reload()
    connected(alex.page)
    expect(first.locator(".state")).to_have_text("waiting for a facilitator to review it")
    expect(second.locator(".state")).to_have_text("waiting for a facilitator to review it")

    # A: Sam does not share the second one: exactly that one is marked, the first waits.
    cards = sam.page.locator('#alert-list .alert[data-kind="held"]')
    expect(cards).to_have_count(2)
    cards.filter(has_text="example-two").locator('button[data-action="deny"]').click()
    expect(second.locator(".state")).to_have_text("not shared with the group")
    expect(second).to_have_class(re.compile(r"\bnot-shared\b"))
    expect(first.locator(".state")).to_have_text("waiting for a facilitator to review it")

    # Approving the first puts it in the log, in its place, for both.
    cards.filter(has_text="example-one").locator('button[data-action="approve"]').click()
    expect(first).not_to_have_class(re.compile(r"\bheld\b"))
    expect(first).to_have_attribute("data-offset", re.compile(r"^\d+$"))
    expect(texts(sam.page, "example-one")).to_have_count(1)
    expect(msg(alex.page, "example-one")).to_have_count(1)

    # The one not shared is still there after another reload.
    alex.page.reload()
    connected(alex.page)
    expect(second.locator(".state")).to_have_text("not shared with the group")
    expect(msg(alex.page, "example-one")).to_have_count(1)
    shot(alex.page, "followups-held")

    # K: the activity log names the member and the reason; automatic entries are opt-in.
    sam.page.locator("#audit summary").click()
    audit = sam.page.locator("#audit-list")
    expect(audit).to_contain_text("Sam did not share a held message from Alex")
    expect(audit).not_to_contain_text("Moderation")
    sam.page.get_by_label("Show automatic moderation entries").check()
    expect(audit).to_contain_text("Moderation held a message from Alex: link held")
    expect(audit).not_to_contain_text("verdict.")
    sam.page.get_by_label("Show automatic moderation entries").uncheck()
    expect(audit).not_to_contain_text("Moderation")
    _clean(sam, alex)


def test_a_refusal_is_kept_and_send_waits_while_posting_is_not_possible(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    srv, room, sam, alex = _sam_and_alex(huddle_process, people)
    error = alex.page.locator("#error")

    # D: muted, Send waits and says why; the draft stays; unmuted, it goes.
    member_action(sam.page, "alex", "Mute Alex for 5 min").click()
    expect(alex.page.locator("#mute-state")).to_be_visible()
    say(alex, "Is anyone there?")
    expect(alex.page.locator("#send")).to_be_disabled()
    expect(alex.page.locator("#composer")).to_have_value("Is anyone there?")
    member_action(sam.page, "alex", "Unmute").click()
    expect(alex.page.locator("#mute-state")).to_be_hidden()
    alex.page.locator("#composer").press("Enter")
    expect(texts(sam.page, "Is anyone there?")).to_have_count(1)

    # B: a refused message (the same words again within a minute), with its buttons,
    # survives a reload.
    say(alex, "Is anyone there?")
    refused = alex.page.locator("#messages .msg.failed", has_text="Is anyone there?")
    expect(refused.locator(".state")).to_have_text("not sent")
    expect(error).not_to_have_text("")
    alex.page.reload()
    connected(alex.page)
    expect(refused).to_have_class(re.compile(r"\bfailed\b"))
    expect(refused.locator(".state")).to_have_text("not sent")
    refused.get_by_role("button", name="Edit and resend").click()
    expect(alex.page.locator("#composer")).to_have_value("Is anyone there?")
    expect(refused).to_have_count(0)
    alex.page.locator("#composer").fill("Is anyone there? Just checking.")
    alex.page.locator("#composer").press("Enter")
    expect(texts(sam.page, "Just checking.")).to_have_count(1)

    # D: paused, Send waits with the reason; resumed, it works again.
    sam.page.get_by_role("button", name="Pause the room").click()
    expect(alex.page.locator("#roomstate")).to_have_text("Paused")
    expect(alex.page.locator("#posting-state")).to_contain_text("The room is paused")
    say(alex, "Still paused?")
    expect(alex.page.locator("#send")).to_be_disabled()
    sam.page.get_by_role("button", name="Resume the room").click()
    expect(alex.page.locator("#posting-state")).to_have_text("")
    alex.page.locator("#composer").press("Enter")
    expect(texts(sam.page, "Still paused?")).to_have_count(1)

    # G: a 2 s mute ends on time (not at the next 15 s tick), and Send with it.
    ack = _emit_as(
        sam.page,
        srv.token("sam", "Sam", room, "facilitator"),
        room,
        "mute",
        {"user_id": "alex", "duration_s": 2},
    )
    assert ack.get("ok"), ack
    expect(alex.page.locator("#mute-state")).to_be_visible()
    say(alex, "Muted for a moment")
    expect(alex.page.locator("#send")).to_be_disabled()
    expect(alex.page.locator("#mute-state")).to_be_hidden(timeout=5_000)
    expect(alex.page.locator("#send")).to_be_enabled(timeout=1_000)
    _clean(sam, alex)


def test_queued_messages_go_one_at_a_time_without_a_flood_alert(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    srv, room, sam, alex = _sam_and_alex(huddle_process, people)
    sent = [f"in a row {i}" for i in range(8)]
    for text in sent:
        say(alex, text)
    expect(alex.page.locator("#messages .msg.pending .state").first).to_contain_text("waiting")
    # Past the burst each message waits its turn: all arrive, in order, none refused…
    expect(sam.page.locator("#messages .msg .text")).to_have_text(sent, timeout=20_000)
    expect(alex.page.locator("#messages .msg.pending")).to_have_count(0)
    expect(alex.page.locator("#messages .msg.failed")).to_have_count(0)
    expect(alex.page.locator("#messages .msg .text")).to_have_text(sent)
    # … and the member is not reported for flooding (the old client was, at 6 refusals).
    # Barrier: a flood alert would have gone to Sam before the last refusal's ack; a
    # report raised after everything was sent takes the same route (the room bus, to
    # facilitators) and shows in the same panel after it.
    last_id = msg(sam.page, sent[-1]).get_attribute("data-id")
    robin = srv.token("robin", "Robin", room, "member")
    assert _emit_as(alex.page, robin, room, "report", {"id": last_id})["ok"]
    expect(sam.page.locator('#alert-list .alert[data-kind="report"]')).to_have_count(1)
    expect(sam.page.locator('#alert-list .alert[data-kind="flood"]')).to_have_count(0)
    sam.page.locator("#audit summary").click()
    sam.page.get_by_label("Show automatic moderation entries").check()
    too_fast = sam.page.locator("#audit-list li.automatic", has_text="sending too fast")
    expect(too_fast.first).to_be_visible()
    assert too_fast.count() <= 3, f"{too_fast.count()} refusals: the queue was not paced"
    _clean(sam, alex)


def test_turning_slow_mode_off_sends_a_waiting_message_at_once(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    srv, room, sam, alex = _sam_and_alex(huddle_process, people)
    sam_token = srv.token("sam", "Sam", room, "facilitator")
    assert _emit_as(sam.page, sam_token, room, "slow_mode", {"seconds": 20})["ok"]
    expect(alex.page.locator("#roomstate")).to_contain_text("low")
    say(alex, "slow one")
    expect(msg(sam.page, "slow one")).to_have_count(1)
    say(alex, "slow two")
    waiting = alex.page.locator("#messages .msg.pending", has_text="slow two")
    expect(waiting.locator(".state")).to_contain_text("waiting")
    assert _emit_as(sam.page, sam_token, room, "slow_mode", {"seconds": 0})["ok"]
    # Sent at once, not after the rest of the 20 s.
    expect(msg(sam.page, "slow two")).to_have_count(1, timeout=5_000)
    expect(alex.page.locator("#messages .msg.pending")).to_have_count(0)
    _clean(sam, alex)


def test_phone_layout_deleted_placeholder_and_an_over_long_draft(
    huddle_process: HuddleServer | None,
    people: Callable[[], Person],
    phones: Callable[[], Person],
) -> None:
    srv = ready(huddle_process)
    room = _room()
    sam, alex = people(), phones()
    enter(srv, sam, room, "sam", "facilitator")
    _stay_as(sam.page, [srv.token(f"m{i}", f"Member {i}", room, "member") for i in range(6)], room)
    enter(srv, alex, room, "alex", "member")
    expect(alex.page.locator("#members li")).to_have_count(8)

    # C: on a phone the member list folds under its heading; opened, it scrolls (when
    # long) inside its panel, and "Raise hand" stays in view.
    alex.page.get_by_role("button", name="Show who's here").click()
    body = alex.page.locator(".people-body")
    expect(body).to_be_visible()
    hand = alex.page.locator("#hand")
    expect(hand).to_be_visible()
    expect(hand).to_be_in_viewport(ratio=1)
    body.evaluate("n => { n.scrollTop = n.scrollHeight; }")
    expect(hand).to_be_in_viewport(ratio=1)
    hand.click()
    expect(hand).to_have_attribute("aria-pressed", "true")
    shot(alex.page, "followups-phone")

    # F: a deleted message leaves a placeholder for everyone, also after a reload.
    say(alex, "Something I regret saying")
    target = msg(sam.page, "Something I regret saying")
    expect(target).to_have_attribute("data-offset", re.compile(r"^\d+$"))
    message_action(target, "Delete…").click()
    target.get_by_role("button", name="Delete", exact=True).click()
    for page in (sam.page, alex.page):
        expect(texts(page, "Something I regret saying")).to_have_count(0)
        expect(page.locator("#messages .sys.removed-msg")).to_have_text(REMOVED)
    alex.page.reload()
    connected(alex.page)
    expect(alex.page.locator("#messages .sys.removed-msg")).to_have_text(REMOVED)

    # I: a paste over the limit is kept whole, with how much too long; Send waits.
    composer = alex.page.locator("#composer")
    composer.fill("a" * 2100)
    assert len(composer.input_value()) == 2100
    expect(alex.page.locator("#counter")).to_contain_text("Too long by 100 characters")
    expect(composer).to_have_attribute("aria-invalid", "true")
    expect(alex.page.locator("#send")).to_be_disabled()
    composer.press("Enter")
    expect(alex.page.locator("#messages .msg.own")).to_have_count(0)
    composer.fill("a" * 2000)
    expect(alex.page.locator("#send")).to_be_enabled()
    expect(alex.page.locator("#counter")).to_have_text("0 characters left")
    expect(composer).to_have_attribute("aria-invalid", "false")
    _clean(sam, alex)


def test_refused_links_and_the_removal_note_in_plain_words(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    srv = ready(huddle_process)
    room = _room()
    from chatserver.auth import issue_token

    # J: an expired link and a mangled one.
    expired = issue_token(
        SECRET,
        user_id="alex",
        name="Alex",
        rooms={room: "member"},
        now=int(time.time()) - 7200,
        ttl_s=60,
    )
    person = people()
    person.page.goto(srv.link(room, expired))
    status = person.page.locator("#status")
    expect(status).to_have_attribute("data-state", "refused")
    expect(status).to_have_text("This link has expired — ask your facilitator for a new one.")
    expect(status).not_to_contain_text("unauthorized")
    other = people()
    other.page.goto(srv.link(room, "eyJhbGciOi.not-a-token"))
    expect(other.page.locator("#status")).to_have_text(
        "This link doesn't work — check you copied all of it, "
        "or ask your facilitator for a new one."
    )

    # H: removed with a note: the note is still there after a reload.
    sam, alex = people(), people()
    enter(srv, sam, room, "sam", "facilitator")
    enter(srv, alex, room, "alex", "member")
    sam_alex = member(sam.page, "alex")
    member_action(sam.page, "alex", "Remove from room…")
    sam_alex.get_by_label("Reason (optional)").fill("Let's talk one to one tomorrow.")
    sam_alex.get_by_role("button", name="Remove from room…").click()
    sam_alex.get_by_role("button", name="Remove", exact=True).click()
    gone = alex.page.locator("#gone")
    expect(gone).to_contain_text("Their note: Let's talk one to one tomorrow.")
    alex.page.reload()
    expect(alex.page.locator("#status")).to_have_attribute("data-state", "removed")
    expect(gone).to_contain_text("Their note: Let's talk one to one tomorrow.")
    _clean(sam, alex)


# --- These depend on the server keeping alerts (L) and naming a held message's other
# --- concerns on its one card (M).


def test_alerts_are_kept_for_facilitators_who_come_later(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    srv = ready(huddle_process)
    room = _room()
    sam, alex, robin = people(), people(), people()
    enter(srv, sam, room, "sam", "facilitator")
    enter(srv, alex, room, "alex", "member")
    enter(srv, robin, room, "robin", "member")

    say(alex, CRISIS)
    say(alex, "Honestly this week was awful")
    reported = msg(robin.page, "this week was awful")
    message_action(reported, "Report…").click()
    robin.page.get_by_role("button", name="Send report").click()
    crisis = sam.page.locator('#alert-list .alert[data-kind="crisis"]')
    report = sam.page.locator('#alert-list .alert[data-kind="report"]')
    expect(crisis).to_have_count(1)
    expect(report).to_have_count(1)

    # Kim joins later and still sees both; Sam reconnecting does not duplicate them.
    kim = people()
    enter(srv, kim, room, "kim", "facilitator")
    kim_crisis = kim.page.locator('#alert-list .alert[data-kind="crisis"]')
    kim_report = kim.page.locator('#alert-list .alert[data-kind="report"]')
    expect(kim_crisis).to_have_count(1)
    expect(kim_report).to_have_count(1)
    expect(kim_crisis.locator(".alert-text")).to_have_text(CRISIS)
    sam.page.reload()
    connected(sam.page)
    expect(crisis).to_have_count(1)
    expect(report).to_have_count(1)

    # "Done" closes the card for every facilitator.
    kim_crisis.get_by_role("button", name=re.compile("^Done")).click()
    expect(kim_crisis).to_have_count(0)
    expect(crisis).to_have_count(0)

    # Deleting the reported message settles the report everywhere.
    target = msg(sam.page, "this week was awful")
    message_action(target, "Delete…").click()
    target.get_by_role("button", name="Delete", exact=True).click()
    expect(report).to_have_count(0)
    expect(kim_report).to_have_count(0)
    sam.page.reload()
    connected(sam.page)
    expect(sam.page.locator("#alert-list .alert")).to_have_count(0)
    _clean(sam, alex, robin, kim)


def test_a_held_message_is_one_card_naming_its_other_concerns(
    huddle_process: HuddleServer | None, people: Callable[[], Person]
) -> None:
    _, _, sam, alex = _sam_and_alex(huddle_process, people)
    say(alex, f"I can send you some of my gabapentin until your script comes. {CRISIS}")
    held = sam.page.locator('#alert-list .alert[data-kind="held"]')
    expect(held).to_have_count(1)
    expect(held.locator(".alert-also")).to_contain_text("crisis language")
    expect(held).to_have_class(re.compile(r"\bpriority\b"))
    expect(sam.page.locator('#alert-list .alert[data-kind="crisis"]')).to_have_count(0)
    expect(sam.page.locator("#alert-list .alert").first).to_have_attribute("data-kind", "held")
    shot(sam.page, "followups-held-card")
    _clean(sam, alex)
