"""The organiser's side through real servers: the JSON API (with its OpenAPI file checked
against what the running server answers), invitations opened through the member's page,
the session credential they get admitted with and renewed, and a removal ending a live
connection at once on another worker (memory: one process; Redis: two workers)."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis
import socketio
from aiohttp import web

from chatserver.app import ORGANISER_KEY
from tests.conftest import Client, make_settings, make_token, open_client, start_server
from tests.redis_server import RedisServer

API_KEY = "k" * 40
ORGANISER_KEY_VALUE = "o" * 40


@dataclass
class Deployment:
    urls: tuple[str, str]
    apps: tuple[web.Application, web.Application]
    http: aiohttp.ClientSession

    async def api(
        self, method: str, path: str, body: Any = None, worker: int = 0
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with self.http.request(
            method, self.urls[worker] + path, json=body, headers=headers
        ) as resp:
            return resp.status, await resp.json()


@pytest.fixture(params=["memory", "redis-two-workers"])
async def deployment(request: pytest.FixtureRequest) -> AsyncIterator[Deployment]:
    extra = {"api_key": API_KEY, "organiser_key": ORGANISER_KEY_VALUE, "revocation_poll_s": 0.2}
    runners: list[web.AppRunner] = []
    if request.param == "memory":
        server, runner = await start_server(make_settings(**extra))
        runners.append(runner)
        servers = (server, server)
    else:
        rs: RedisServer = request.getfixturevalue("redis_server")
        flush = redis.Redis.from_url(rs.url)
        await flush.flushdb()
        await flush.aclose()
        a, ra = await start_server(make_settings(redis_url=rs.url, **extra))
        b, rb = await start_server(make_settings(redis_url=rs.url, **extra))
        runners += [ra, rb]
        servers = (a, b)
    async with aiohttp.ClientSession() as http:
        try:
            yield Deployment(
                (servers[0].url, servers[1].url), (servers[0].app, servers[1].app), http
            )
        finally:
            for runner in runners:
                await runner.cleanup()


GROUP = {
    "room": "tuesday",
    "name": "Tuesday evening",
    "time_zone": "Europe/London",
    "agreement": "What is said here stays here.",
    "crisis_locale": "en-GB",
    "policy": "default",
    "schedule": "Tuesdays 19:00",
    "contact": "groups@example.org",
}


async def open_invitation(d: Deployment, url: str, name: str, worker: int = 1) -> str:
    """A person opens the link and picks their name; returns the credential the welcome
    page keeps in their browser."""
    path = url.split("/", 3)[3]
    async with d.http.get(f"{d.urls[worker]}/{path}") as resp:
        page = await resp.text()
        assert resp.status == 200, page
        assert "pseudonym" in page and GROUP["agreement"] in page
    async with d.http.post(f"{d.urls[worker]}/{path}", data={"name": name}) as resp:
        welcome = await resp.text()
        assert resp.status == 200, welcome
    found = re.search(r'data-token="([^"]+)"', welcome)
    assert found is not None, welcome
    assert found.group(1) not in url
    return html.unescape(found.group(1))


async def test_an_invited_member_joins_and_a_removal_ends_their_connection_at_once(
    deployment: Deployment,
) -> None:
    d = deployment
    status, group = await d.api("POST", "/api/v1/groups", GROUP)
    assert status == 201 and group["name"] == "Tuesday evening"
    status, made = await d.api(
        "POST",
        "/api/v1/groups/tuesday/invitations",
        {"role": "member", "uses": 2, "label": "spring"},
    )
    assert status == 201 and made["invitation"]["state"] == "ok"
    kit_token = await open_invitation(d, made["url"], "  Kit  ")
    lee_token = await open_invitation(d, made["url"], "Lee")
    # Used up: a third person sees the page that says so, not a form.
    async with d.http.get(d.urls[1] + "/" + made["url"].split("/", 3)[3]) as resp:
        assert resp.status == 410 and "already been used" in await resp.text()

    kit = await open_client(d.urls[1], kit_token)
    lee = await open_client(d.urls[1], lee_token)
    # An external token (the command line's, another system's) keeps working beside them.
    sam = await open_client(d.urls[0], make_token("sam", {"tuesday": "facilitator"}, name="Sam"))
    try:
        for person in (kit, lee, sam):
            assert (await person.call("join", {"room": "tuesday"}))["ok"]
        said = await kit.send("tuesday", "hello from Kit")
        seen = await sam.wait_for("message", lambda m: m["id"] == said["id"])
        assert seen["user"]["name"] == "Kit"

        status, listed = await d.api("GET", "/api/v1/groups/tuesday/members")
        kit_id = next(m["id"] for m in listed["members"] if m["name"] == "Kit")
        started = time.monotonic()
        status, removed = await d.api("DELETE", f"/api/v1/members/{kit_id}", worker=0)
        assert status == 200 and removed["member"]["removed_ms"] is not None
        while kit.sio.connected and time.monotonic() - started < 1.0:
            await asyncio.sleep(0.01)
        assert not kit.sio.connected, "the removed member's connection is still open after 1 s"
        print(f"connection closed {(time.monotonic() - started) * 1000:.0f} ms after DELETE")
        # Before it closed, Kit's client heard why (and the facilitator sees it too).
        told = await kit.wait_for("room_event", lambda e: e["kind"] == "removed")
        assert told["user_id"] == removed["member"]["user_id"] and "organiser" in told["reason"]
        await sam.wait_for("room_event", lambda e: e["kind"] == "removed")
        # Barrier: Lee (same worker) still gets what Sam says; Kit is gone.
        after = await sam.send("tuesday", "still here, Lee?")
        await lee.wait_for("message", lambda m: m["id"] == after["id"])

        # Kit cannot come back through any worker, and cannot renew the credential.
        for url in d.urls:
            refused = Client(socketio.AsyncClient(reconnection=False))
            with pytest.raises(socketio.exceptions.ConnectionError):
                await open_client(url, kit_token, client=refused)
            (reason,) = refused.got("connect_error")
            assert "place in this group has ended" in str(reason)
        async with d.http.post(
            d.urls[1] + "/api/v1/session", headers={"Authorization": f"Bearer {kit_token}"}
        ) as resp:
            assert resp.status == 403 and (await resp.json())["ended"] is True
        # Lee renews: a fresh credential for the same place.
        async with d.http.post(
            d.urls[0] + "/api/v1/session", headers={"Authorization": f"Bearer {lee_token}"}
        ) as resp:
            renewed = await resp.json()
            assert resp.status == 200 and renewed["name"] == "Lee" and renewed["room"] == "tuesday"

        # Taking the invitation back ends Lee's place too.
        status, revoked = await d.api("DELETE", f"/api/v1/invitations/{made['invitation']['id']}")
        assert status == 200 and revoked["members_removed"] == 1
        started = time.monotonic()
        while lee.sio.connected and time.monotonic() - started < 1.0:
            await asyncio.sleep(0.01)
        assert not lee.sio.connected
        status, audit = await d.api("GET", "/api/v1/audit?room=tuesday")
        actions = [a["action"] for a in audit["audit"]]
        assert {"group_created", "invited_member", "member_removed", "invitation_revoked"} <= set(
            actions
        )
        assert not any("hello from Kit" in str(a) for a in audit["audit"])
    finally:
        for person in (kit, lee, sam):
            if person.sio.connected:
                await person.sio.disconnect()


async def test_an_expired_invitation_shows_a_page_for_someone_in_distress(
    deployment: Deployment,
) -> None:
    d = deployment
    await d.api("POST", "/api/v1/groups", GROUP)
    status, made = await d.api(
        "POST", "/api/v1/groups/tuesday/invitations", {"uses": 1, "expires_in_hours": 1}
    )
    assert status == 201
    organiser = d.apps[1][ORGANISER_KEY]
    real_clock = organiser._clock
    organiser._clock = lambda: real_clock() + 2 * 3_600_000
    try:
        async with d.http.get(d.urls[1] + "/" + made["url"].split("/", 3)[3]) as resp:
            page = await resp.text()
    finally:
        organiser._clock = real_clock
    assert resp.status == 410
    assert "This invitation has expired" in page
    assert "groups@example.org" in page  # who to contact
    assert "Samaritans" in page and "116 123" in page  # the group's crisis lines (en-GB)
    assert "<form" not in page


# -- the OpenAPI file, against the running server ---------------------------------------


def check(value: Any, schema: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    """The subset of JSON Schema the file uses: $ref, allOf, type, required, properties,
    additionalProperties false, items, enum."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        check(value, spec["components"]["schemas"][name], spec, where)
        return
    for part in schema.get("allOf", []):
        check(value, part, spec, where)
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        python = {
            "object": dict,
            "array": list,
            "string": str,
            "integer": int,
            "number": (int, float),
            "boolean": bool,
            "null": type(None),
        }
        assert any(
            isinstance(value, python[k]) and not (k == "integer" and isinstance(value, bool))
            for k in kinds
        ), f"{where}: {value!r} is not {kinds}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            assert key in value, f"{where}: {key!r} missing from {value!r}"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                check(value[key], sub, spec, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check(item, schema["items"], spec, f"{where}[{i}]")


async def test_the_openapi_file_describes_the_running_server(deployment: Deployment) -> None:
    d = deployment
    async with d.http.get(d.urls[0] + "/api/v1/openapi.json") as resp:
        assert resp.status == 200
        spec = await resp.json()
    # Every API route the app serves is in the file, and nothing else.
    served = {
        (route.method, route.resource.canonical)
        for route in d.apps[0].router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1")
        and route.method != "HEAD"
    }
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert served == documented

    status, _ = await d.api("POST", "/api/v1/groups", GROUP)
    assert status == 201
    status, made = await d.api("POST", "/api/v1/groups/tuesday/invitations", {"uses": 3})
    status, placed = await d.api("POST", "/api/v1/groups/tuesday/members", {"name": "Ash"})
    assert status == 201
    calls: list[tuple[str, str, str, Any, dict[str, str] | None]] = [
        ("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", None, None),
        ("GET", "/api/v1/groups", "/api/v1/groups", None, None),
        (
            "POST",
            "/api/v1/groups",
            "/api/v1/groups",
            {**GROUP, "room": "friday", "name": "Friday"},
            None,
        ),
        ("POST", "/api/v1/groups", "/api/v1/groups", GROUP, None),  # 409: taken
        (
            "POST",
            "/api/v1/groups",
            "/api/v1/groups",
            {"room": "x", "name": "X", "time_zone": "Mars/Base"},
            None,
        ),
        ("GET", "/api/v1/groups/{room}", "/api/v1/groups/tuesday", None, None),
        ("GET", "/api/v1/groups/{room}", "/api/v1/groups/nowhere", None, None),
        (
            "PATCH",
            "/api/v1/groups/{room}",
            "/api/v1/groups/tuesday",
            {"schedule": "Wednesdays"},
            None,
        ),
        (
            "GET",
            "/api/v1/groups/{room}/invitations",
            "/api/v1/groups/tuesday/invitations",
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/groups/{room}/invitations",
            "/api/v1/groups/tuesday/invitations",
            {"role": "facilitator"},
            None,
        ),
        (
            "POST",
            "/api/v1/groups/{room}/invitations",
            "/api/v1/groups/tuesday/invitations",
            {"uses": 0},
            None,
        ),
        ("GET", "/api/v1/groups/{room}/members", "/api/v1/groups/tuesday/members", None, None),
        (
            "POST",
            "/api/v1/groups/{room}/members",
            "/api/v1/groups/tuesday/members",
            {"name": "Bo"},
            None,
        ),
        (
            "POST",
            "/api/v1/session",
            "/api/v1/session",
            None,
            {"Authorization": f"Bearer {placed['token']}"},
        ),
        ("POST", "/api/v1/session", "/api/v1/session", None, {"Authorization": "Bearer nonsense"}),
        ("GET", "/api/v1/audit", "/api/v1/audit?limit=5", None, None),
        ("GET", "/api/v1/audit", "/api/v1/audit?limit=0", None, None),
        (
            "POST",
            "/api/v1/members/{id}/forget",
            f"/api/v1/members/{placed['member']['id']}/forget",
            None,
            None,
        ),
        ("DELETE", "/api/v1/members/{id}", f"/api/v1/members/{placed['member']['id']}", None, None),
        ("DELETE", "/api/v1/members/{id}", f"/api/v1/members/{placed['member']['id']}", None, None),
        (
            "POST",
            "/api/v1/members/{id}/forget",
            f"/api/v1/members/{placed['member']['id']}/forget",
            None,
            None,
        ),
        (
            "POST",
            "/api/v1/session",
            "/api/v1/session",
            None,
            {"Authorization": f"Bearer {placed['token']}"},
        ),
        (
            "DELETE",
            "/api/v1/invitations/{id}",
            f"/api/v1/invitations/{made['invitation']['id']}",
            None,
            None,
        ),
        ("DELETE", "/api/v1/invitations/{id}", "/api/v1/invitations/inv-none", None, None),
        ("GET", "/api/v1/groups", "/api/v1/groups", None, {"Authorization": "Bearer wrong"}),
    ]
    seen_statuses: set[tuple[str, str, int]] = set()
    for method, template, path, body, headers in calls:
        sent = headers if headers is not None else {"Authorization": f"Bearer {API_KEY}"}
        async with d.http.request(method, d.urls[0] + path, json=body, headers=sent) as resp:
            answer = await resp.json()
            status = resp.status
        operation = spec["paths"][template][method.lower()]
        assert str(status) in operation["responses"], f"{method} {path}: {status} undocumented"
        response = operation["responses"][str(status)]
        check(
            answer,
            response["content"]["application/json"]["schema"],
            spec,
            f"{method} {path} {status}",
        )
        seen_statuses.add((method, template, status))
    assert ("DELETE", "/api/v1/members/{id}", 404) in seen_statuses
    assert ("POST", "/api/v1/session", 403) in seen_statuses
    assert ("POST", "/api/v1/members/{id}/forget", 404) in seen_statuses  # not removed yet
    assert ("POST", "/api/v1/members/{id}/forget", 200) in seen_statuses
    status, listed = await d.api("GET", "/api/v1/groups/tuesday/members")
    ash = next(m for m in listed["members"] if m["id"] == placed["member"]["id"])
    assert ash["name"] == "(name forgotten)" and ash["removed_ms"] is not None


async def test_the_api_wants_its_key_and_limits_a_flood(deployment: Deployment) -> None:
    d = deployment
    statuses = []
    for _ in range(80):
        async with d.http.get(
            d.urls[0] + "/api/v1/groups", headers={"Authorization": "Bearer guess"}
        ) as resp:
            statuses.append(resp.status)
            if resp.status == 429:
                assert int(resp.headers["Retry-After"]) >= 1
                break
    assert statuses[0] == 401 and statuses[-1] == 429


async def test_a_groups_policy_and_crisis_lines_are_what_its_members_get(
    deployment: Deployment,
) -> None:
    """The organiser's choices reach the chat: the youth policy masks swearing in its
    group only, and a member in crisis is given the crisis lines of the group's country —
    on the other worker too, once it has read the change."""
    d = deployment
    youth = {**GROUP, "room": "youth-au", "policy": "youth", "crisis_locale": "en-AU"}
    status, _ = await d.api("POST", "/api/v1/groups", youth)
    assert status == 201
    status, _ = await d.api("POST", "/api/v1/groups", GROUP)  # default policy, en-GB
    assert status == 201
    clients: list[Client] = []
    try:
        for room, name in (("youth-au", "Ari"), ("tuesday", "Bo")):
            status, placed = await d.api(
                "POST", f"/api/v1/groups/{room}/members", {"name": name}, worker=0
            )
            assert status == 201
            client = await open_client(d.urls[1], placed["token"])
            clients.append(client)
        ari, bo = clients
        # Worker 1 learns of groups made on worker 0 from the store (at most REFRESH_S).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert (await ari.call("join", {"room": "youth-au"}))["ok"]
            view = await ari.call("space", {"room": "youth-au"})
            if any("13 11 14" in line["text"] for line in view.get("crisis_lines", [])):
                break
            await ari.call("leave", {"room": "youth-au"})
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("the group's crisis lines never reached the other worker")
        assert (await bo.call("join", {"room": "tuesday"}))["ok"]

        masked = await ari.send("youth-au", "this fucking flare again")
        assert masked["ok"]
        seen = await ari.wait_for("message", lambda m: m["id"] == masked["id"])
        assert "fucking" not in seen["text"]
        kept = await bo.send("tuesday", "this fucking flare again")
        assert kept["ok"]
        assert "fucking" in (await bo.wait_for("message", lambda m: m["id"] == kept["id"]))["text"]

        crisis = await ari.send("youth-au", "honestly i want to die, i cant do this anymore")
        assert crisis["ok"]
        note = await ari.wait_for("notice", lambda n: n["kind"].startswith("crisis"))
        assert "13 11 14" in note["text"], note["text"]
    finally:
        for client in clients:
            if client.sio.connected:
                await client.sio.disconnect()


async def test_a_session_starts_with_the_agreement_the_organiser_wrote(
    deployment: Deployment,
) -> None:
    d = deployment
    status, _ = await d.api("POST", "/api/v1/groups", GROUP)
    assert status == 201, status
    sam = await open_client(d.urls[1], make_token("sam", {"tuesday": "facilitator"}))
    try:
        assert (await sam.call("join", {"room": "tuesday"}))["ok"]
        assert (await sam.call("session_start", {"room": "tuesday"}))["ok"]
        started = await sam.wait_for("room_event", lambda e: e["kind"] == "session_started")
        assert started["meeting"]["guidelines"] == GROUP["agreement"]
    finally:
        await sam.sio.disconnect()
