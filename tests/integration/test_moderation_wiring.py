"""The moderation pipeline as members and facilitators meet it, through the real server."""

from __future__ import annotations

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
    # And they can keep talking: a crisis flag is never a mute.
    again = await alex.send("r1", "sorry, rough night")
    assert again["ok"]
    # Barrier: whatever the crisis message raised went out before its ack (alerts on the
    # room bus, the notice straight to a socket); Alex's next message reaches Bea after it.
    await bea.wait_for("message", lambda m: m["id"] == again["id"])
    assert not bea.got("alert") and not bea.got("notice")


async def test_pain_idioms_are_ordinary_talk(connect: Connect) -> None:
    sam, alex, _ = await group(connect)
    ack = await alex.send("r1", "this flare is killing me today lol, my back is murdering me")
    assert ack["ok"] and "offset" in ack
    # Barrier: contact details in Alex's next message raise a known alert for Sam and a
    # notice for Alex, by the routes a flagged idiom would have taken, after it.
    assert (await alex.send("r1", "text me on 07700 900123 if you want to talk"))["ok"]
    await sam.wait_for("alert", lambda a: a["kind"] == "contact")
    await alex.wait_for("notice", lambda n: n["kind"].startswith("contact."))
    assert [a["kind"] for a in sam.got("alert")] == ["contact"]
    assert [n["kind"] for n in alex.got("notice")] == ["contact.phone"]


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
    # Barrier: entries reach Bea in offset order; a held message delivered would have come
    # before Alex's next one.
    after = await alex.send("r1", "anyway, how was everyone's week?")
    await bea.wait_for("message", lambda m: m["id"] == after["id"])
    assert [m["id"] for m in bea.got("message")] == [after["id"]]
    approved = await sam.call("review", {"room": "r1", "id": held_id, "approve": True})
    assert approved["ok"]
    got = await bea.wait_for("message", lambda m: m["id"] == held_id)
    assert got["text"] == ack["text"]


async def test_telling_someone_to_harm_themselves_is_blocked_and_alerted(connect: Connect) -> None:
    sam, alex, bea = await group(connect)
    refused = await alex.send("r1", "honestly just go kill yourself bea")
    assert refused["ok"] is False and refused["error"]["code"] == "blocked"
    alert = await sam.wait_for("alert", lambda a: a["kind"] == "abuse")
    assert alert["user"]["id"] == "alex"
    # Barrier: entries reach Bea in offset order; the blocked message, had it been logged,
    # would have come before one Sam posts after its refusal.
    after = await sam.send("r1", "let's all take a breath")
    await bea.wait_for("message", lambda m: m["id"] == after["id"])
    assert [m["id"] for m in bea.got("message")] == [after["id"]]
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
