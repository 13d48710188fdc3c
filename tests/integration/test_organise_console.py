"""The console's safety: no way in without the deployment's key or the passphrase chosen
on the one-time setup link, the passphrase kept only as a hash, forms refused without
their CSRF token or from another site, sign-in attempts limited, and a member's bad name
answered on the same form without using up the invitation."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from chatserver.app import SETUP_LINK_KEY
from tests.conftest import Server, make_settings, start_server
from tests.integration.test_cli import clean_env, huddle

pytestmark = pytest.mark.transport_independent

PASSPHRASE = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def first_run() -> AsyncIterator[tuple[Server, Path]]:
    settings = make_settings()
    server, runner = await start_server(settings)
    try:
        yield server, Path(settings.data_dir)
    finally:
        await runner.cleanup()


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_the_first_run_setup_link_works_once_and_keeps_only_a_hash(
    first_run: tuple[Server, Path],
) -> None:
    server, data_dir = first_run
    setup_path = server.app[SETUP_LINK_KEY]
    async with session() as http:
        async with http.get(server.url + "/organise") as resp:
            page = await resp.text()
            assert "setup link" in page and "<form" in page  # no default password to try
        async with http.post(
            server.url + setup_path, data={"passphrase": "short", "again": "short"}
        ) as resp:
            assert resp.status == 400 and "at least 12" in await resp.text()
        form = {"passphrase": PASSPHRASE, "again": PASSPHRASE}
        async with http.post(server.url + setup_path, data=form) as resp:
            assert resp.status == 200 and "Your groups" in await resp.text()
    async with session() as http:
        async with http.get(server.url + setup_path) as resp:
            assert resp.status == 404  # used: nobody else can choose the passphrase now
        async with http.post(server.url + "/organise/sign-in", data={"key": PASSPHRASE}) as resp:
            assert resp.status == 200 and "Your groups" in await resp.text()
    stored = b"".join(path.read_bytes() for path in data_dir.glob("organise.sqlite3*"))
    assert PASSPHRASE.encode() not in stored and b"scrypt$" in stored


async def test_console_forms_need_their_csrf_token_and_this_site(
    first_run: tuple[Server, Path],
) -> None:
    server, _ = first_run
    form = {"passphrase": PASSPHRASE, "again": PASSPHRASE}
    async with session() as http:
        async with http.post(server.url + server.app[SETUP_LINK_KEY], data=form) as resp:
            csrf_found = CSRF.search(await resp.text())
        assert csrf_found is not None
        csrf = csrf_found.group(1)
        group = {"room": "thursday", "name": "Thursday circle", "time_zone": "Europe/London"}
        async with http.post(server.url + "/organise/groups", data=group) as resp:
            assert resp.status == 403  # no token
        async with http.post(
            server.url + "/organise/groups", data={**group, "csrf": "forged"}
        ) as resp:
            assert resp.status == 403
        async with http.post(
            server.url + "/organise/groups",
            data={**group, "csrf": csrf},
            headers={"Origin": "https://evil.example"},
        ) as resp:
            assert resp.status == 403
        async with http.get(server.url + "/organise") as resp:
            assert "Thursday circle" not in await resp.text()
        async with http.post(server.url + "/organise/groups", data={**group, "csrf": csrf}) as resp:
            page = await resp.text()
            assert resp.status == 200 and "<h1>Thursday circle</h1>" in page
        bad = {"role": "member", "uses": "many", "hours": "72", "label": "", "csrf": csrf}
        async with http.post(
            server.url + "/organise/groups/thursday/invitations", data=bad
        ) as resp:
            assert resp.status == 400 and "whole number" in await resp.text()
        made = {**bad, "uses": "1"}
        async with http.post(
            server.url + "/organise/groups/thursday/invitations", data=made
        ) as resp:
            link = re.search(r'value="([^"]+)" aria-label="the new link"', await resp.text())
        assert link is not None
    async with aiohttp.ClientSession() as member:
        too_long = {"name": "x" * 65}
        async with member.post(link.group(1), data=too_long) as resp:
            page = await resp.text()
            assert resp.status == 400 and "Please choose a name" in page and "<form" in page
        async with member.post(link.group(1), data={"name": "Kit"}) as resp:
            assert resp.status == 200 and "Welcome, Kit" in await resp.text()
        async with member.post(link.group(1), data={"name": "Lee"}) as resp:
            assert resp.status == 410 and "already been used" in await resp.text()


async def test_sign_in_attempts_are_limited(first_run: tuple[Server, Path]) -> None:
    server, _ = first_run
    statuses = []
    async with aiohttp.ClientSession() as http:
        for _ in range(8):
            async with http.post(
                server.url + "/organise/sign-in", data={"key": "guess " * 3}
            ) as resp:
                statuses.append(resp.status)
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429


async def test_a_sign_in_that_ran_out_has_its_own_page(first_run: tuple[Server, Path]) -> None:
    """Not "your place has ended": someone who was away too long is told so, kindly."""
    server, _ = first_run
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url + "/ended/tuesday?why=expired") as resp:
            page = await resp.text()
        assert "Your sign-in has expired" in page and "place may still be there" in page
        async with http.get(server.url + "/ended/tuesday") as resp:
            assert "Your place in this group has ended" in await resp.text()


async def test_a_lost_passphrase_is_replaced_through_a_setup_link_from_the_shell(
    first_run: tuple[Server, Path],
) -> None:
    server, data_dir = first_run
    form = {"passphrase": PASSPHRASE, "again": PASSPHRASE}
    url = server.url + server.app[SETUP_LINK_KEY]
    async with session() as http, http.post(url, data=form) as resp:
        assert resp.status == 200
    made = await asyncio.to_thread(
        huddle, "setup-link", "--base", server.url, env=clean_env(HUDDLE_DATA_DIR=str(data_dir))
    )
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip()
    assert link.startswith(server.url + "/organise/setup/") and "works once" in made.stderr
    replaced = "a brand new passphrase"
    chosen = {"passphrase": replaced, "again": replaced}
    async with session() as http, http.post(link, data=chosen) as resp:
        assert resp.status == 200 and "Your groups" in await resp.text()
    async with session() as http:
        for key, status in ((PASSPHRASE, 401), (replaced, 200)):
            async with http.post(server.url + "/organise/sign-in", data={"key": key}) as resp:
                assert resp.status == status
                page = await resp.text()
    # The console's front page shows the organising across groups, sign-ins included.
    assert page.count("passphrase_set") == 2 and "signed_in" in page
