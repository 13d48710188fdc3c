"""The moderation pipeline as members and facilitators meet it, through the real server."""

from __future__ import annotations

import asyncio

from tests.conftest import Client, Connect


async def group(connect: Connect) -> tuple[Client, Client, Client]:
    sam = await connect("sam", {"r1": "facilitator"}, name="Sam")
    alex = await connect("alex", {"r1": "member"}, name="Alex")
    bea = await connect("bea", {"r1": "member"}, name="Bea")
    for c in (sam, alex, bea):
        await c.call("join", {"room": "r1"})
    return sam, alex, bea


async def test_crisis_is_delivered_supported_and_alerted_never_silenced(connect: Connect) -> None:
    sam, alex, bea = await group(connect)
    text = "honestly I don't want to be here anymore, the pain never stops"
    ack = await alex.send("r1", text)
    assert ack["ok"] is True and ack["offset"] >= 1 and ack["text"] == text
    assert (await bea.wait_for("message", lambda m: m["id"] == ack["id"]))["text"] == text
    notice = await alex.wait_for("notice")
    assert "988" in notice["text"] and "116 123" in notice["text"]
    alert = await sam.wait_for("alert", lambda a: a["kind"] == "crisis")
    assert alert["priority"] is True and alert["entry"]["id"] == ack["id"]
    await asyncio.sleep(0.1)
    assert not bea.got("alert") and not bea.got("notice")
    # And they can keep talking: a crisis flag is never a mute.
    assert (await alex.send("r1", "sorry, rough night"))["ok"]


async def test_pain_idioms_are_ordinary_talk(connect: Connect) -> None:
    sam, alex, _ = await group(connect)
    ack = await alex.send("r1", "this flare is killing me today lol, my back is murdering me")
    assert ack["ok"] and "offset" in ack
    await asyncio.sleep(0.2)
    assert not sam.got("alert") and not alex.got("notice")


async def test_contact_details_are_masked_with_a_private_reason(connect: Connect) -> None:
    _, alex, bea = await group(connect)
    ack = await alex.send("r1", "text me on 07700 900123 or alex.smith@example.com if you want")
    assert ack["ok"] and "07700" not in ack["text"] and "example.com" not in ack["text"]
    got = await bea.wait_for("message", lambda m: m["id"] == ack["id"])
    assert got["text"] == ack["text"]
    assert (await alex.wait_for("notice"))["text"]


async def test_unknown_links_are_held_until_a_facilitator_approves(connect: Connect) -> None:
    sam, alex, bea = await group(connect)
    ack = await alex.send("r1", "this supplement changed my life http://cheap-cure.example.biz/buy")
    assert ack == {"ok": True, "held": True, "text": ack["text"]}
    alert = await sam.wait_for("alert", lambda a: a["kind"] == "held")
    held_id = alert["entry"]["id"]
    await asyncio.sleep(0.2)
    assert not bea.got("message")
    approved = await sam.call("review", {"room": "r1", "id": held_id, "approve": True})
    assert approved["ok"]
    assert (await bea.wait_for("message"))["id"] == held_id


async def test_telling_someone_to_harm_themselves_is_blocked_and_alerted(connect: Connect) -> None:
    sam, alex, bea = await group(connect)
    refused = await alex.send("r1", "honestly just go kill yourself bea")
    assert refused["ok"] is False and refused["error"]["code"] == "blocked"
    alert = await sam.wait_for("alert", lambda a: a["kind"] == "abuse")
    assert alert["user"]["id"] == "alex"
    await asyncio.sleep(0.2)
    assert not bea.got("message")
    trail = await sam.call("audit", {"room": "r1"})
    rules = [r.get("rule") for r in trail["entries"]]
    assert any(rule and rule.startswith("abuse.") for rule in rules)
    assert "kill yourself" not in str(trail)


async def test_tidied_whitespace_leaves_no_audit_record(connect: Connect) -> None:
    sam, alex, _ = await group(connect)
    sent = await alex.send("r1", "  morning all, slept a bit better   ")
    assert sent["ok"] is True and sent["text"] == "morning all, slept a bit better"
    trail = await sam.call("audit", {"room": "r1"})
    assert not any(r.get("user_id") == "alex" for r in trail["entries"])
