"""A support-group meeting end to end: a session with its agenda and agreement, a round,
support reactions, wins, quiet statuses and asking for support, with Sam facilitating on
worker A and members on worker B (one worker on the memory backend; two on Redis).
"""

from __future__ import annotations

import time
from typing import Any
from uuid import uuid4

from chatserver.app import SERVICE_KEY
from chatserver.clock import now_ms
from chatserver.config import Settings
from tests.conftest import Client
from tests.two_workers import Room

DEFAULTS = Settings()
AGENDA = [
    {"name": "Welcome", "prompt": "Settle in.", "length_s": 0},
    {"name": "Check-in round", "prompt": "How are you today?", "length_s": 0},
]


async def call(client: Client, event: str, **payload: Any) -> dict[str, Any]:
    return await client.call(event, {"room": "r1", **payload})


def kind(name: str, **fields: Any) -> Any:
    return lambda e: e["kind"] == name and all(e.get(k) == v for k, v in fields.items())


async def start(room: Room, agenda: list[dict[str, Any]] = AGENDA) -> None:
    began = await call(room.sam, "session_start", agenda=agenda)
    assert began["ok"]
    for member in (room.alex, room.bea):  # this session's start, not an earlier one's
        await member.wait_for("room_event", kind("session_started", offset=began["offset"]))
        assert (await call(member, "agree"))["ok"]


async def test_a_session_asks_for_the_agreement_moves_through_phases_and_closes(
    room: Room,
) -> None:
    # Before any session the room is a plain chat room.
    assert (await room.alex.send("r1", "hello before we start"))["ok"]
    assert (await call(room.alex, "session_start"))["error"]["code"] == "forbidden"
    assert (await call(room.sam, "session_start", agenda=AGENDA))["ok"]
    started = await room.alex.wait_for("room_event", kind("session_started"))
    assert started["meeting"]["agenda"][0]["name"] == "Welcome"
    assert started["meeting"]["phase"] == 0 and "stays here" in started["meeting"]["guidelines"]
    refused = await room.alex.send("r1", "hi all")
    assert refused["error"]["code"] == "agreement_required"
    assert (await call(room.alex, "agree"))["ok"]
    assert (await room.alex.send("r1", "hi all"))["ok"]
    # A reconnect is told the session, its phase and that this member already agreed.
    again = await room.member("alex")
    joined = (await again.call("join", {"room": "r1"}))["room"]
    assert joined["meeting"]["status"] == "live" and joined["you"]["agreed"] is True
    assert joined["meeting"]["phase"] == 0 and joined["meeting"]["agenda"] == AGENDA
    assert (await room.bea.call("join", {"room": "r1"}))["room"]["you"]["agreed"] is False
    assert (await call(room.sam, "phase_next"))["ok"]
    phase = await room.bea.wait_for("room_event", kind("phase"))
    assert phase["meeting"]["phase"] == 1
    assert (await call(room.sam, "session_end"))["ok"]
    await room.alex.wait_for("room_event", kind("session_ended"))
    closed = await room.alex.send("r1", "one more thing")
    assert closed["error"]["code"] == "session_ended"
    assert (await room.sam.send("r1", "Thank you all. See you next week."))["ok"]
    assert (await call(room.alex, "agree"))["error"]["code"] == "no_session"
    # The next session asks everyone to accept the agreement again.
    next_one = await call(room.sam, "session_start")
    await room.alex.wait_for("room_event", kind("session_started", offset=next_one["offset"]))
    assert (await room.alex.send("r1", "back again"))["error"]["code"] == "agreement_required"


async def test_a_round_goes_in_turn_with_done_pass_a_late_joiner_a_leaver_and_a_timeout(
    room: Room,
) -> None:
    await start(room)
    assert (await call(room.alex, "round_start"))["error"]["code"] == "forbidden"
    ack = await call(room.sam, "round_start", name="check_in", order="join", share_s=30)
    assert ack["ok"]
    began = await room.bea.wait_for("room_event", kind("round_started"))
    order = [s["id"] for s in began["meeting"]["round"]["order"]]
    assert order == ["alex", "bea"] and began["meeting"]["turn"] == "alex"
    assert began["meeting"]["round"]["name"] == "Check-in"
    shared = await room.alex.send("r1", "Check-in: a 6 today, but I slept.")
    assert shared["ok"]
    waiting = await room.bea.send("r1", "me too!")
    assert waiting["error"]["code"] == "not_your_turn"
    assert (await call(room.bea, "react", id=shared["id"], reaction="me_too"))["ok"]
    assert (await call(room.bea, "turn_pass"))["error"]["code"] == "not_your_turn"
    assert (await call(room.bea, "turn_done"))["error"]["code"] == "not_your_turn"
    # Cara arrives mid-round: she goes to the end. Dan arrives and leaves: he is skipped.
    cara = await room.member("cara")
    assert (await cara.call("join", {"room": "r1"}))["ok"]
    await room.sam.wait_for("room_event", kind("turn", reason="joined", user_id="cara"))
    dan = await room.member("dan")
    assert (await dan.call("join", {"room": "r1"}))["ok"]
    await room.sam.wait_for("room_event", kind("turn", reason="joined", user_id="dan"))
    assert (await dan.call("leave", {"room": "r1"}))["ok"]
    left = await room.sam.wait_for("room_event", kind("turn", reason="left", user_id="dan"))
    assert left["meeting"]["round"]["outcomes"]["dan"] == "left"
    # A reconnect mid-round is told the round as it is: its order, whose turn, who left,
    # and the reactions so far.
    rejoined = (await room.bea.call("join", {"room": "r1"}))["room"]
    rnd = rejoined["meeting"]["round"]
    assert [s["id"] for s in rnd["order"]] == ["alex", "bea", "cara", "dan"]
    assert rejoined["meeting"]["turn"] == "alex" and rnd["outcomes"] == {"dan": "left"}
    assert rejoined["reactions"] == {shared["id"]: {"me_too": ["bea"]}}
    assert (await call(room.alex, "turn_done"))["ok"]
    turn = await room.bea.wait_for("room_event", kind("turn", reason="done"))
    assert turn["meeting"]["turn"] == "bea"
    assert (await call(room.bea, "turn_pass"))["ok"]
    turn = await room.sam.wait_for("room_event", kind("turn", reason="passed"))
    assert turn["meeting"]["turn"] == "cara"
    # Cara's time is cut short by the facilitator's clock moving on: the server's timer
    # moves the round on (once), and the round is over: Dan, who left, is skipped.
    for app in room.apps:
        app[SERVICE_KEY].clock = lambda: now_ms() + 31_000
    over = await room.alex.wait_for("room_event", kind("turn", reason="timed_out"), timeout=5)
    assert over["meeting"]["round"]["over"] is True and over["meeting"]["turn"] == ""
    assert over["by"]["role"] == "system"
    barrier = await room.sam.send("r1", "Thank you, everyone.")
    await room.alex.wait_for("message", lambda m: m["id"] == barrier["id"])
    assert len([e for e in room.alex.got("room_event") if e.get("reason") == "timed_out"]) == 1
    assert (await room.bea.send("r1", "now I can talk"))["ok"]


async def test_reactions_wins_statuses_and_asking_for_support(room: Room) -> None:
    await start(room)
    shared = await room.alex.send("r1", "Small win: I walked to the postbox today.")
    for who in (room.bea, room.sam):
        assert (await call(who, "react", id=shared["id"], reaction="celebrate"))["ok"]
    again = await call(room.bea, "react", id=shared["id"], reaction="celebrate")
    assert again == {"ok": True}  # one of each per member: nothing new logged
    assert (await call(room.bea, "react", id=shared["id"], reaction="heart"))["ok"]
    assert (await call(room.bea, "react", id=shared["id"], reaction="heart", on=False))["ok"]
    bad = await call(room.bea, "react", id=shared["id"], reaction="thumbs_down")
    assert bad["error"]["code"] == "invalid_payload"
    assert (await call(room.bea, "react", id="nope", reaction="hug"))["error"]["code"] == (
        "not_reactable"
    )
    await room.alex.wait_count("room_event", 6)  # started, 2 agreed, 3 reactions
    joined = (await room.alex.call("join", {"room": "r1"}))["room"]
    assert joined["reactions"] == {shared["id"]: {"celebrate": ["bea", "sam"]}}
    # Wins: her own message, marked by its author; another's only by a facilitator.
    bea_msg = await room.bea.send("r1", "I asked my GP about the pain clinic.")
    refused = await call(room.alex, "win", id=bea_msg["id"])
    assert refused["error"]["code"] == "forbidden"
    assert (await call(room.alex, "win", id=shared["id"]))["ok"]
    assert (await call(room.sam, "win", id=bea_msg["id"]))["ok"]
    win = await room.bea.wait_for(
        "room_event", lambda e: e["kind"] == "win" and e["id"] == bea_msg["id"]
    )
    assert [w["id"] for w in win["meeting"]["wins"]] == [shared["id"], bea_msg["id"]]
    # A quiet status stays until cleared, and is cleared when they leave.
    assert (await call(room.bea, "status", status="flare"))["ok"]
    shown = await room.alex.wait_for("room_event", kind("status", user_id="bea"))
    assert shown["meeting"]["statuses"] == {"bea": "flare"}
    assert (await call(room.bea, "status", status="dancing"))["error"]["code"] == "invalid_payload"
    assert (await room.bea.call("leave", {"room": "r1"}))["ok"]
    cleared = await room.alex.wait_for("room_event", kind("status", status=None))
    assert cleared["meeting"]["statuses"] == {}
    # "I need support": the facilitators get a priority alert; the member a confirmation.
    asked = await call(room.alex, "need_support", text="Having a rough time tonight.")
    assert asked["ok"] and "check in with you privately" in asked["message"]
    alert = await room.sam.wait_for("alert", lambda a: a["kind"] == "support")
    assert alert["priority"] and alert["user"]["id"] == "alex"
    barrier = await room.sam.send("r1", "barrier")
    await room.alex.wait_for("message", lambda m: m["id"] == barrier["id"])
    assert room.alex.got("alert") == []


async def test_a_timed_session_warns_five_minutes_before_it_ends_then_closes(
    room: Room,
) -> None:
    await start(room, [{"name": "Open sharing", "prompt": "", "length_s": 301}])
    warned = await room.alex.wait_for("room_event", kind("time_notice"), timeout=5)
    assert warned["meeting"]["warned"] and warned["timer"] is True
    for app in room.apps:
        app[SERVICE_KEY].clock = lambda: now_ms() + 302_000
    ended = await room.bea.wait_for("room_event", kind("session_ended"), timeout=5)
    assert ended["reason"] == "time"
    assert (await room.bea.send("r1", "bye"))["error"]["code"] == "session_ended"


async def test_a_private_check_in_is_seen_by_its_member_and_the_facilitators_only(
    room: Room,
) -> None:
    await start(room)
    refused = await call(room.alex, "checkin_open", user_id="bea")
    assert refused["error"]["code"] == "forbidden"  # members cannot open one with each other
    assert (await call(room.sam, "checkin_open", user_id="alex"))["ok"]
    opened = await room.alex.wait_for("room_event", kind("checkin", user_id="alex"))
    assert opened["on"] is True
    asked = await room.sam.call(
        "message",
        {
            "room": "r1",
            "text": "Checking in: how are you doing?",
            "client_id": str(uuid4()),
            "thread": "alex",
        },
    )
    assert asked["ok"]
    reply = await room.alex.call(
        "message",
        {"room": "r1", "text": "Thanks, a hard day.", "client_id": str(uuid4()), "thread": "alex"},
    )
    assert reply["ok"]
    got = await room.sam.wait_for("message", lambda m: m["id"] == reply["id"])
    assert got["thread"] == "alex"
    sneak = await room.bea.call(
        "message", {"room": "r1", "text": "hi alex", "client_id": str(uuid4()), "thread": "alex"}
    )
    assert sneak["error"]["code"] == "forbidden"
    # Barrier: a room message after the thread's reaches Bea, and nothing of the thread did.
    barrier = await room.sam.send("r1", "Back to the group.")
    await room.bea.wait_for("message", lambda m: m["id"] == barrier["id"])
    assert [m["id"] for m in room.bea.got("message")] == [barrier["id"]]
    assert not [e for e in room.bea.got("room_event") if e["kind"] == "checkin"]
    # ... nor after a reconnect; Alex's own join has it, and so does a facilitator's.
    bea_entries = (await room.bea.call("join", {"room": "r1"}))["entries"]
    assert reply["id"] not in [e.get("id") for e in bea_entries]
    alex_join = await room.alex.call("join", {"room": "r1"})
    assert reply["id"] in [e.get("id") for e in alex_join["entries"]]
    assert alex_join["room"]["you"]["checkin"] is True
    sam_join = await room.sam.call("join", {"room": "r1"})
    assert sam_join["checkins"] == ["alex"]
    assert (await call(room.bea, "react", id=reply["id"], reaction="hug"))["error"]["code"] == (
        "not_reactable"
    )
    # The audit says that it happened, not what was said.
    audit = (await call(room.sam, "audit"))["entries"]
    assert next(a for a in audit if a["action"] == "checkin_opened")["user_id"] == "alex"
    assert "hard day" not in str(audit)
    assert (await call(room.sam, "checkin_close", user_id="alex"))["ok"]
    closed = await room.alex.call(
        "message", {"room": "r1", "text": "one more", "client_id": str(uuid4()), "thread": "alex"}
    )
    assert closed["error"]["code"] == "forbidden"


async def test_a_member_is_refused_every_facilitator_control_and_a_shuffled_round(
    room: Room,
) -> None:
    await start(room)
    for event, payload in (
        ("session_end", {}),
        ("phase_next", {}),
        ("agenda", {"agenda": [{"name": "Mine", "length_s": 0}]}),
        ("guidelines", {"text": "anything goes"}),
        ("round_start", {}),
        ("round_end", {}),
        ("checkin_close", {"user_id": "bea"}),
        ("history", {"mode": "each_session"}),
    ):
        refused = await call(room.alex, event, **payload)
        assert refused["error"]["code"] == "forbidden", (event, refused)
    bad = await call(room.sam, "agenda", agenda=[{"name": "", "length_s": 5}])
    assert bad["error"]["code"] == "invalid_payload"
    bad = await call(room.sam, "round_start", share_s=90.5)
    assert bad["error"]["code"] == "invalid_payload" and "share_s" in bad["error"]["message"]
    # Shares go in 30 s steps (a minute and a half here), the speaker's time from the start.
    ack = await call(room.sam, "round_start", name="Gratitude", order="shuffled", share_s=90)
    assert ack["ok"]
    began = await room.alex.wait_for("room_event", kind("round_started"))
    rnd = began["meeting"]["round"]
    assert rnd["shuffled"] is True and rnd["name"] == "Gratitude" and rnd["share_s"] == 90
    assert rnd["turn_ends_ms"] == began["ts"] + 90_000
    assert sorted(s["id"] for s in rnd["order"]) == ["alex", "bea"]
    assert (await call(room.sam, "round_start"))["error"]["code"] == "forbidden"  # one at a time
    # Nothing the member tried changed the meeting: the session is still on its first phase.
    assert began["meeting"]["phase"] == 0 and began["meeting"]["status"] == "live"


async def test_a_round_in_join_order_follows_who_joined_the_session_first(room: Room) -> None:
    assert (await call(room.sam, "session_start", agenda=AGENDA))["ok"]
    for member in (room.bea, room.alex):  # Bea joins the session (accepts) before Alex
        await member.wait_for("room_event", kind("session_started"))
        assert (await call(member, "agree"))["ok"]
    cara = await room.member("cara")  # here, but has not accepted the agreement yet
    assert (await cara.call("join", {"room": "r1"}))["ok"]
    assert (await call(room.sam, "round_start", order="join"))["ok"]
    began = await room.alex.wait_for("room_event", kind("round_started"))
    assert [s["id"] for s in began["meeting"]["round"]["order"]] == ["bea", "alex", "cara"]


async def test_a_crisis_message_takes_no_reactions_even_after_its_alert_is_dealt_with(
    room: Room,
) -> None:
    text = "honestly I don't want to be here anymore, the pain never stops"
    flagged = await room.alex.send("r1", text)
    assert flagged["ok"]
    alert = await room.sam.wait_for("alert", lambda a: a["kind"] == "crisis")
    refused = await call(room.bea, "react", id=flagged["id"], reaction="hug")
    assert refused["error"]["code"] == "not_reactable"
    assert (await call(room.sam, "dismiss_alert", id=alert["id"]))["ok"]
    again = await call(room.bea, "react", id=flagged["id"], reaction="hug")
    assert again["error"]["code"] == "not_reactable"
    # Only facilitators were told the message takes no reactions: a barrier message
    # after it reaches Bea, and the event did not.
    barrier = await room.sam.send("r1", "I'll check in with you, Alex.")
    await room.bea.wait_for("message", lambda m: m["id"] == barrier["id"])
    assert not [e for e in room.bea.got("room_event") if e["kind"] == "reactions_off"]
    await room.sam.wait_for("room_event", kind("reactions_off", id=flagged["id"]))
    plain = await room.bea.send("r1", "Sending you strength.")
    assert (await call(room.alex, "react", id=plain["id"], reaction="heart"))["ok"]


async def test_support_reactions_are_limited_per_member(room: Room) -> None:
    """A member toggling a reaction on and off as fast as they can: the first few are
    logged, then each is refused with ``rate_limited`` and nothing more reaches the room;
    another member still reacts."""
    shared = await room.sam.send("r1", "How is everyone doing this week?")
    started = time.monotonic()
    acks = [
        await call(room.alex, "react", id=shared["id"], reaction="heart", on=i % 2 == 0)
        for i in range(40)
    ]
    elapsed = time.monotonic() - started
    logged = [a for a in acks if a["ok"]]
    refused = [a["error"] for a in acks if not a["ok"]]
    allowance = DEFAULTS.signal_burst + elapsed / (2 * DEFAULTS.signal_refill_s) + 1
    assert 1 <= len(logged) <= allowance, (len(logged), allowance, elapsed)
    assert refused and {e["code"] for e in refused} == {"rate_limited"}
    assert all(e["message"] and e["retry_after_s"] > 0 for e in refused)
    assert (await call(room.bea, "react", id=shared["id"], reaction="hug"))["ok"]
    barrier = await room.sam.send("r1", "barrier")
    await room.bea.wait_for("message", lambda m: m["id"] == barrier["id"])
    from_alex = [e for e in room.bea.got("room_event") if e.get("user_id") == "alex"]
    assert len(from_alex) == len(logged)


async def test_a_facilitator_edits_the_agenda_and_agreement_ends_a_round_and_takes_a_win_off(
    room: Room,
) -> None:
    await start(room)
    # The agenda changes under a live session: its current phase goes on.
    closing = [*AGENDA, {"name": "Check-out round", "prompt": "One thing.", "length_s": 600}]
    assert (await call(room.sam, "agenda", agenda=closing))["ok"]
    changed = await room.alex.wait_for("room_event", kind("agenda"))
    assert changed["meeting"]["agenda"] == closing and changed["meeting"]["phase"] == 0
    # The group agreement: edited once, and the next session starts with the edited one.
    ours = "What is said here stays here. We listen more than we advise."
    assert (await call(room.sam, "guidelines", text=f"  {ours}\n"))["ok"]
    edited = await room.bea.wait_for("room_event", kind("guidelines"))
    assert edited["meeting"]["guidelines"] == ours
    bad = await call(room.sam, "guidelines", text="   ")
    assert bad["error"]["code"] == "invalid_payload"
    # A round ended early: nobody's turn any more, and everyone may post again.
    assert (await call(room.sam, "round_start", share_s=0))["ok"]
    await room.bea.wait_for("room_event", kind("round_started"))
    assert (await room.bea.send("r1", "can I go?"))["error"]["code"] == "not_your_turn"
    assert (await call(room.sam, "round_end"))["ok"]
    ended = await room.bea.wait_for("room_event", kind("round_ended"))
    assert ended["meeting"]["round"]["over"] is True and ended["meeting"]["turn"] == ""
    assert (await call(room.sam, "round_end"))["error"]["code"] == "forbidden"
    shared = await room.bea.send("r1", "I went to the hydrotherapy class!")
    assert shared["ok"]
    # A win marked, then taken off: by its author or a facilitator, not by another member.
    assert (await call(room.bea, "win", id=shared["id"]))["ok"]
    await room.alex.wait_for("room_event", kind("win", on=True))
    refused = await call(room.alex, "win", id=shared["id"], on=False)
    assert refused["error"]["code"] == "forbidden"
    assert (await call(room.sam, "win", id=shared["id"], on=False))["ok"]
    off = await room.alex.wait_for("room_event", kind("win", on=False))
    assert off["meeting"]["wins"] == []
    assert (await call(room.sam, "session_end"))["ok"]
    next_one = await call(room.sam, "session_start")
    again = await room.alex.wait_for(
        "room_event", kind("session_started", offset=next_one["offset"])
    )
    assert again["meeting"]["guidelines"] == ours
