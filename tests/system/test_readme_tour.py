"""The README's five-minute tour, run as a newcomer would: `./scripts/run` as written
there, the organiser console from its printed setup link (a passphrase, a group, a
facilitator link and a member link for two, over HTTP as the console's forms send them),
each person opening their link and picking a name, then the tour's messages from a real
Socket.IO client for each of them, and Jo's place taken back."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
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


def test_the_tour_messages_are_the_readmes() -> None:
    for text in (HELD_TEXT, CRISIS_TEXT, ORDINARY_TEXT):
        assert f"`{text}`" in README
    for step in ("one-time setup", "room id `tuesday`", "**facilitator** link", "for 2 people"):
        assert step in README, step
    assert "./scripts/huddle link --name Jo --room demo" in README


PASSPHRASE = "a long tour passphrase"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Console:
    """The organiser's browser, as far as the console's forms go."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base, self.csrf = http, base, ""

    async def post(self, path: str, form: dict[str, str]) -> str:
        async with self.http.post(self.base + path, data={**form, "csrf": self.csrf}) as resp:
            page = await resp.text()
            assert resp.status == 200, page
        found = CSRF.search(page)
        if found:
            self.csrf = found.group(1)
        return page

    async def get(self, path: str) -> str:
        async with self.http.get(self.base + path) as resp:
            assert resp.status == 200
            return await resp.text()

    async def link(self, room: str, role: str, uses: int) -> str:
        form = {"role": role, "uses": str(uses), "hours": "72", "label": ""}
        page = await self.post(f"/organise/groups/{room}/invitations", form)
        found = re.search(r'value="([^"]+)" aria-label="the new link"', page)
        assert found, page
        return found.group(1)


async def open_invitation(http: aiohttp.ClientSession, link: str, name: str) -> str:
    """Open the link, read that the name is a pseudonym, pick one: the credential the
    welcome page keeps in the browser."""
    async with http.get(link) as resp:
        assert resp.status == 200 and "pseudonym" in await resp.text()
    async with http.post(link, data={"name": name}) as resp:
        welcome = await resp.text()
    found = re.search(r'data-token="([^"]+)"', welcome)
    assert found, welcome
    return found.group(1)


async def test_the_five_minute_tour(demo: Demo) -> None:
    assert wait_for_health(demo.port, demo.lines, timeout=60) == 200
    url = f"http://127.0.0.1:{demo.port}"
    (setup_line,) = wait_for_lines(demo.lines, r"one-time link", 1)
    setup = re.search(r"(http://\S+/organise/setup/\S+)", setup_line)
    assert setup is not None, setup_line
    assert any(f"{url}/organise" in line for line in demo.lines), demo.lines

    room = "tuesday"
    jar = aiohttp.CookieJar(unsafe=True)  # the console's cookie, on 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        console = Console(http, url)
        setup_path = setup.group(1)[len(url) :]
        await console.post(setup_path, {"passphrase": PASSPHRASE, "again": PASSPHRASE})
        group = {
            "room": room,
            "name": "Tuesday evening",
            "schedule": "Tuesdays 19:00",
            "time_zone": "Europe/London",
            "agreement": "What is shared here stays here.",
            "crisis_locale": "en-GB",
            "policy": "default",
            "contact": "groups@example.org",
        }
        await console.post("/organise/groups", group)
        facilitator_link = await console.link(room, "facilitator", 1)
        member_link = await console.link(room, "member", 2)
        tokens = {
            "sam": await open_invitation(http, facilitator_link, "Sam"),
            "alex": await open_invitation(http, member_link, "Alex"),
            "jo": await open_invitation(http, member_link, "Jo"),
        }
        people: dict[str, Client] = {}
        for who, token in tokens.items():
            people[who] = await open_client(url, token)
        sam, alex, jo = people["sam"], people["alex"], people["jo"]
        try:
            await tour(room, sam, alex, jo)
            # The run made its room store on first run: the tour outlives a restart.
            assert (Path(demo.env["HUDDLE_DATA_DIR"]) / "rooms.sqlite3").is_file()
            # Step 8: Jo's place taken back from the console; Jo is out at once.
            page = await console.get(f"/organise/groups/{room}")
            jo_id = re.search(r'<tr data-member="(\w+)"><td>Jo</td>', page)
            assert jo_id is not None, page
            await console.post(f"/organise/members/{jo_id.group(1)}/remove", {})
            told = await jo.wait_for("room_event", lambda e: e["kind"] == "removed")
            assert "organiser" in told["reason"]
        finally:
            for client in people.values():
                if client.sio.connected:
                    await client.sio.disconnect()


async def tour(room: str, sam: Client, alex: Client, jo: Client) -> None:
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
