"""The README's five-minute tour, run as a newcomer would: `./scripts/run` and
`./scripts/huddle link` exactly as written there, then the tour's messages from a real
Socket.IO client for each person in the links."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import Client, open_client
from tests.integration.test_cli import clean_env, free_port, wait_for_health, wait_for_lines
from tests.processes import output_of

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
HELD_TEXT = "selling my leftover oxycodone, whatsapp me on 07700 900123"
CRISIS_TEXT = "honestly i want to die, i cant do this anymore"
ORDINARY_TEXT = "Morning all, rough night but I'm here"
SCRIPT_ENV_KEYS = ("HUDDLE_VENV",)


def script_env(data_dir: Path) -> dict[str, str]:
    """A newcomer's environment, except which virtualenv the scripts use (CI's own)."""
    env = clean_env(HUDDLE_DATA_DIR=str(data_dir))
    for key in SCRIPT_ENV_KEYS:
        if key in os.environ:
            env[key] = os.environ[key]
    return env


@dataclass
class Demo:
    port: int
    lines: list[str]
    env: dict[str, str]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    port = free_port()
    env = script_env(tmp_path / "data")
    argv = [str(ROOT / "scripts" / "run"), "--port", str(port)]
    with output_of(argv, env=env, cwd=ROOT) as lines:
        yield Demo(port, lines, env)


def link_token(url: str, port: int) -> tuple[str, str]:
    parts = urlsplit(url)
    assert parts.port == port, url
    fragment = dict(item.split("=", 1) for item in parts.fragment.split("&"))
    return fragment["room"], fragment["token"]


def test_the_tour_messages_are_the_readmes() -> None:
    for text in (HELD_TEXT, CRISIS_TEXT, ORDINARY_TEXT):
        assert f"`{text}`" in README
    assert "./scripts/huddle link --name Jo --room demo" in README


async def test_the_five_minute_tour(demo: Demo) -> None:
    assert wait_for_health(demo.port, demo.lines, timeout=60) == 200
    printed = wait_for_lines(demo.lines, r"#room=demo&token=", 2)
    by_role = {line.split()[0]: line.split()[1] for line in printed}
    assert set(by_role) == {"facilitator", "member"}
    assert any("./scripts/huddle link" in line for line in demo.lines), demo.lines

    made = await asyncio.create_subprocess_exec(
        str(ROOT / "scripts" / "huddle"),
        *("link", "--name", "Jo", "--room", "demo"),
        env={**demo.env, "HUDDLE_PORT": str(demo.port)},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(made.communicate(), timeout=60)
    assert made.returncode == 0, err.decode()
    jo_url = out.decode().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/#room=demo&token=[\w.-]+", jo_url), jo_url

    url = f"http://127.0.0.1:{demo.port}"
    people: dict[str, Client] = {}
    for who, link in (("sam", by_role["facilitator"]), ("alex", by_role["member"])):
        room, token = link_token(link, demo.port)
        people[who] = await open_client(url, token)
    room, token = link_token(jo_url, demo.port)
    people["jo"] = await open_client(url, token)
    sam, alex, jo = people["sam"], people["alex"], people["jo"]
    try:
        for client in (sam, alex, jo):
            assert (await client.call("join", {"room": room}))["ok"]

        shared = await alex.send(room, ORDINARY_TEXT)
        assert shared["ok"]
        seen = await jo.wait_for("message", lambda m: m["id"] == shared["id"])
        assert seen["text"] == ORDINARY_TEXT and seen["user"]["name"] == "Alex"

        held = await alex.send(room, HELD_TEXT)
        assert held["ok"] and held["held"], held
        # What Alex is told agrees with what happened: nothing says it was delivered.
        told = await alex.wait_for("notice", lambda n: n["kind"] == "medication.offer")
        assert "before the group sees it" in told["text"]
        assert not any("delivered" in n["text"] for n in alex.got("notice")), alex.got("notice")
        card = await sam.wait_for("alert", lambda a: a["kind"] == "held")
        # The facilitator reads the offer with the phone number hidden, as the README says.
        assert "oxycodone" in card["entry"]["text"] and "07700" not in card["entry"]["text"]

        crisis = await alex.send(room, CRISIS_TEXT)
        assert crisis["ok"]
        alert = await sam.wait_for("alert", lambda a: a["kind"] == "crisis")
        assert alert["priority"] and alert["user"]["name"] == "Alex"
        note = await alex.wait_for("notice", lambda n: n["kind"].startswith("crisis"))
        assert "Samaritans" in note["text"] or "988" in note["text"]
        # The crisis message is shared; the held one reached nobody but the facilitator:
        # Jo's view holds the first and third message and nothing between.
        await jo.wait_for("message", lambda m: m["id"] == crisis["id"])
        assert [m["text"] for m in jo.got("message")] == [ORDINARY_TEXT, CRISIS_TEXT]
        # Barrier: the crisis alert goes on the room bus after the message and before the
        # ack; Sam's typing goes out on the same bus after it, to everyone, Jo included.
        assert (await sam.call("typing", {"room": room, "active": True}))["ok"]
        await jo.wait_for("typing", lambda t: t["user"]["role"] == "facilitator")
        assert not jo.got("alert")
    finally:
        for client in people.values():
            await client.sio.disconnect()
