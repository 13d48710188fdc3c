"""The group space end to end, with real clients: facilitator Sam on worker A, members
Alex and Bea on worker B (the embedded default with its SQLite space, and two Redis
workers sharing one)."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import Client
from tests.two_workers import Room

WEEK_MS = 7 * 86_400_000


async def ask(client: Client, event: str, **payload: Any) -> dict[str, Any]:
    return await client.call(event, {"room": "r1", **payload})


async def test_a_private_goal_is_the_members_alone_until_they_answer_it(room: Room) -> None:
    set_ack = await ask(room.alex, "goal_set", text="Walk to the end of the road twice")
    assert set_ack["ok"] and set_ack["goal"]["shared"] is False
    goal_id = set_ack["goal"]["id"]
    mine = await ask(room.alex, "space")
    assert [g["text"] for g in mine["goals"]] == ["Walk to the end of the road twice"]
    assert (await ask(room.bea, "space"))["goals"] == []
    assert (await ask(room.sam, "space"))["shared_goals"] == []
    # Nobody else may answer it, nor learn that it exists.
    refused = await ask(room.bea, "goal_answer", id=goal_id, answer="done")
    assert refused["error"]["code"] == "invalid_payload"
    answered = await ask(room.alex, "goal_answer", id=goal_id, answer="partly", note="once")
    assert answered["goal"]["answer"] == "partly" and answered["goal"]["answer_note"] == "once"
    again = await ask(room.alex, "space")
    assert again["goals"][0]["answer"] == "partly"


async def test_a_shared_goal_reaches_facilitators_and_its_answer_the_round(room: Room) -> None:
    ack = await ask(room.alex, "goal_set", text="Ask my GP about a pain clinic", shared=True)
    seen = await room.sam.wait_for("space", lambda e: e["kind"] == "goal")
    assert seen["goal"]["id"] == ack["goal"]["id"] and seen["goal"]["name"] == "Alex"
    shared = (await ask(room.sam, "space"))["shared_goals"]
    assert [g["text"] for g in shared] == ["Ask my GP about a pain clinic"]
    await ask(room.alex, "goal_answer", id=ack["goal"]["id"], answer="done")
    heard = await room.bea.wait_for("space", lambda e: e["kind"] == "goal_answered")
    assert heard["goal"]["answer"] == "done" and heard["goal"]["name"] == "Alex"


async def test_what_a_goal_says_is_moderated_like_a_message(room: Room) -> None:
    masked = await ask(room.alex, "goal_set", text="text me on 07700 900123 to check in")
    assert "07700" not in masked["goal"]["text"]
    crisis = await ask(room.bea, "goal_set", text="get through a week without wanting to die")
    assert crisis["ok"]
    alert = await room.sam.wait_for("alert", lambda a: a["kind"] == "crisis")
    assert alert["priority"] is True and alert["user"]["id"] == "bea"
    assert "goal" in alert["reason"]


async def test_a_win_goes_on_the_wall_only_by_its_author_and_comes_off_when_they_say(
    room: Room,
) -> None:
    sent = await room.alex.send("r1", "I made it to the allotment today!")
    refused = await ask(room.bea, "win_keep", msg_id=sent["id"])
    assert refused["error"]["code"] == "invalid_payload"
    kept = await ask(room.alex, "win_keep", msg_id=sent["id"])
    assert kept["win"]["text"] == "I made it to the allotment today!"
    await room.bea.wait_for("space", lambda e: e["kind"] == "win_kept")
    again = await ask(room.alex, "win_keep", msg_id=sent["id"])
    assert again["error"]["code"] == "invalid_payload"
    wall = (await ask(room.bea, "space"))["wins"]
    assert [w["id"] for w in wall] == [kept["win"]["id"]]
    assert (await ask(room.alex, "win_withdraw", id=kept["win"]["id"]))["ok"]
    await room.bea.wait_for("space", lambda e: e["kind"] == "win_removed")
    assert (await ask(room.bea, "space"))["wins"] == []


async def test_a_facilitator_takes_a_win_down_and_the_audit_says_so_without_its_text(
    room: Room,
) -> None:
    sent = await room.bea.send("r1", "Slept five hours straight")
    kept = await ask(room.bea, "win_keep", msg_id=sent["id"])
    refused = await ask(room.alex, "win_take_down", id=kept["win"]["id"])
    assert refused["error"]["code"] == "forbidden"
    assert (await ask(room.sam, "win_take_down", id=kept["win"]["id"], reason="names"))["ok"]
    await room.bea.wait_for("space", lambda e: e["kind"] == "win_removed")
    audit = (await ask(room.sam, "audit", limit=20))["entries"]
    record = next(r for r in audit if r["action"] == "win_taken_down")
    assert record["user_id"] == "bea" and "Slept" not in str(audit)


async def test_the_shelf_is_curated_and_a_members_suggestion_waits_for_a_facilitator(
    room: Room,
) -> None:
    added = await ask(
        room.sam,
        "resource_add",
        title="Pacing, explained",
        url="https://www.nhs.uk/conditions/chronic-pain/",
        tags=["pacing"],
    )
    assert added["resource"]["status"] == "shelved" and "off_list" not in added["resource"]
    await room.alex.wait_for("space", lambda e: e["kind"] == "resource")
    suggested = await ask(
        room.alex, "resource_add", title="My sleep app", url="https://example.org/sleep"
    )
    assert suggested["resource"]["status"] == "suggested" and suggested["resource"]["off_list"]
    await room.sam.wait_for("alert", lambda a: a["kind"] == "resource")
    assert [r["title"] for r in (await ask(room.bea, "space"))["resources"]] == [
        "Pacing, explained"
    ]
    facilitator_view = (await ask(room.sam, "space"))["resources"]
    assert [r["status"] for r in facilitator_view] == ["shelved", "suggested"]
    reviewed = await ask(room.sam, "resource_review", id=suggested["resource"]["id"], approve=True)
    assert reviewed["ok"]
    titles = [r["title"] for r in (await ask(room.bea, "space"))["resources"]]
    assert titles == ["Pacing, explained", "My sleep app"]
    for url in ("https://wa.me/447700900123", "not a link at all", "ftp://files.example.org/x"):
        refused = await ask(room.sam, "resource_add", title="x", url=url)
        assert refused["error"]["code"] == "invalid_payload", url


async def test_the_next_session_is_set_by_a_facilitator_and_everyone_sees_it(room: Room) -> None:
    starts = int(time.time() * 1000) + WEEK_MS
    refused = await ask(room.alex, "next_session_set", starts_at_ms=starts, time_zone="UTC")
    assert refused["error"]["code"] == "forbidden"
    bad_zone = await ask(room.sam, "next_session_set", starts_at_ms=starts, time_zone="Mars/Base")
    assert bad_zone["error"]["code"] == "invalid_payload"
    ack = await ask(room.sam, "next_session_set", starts_at_ms=starts, time_zone="Europe/London")
    assert ack["next_session"]["starts_at_ms"] == starts
    told = await room.bea.wait_for("space", lambda e: e["kind"] == "next_session")
    assert told["next_session"]["time_zone"] == "Europe/London"
    lobby = await ask(room.alex, "space")
    assert lobby["next_session"]["starts_at_ms"] == starts
    assert lobby["crisis_lines"] and all(line["text"] for line in lobby["crisis_lines"])
    # The group agreement is part of the lobby too, before any session starts.
    assert "stays here" in lobby["agreement"]


async def test_a_member_downloads_and_erases_what_the_group_holds_about_them(room: Room) -> None:
    first = await room.alex.send("r1", "My first week here")
    await room.bea.send("r1", "welcome Alex")
    second = await room.alex.send("r1", "Pacing is helping")
    await ask(room.alex, "goal_set", text="Rest before I am tired", shared=True)
    await ask(room.alex, "win_keep", msg_id=second["id"])
    welcome = (await room.bea.wait_count("message", 3))[1]
    assert (await ask(room.alex, "react", id=welcome["id"], reaction="hug"))["ok"]
    mine = (await ask(room.alex, "my_data"))["data"]
    assert [m["id"] for m in mine["messages"]] == [first["id"], second["id"]]
    assert len(mine["goals"]) == 1 and len(mine["wins"]) == 1
    assert mine["reactions"] == [{"msg_id": welcome["id"], "reaction": "hug"}]
    erased = await ask(room.alex, "erase_my_data")
    assert erased["ok"] and erased["records"] == 2 and erased["messages"] == 2
    removed = await room.bea.wait_count("room_event", 4)  # the reaction, two deletes, unreaction
    assert [e["on"] for e in removed if e["kind"] == "reaction"] == [True, False]
    assert {e["id"] for e in removed if e["kind"] == "deleted"} == {first["id"], second["id"]}
    assert all(e["reason"] == "removed by its author" for e in removed if e["kind"] == "deleted")
    fresh = await room.member("cara")
    history = (await fresh.call("join", {"room": "r1"}))["entries"]
    texts = [e.get("text") for e in history if "kind" not in e]
    assert texts == ["welcome Alex"]
    space = await ask(room.sam, "space")
    assert space["shared_goals"] == [] and space["wins"] == []
    assert (await ask(room.alex, "my_data"))["data"] == {
        "user_id": "alex",
        "room": "r1",
        "goals": [],
        "wins": [],
        "messages": [],
        "reactions": [],
    }
    audit = (await ask(room.sam, "audit", limit=50))["entries"]
    assert any(r["action"] == "erased_own_data" for r in audit)
    assert "Pacing" not in str(audit)


async def test_bad_requests_get_a_clear_error_and_change_nothing(room: Room) -> None:
    for event, payload in (
        ("goal_set", {"text": ""}),
        ("goal_set", {"text": "x" * 301}),
        ("goal_set", {"text": "ok", "shared": "yes"}),
        ("goal_answer", {"id": "nope", "answer": "maybe"}),
        ("win_keep", {"msg_id": 5}),
        ("resource_add", {"title": "t", "url": "https://nhs.uk", "tags": ["astrology"]}),
        ("next_session_set", {"starts_at_ms": "next tuesday", "time_zone": "UTC"}),
    ):
        ack = await ask(room.alex, event, **payload)
        assert ack["ok"] is False and ack["error"]["code"] in (
            "invalid_payload",
            "too_long",
            "forbidden",
        ), (event, ack)
    assert (await ask(room.alex, "space"))["goals"] == []


async def test_when_a_session_ends_each_member_gets_a_recap_not_a_transcript(room: Room) -> None:
    refused = await ask(room.alex, "recap")
    assert refused["error"]["code"] == "no_session"
    await ask(room.alex, "goal_set", text="An old goal from before")
    assert (await ask(room.sam, "session_start"))["ok"]
    for member in (room.alex, room.bea):
        await member.wait_for("room_event", lambda e: e["kind"] == "session_started")
        assert (await ask(member, "agree"))["ok"]
    said = await room.alex.send("r1", "I walked to the shop for the first time in a month")
    ordinary = await room.bea.send("r1", "Tired today, just listening")
    pin = await ask(room.sam, "pin", id=said["id"])
    assert pin["ok"]
    assert (await ask(room.alex, "win_keep", msg_id=said["id"]))["ok"]
    shelved = await ask(
        room.sam, "resource_add", title="Pacing guide", url="https://www.nhs.uk/", note="", tags=[]
    )
    assert shelved["ok"]
    await ask(room.alex, "goal_set", text="Walk to the shop twice this week")
    await ask(room.bea, "goal_set", text="Bea's private goal")
    week = int(time.time() * 1000) + WEEK_MS
    await ask(room.sam, "next_session_set", starts_at_ms=week, time_zone="Europe/London")
    assert (await ask(room.sam, "session_end"))["ok"]
    await room.alex.wait_for("room_event", lambda e: e["kind"] == "session_ended")
    recap = (await ask(room.alex, "recap"))["recap"]
    assert recap["ended_ms"] >= recap["started_ms"] > 0
    assert [m["id"] for m in recap["pinned"]] == [said["id"]]
    assert [w["text"] for w in recap["wins"]] == [said["text"]]
    assert [r["title"] for r in recap["resources"]] == ["Pacing guide"]
    assert recap["goal"]["text"] == "Walk to the shop twice this week"
    assert recap["next_session"]["starts_at_ms"] == week
    # A recap, not a transcript: what was only said is not in it; each gets their own goal.
    assert ordinary["id"] not in str(recap)
    assert (await ask(room.bea, "recap"))["recap"]["goal"]["text"] == "Bea's private goal"
