"""The command line as an operator uses it: real subprocesses of `python -m chatserver`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from chatserver.auth import decode_token
from tests.processes import output_of, stop_process

# The command line (tokens, links, settings, a demo run answering /healthz): no websocket
# is opened, so CI runs it once.
pytestmark = pytest.mark.transport_independent

ROOT = Path(__file__).resolve().parents[2]
SECRET = "cli-test-secret-" + "z" * 24  # 40 characters
ALEX_TOKEN = ("token", "--user", "u1", "--name", "Alex", "--room", "r1=member")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUDDLE_") and k != "REDIS_URL"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    # Each command gets a data directory of its own: no demo secret left by another run.
    env["HUDDLE_DATA_DIR"] = tempfile.mkdtemp(prefix="huddle-cli-")
    env.update(extra)
    return env


def huddle(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatserver", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,  # a loaded machine imports slowly
        check=False,
    )


def test_token_prints_a_token_the_server_accepts() -> None:
    before = int(time.time())
    result = huddle(
        *ALEX_TOKEN,
        "--ttl",
        "60",
        env=clean_env(HUDDLE_SECRET=SECRET),
    )
    assert result.returncode == 0, result.stderr
    tok = result.stdout.strip()
    assert "\n" not in tok
    claims = decode_token(tok, SECRET, int(time.time()))
    assert claims.user_id == "u1"
    assert claims.name == "Alex"
    assert dict(claims.rooms) == {"r1": "member"}
    assert before + 60 <= claims.expires_at <= int(time.time()) + 60


def test_token_with_several_rooms() -> None:
    result = huddle(
        "token",
        "--user",
        "f1",
        "--name",
        "Sam",
        "--room",
        "r1=facilitator",
        "--room",
        "r2=member",
        env=clean_env(HUDDLE_SECRET=SECRET),
    )
    assert result.returncode == 0, result.stderr
    claims = decode_token(result.stdout.strip(), SECRET, int(time.time()))
    assert dict(claims.rooms) == {"r1": "facilitator", "r2": "member"}
    assert claims.expires_at - int(time.time()) in range(3590, 3601)


@pytest.mark.parametrize("room", ["r1", "r1=admin", "=member", "r1=", "r1:member"])
def test_token_with_a_bad_room_value_exits_with_a_clear_message(room: str) -> None:
    result = huddle(
        "token",
        "--user",
        "u1",
        "--name",
        "Alex",
        "--room",
        room,
        env=clean_env(HUDDLE_SECRET=SECRET),
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert "expected ROOM=member or ROOM=facilitator" in result.stderr
    assert repr(room) in result.stderr


def test_token_without_a_secret_exits_2_and_says_so() -> None:
    result = huddle(*ALEX_TOKEN, env=clean_env())
    assert result.returncode == 2
    assert result.stdout == ""
    assert "HUDDLE_SECRET must be set" in result.stderr


def test_token_with_a_non_positive_ttl_exits_2() -> None:
    result = huddle(
        *ALEX_TOKEN,
        "--ttl",
        "0",
        env=clean_env(HUDDLE_SECRET=SECRET),
    )
    assert result.returncode == 2
    assert "--ttl must be positive" in result.stderr


def test_serve_with_a_bad_port_variable_is_a_configuration_error() -> None:
    result = huddle("serve", env=clean_env(HUDDLE_PORT="abc"))
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert "HUDDLE_PORT" in result.stderr


def test_an_unknown_variable_stops_the_token_command_too() -> None:
    result = huddle(
        *ALEX_TOKEN,
        env=clean_env(HUDDLE_SECRET=SECRET, HUDDLE_PROT="9000"),
    )
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert "HUDDLE_PROT" in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def demo_server() -> Iterator[tuple[int, list[str]]]:
    port = free_port()
    argv = [sys.executable, "-m", "chatserver", "serve", "--port", str(port)]
    with output_of(argv, env=clean_env(), cwd=ROOT) as lines:
        yield port, lines


def wait_for_health(port: int, lines: list[str], timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                status: int = resp.status
                return status
        except OSError as exc:
            last_error = exc
            time.sleep(0.1)
    raise AssertionError(f"/healthz never answered ({last_error}); output: {''.join(lines)}")


def wait_for_lines(lines: list[str], pattern: str, count: int, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in list(lines) if re.search(pattern, line)]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {count} lines matching {pattern!r}; output: {''.join(lines)}")


def test_serve_without_a_secret_prints_demo_links_and_answers_healthz(
    demo_server: tuple[int, list[str]],
) -> None:
    port, lines = demo_server
    assert wait_for_health(port, lines) == 200
    links = wait_for_lines(lines, r"#room=demo&token=", 2)
    assert len(links) == 2
    by_role = {line.split()[0]: line.split()[1] for line in links}
    assert set(by_role) == {"facilitator", "member"}
    for role, url in by_role.items():
        assert url.startswith(f"http://127.0.0.1:{port}/#room=demo&token=")
        tok = url.split("&token=", 1)[1]
        claims = jwt.decode(tok, options={"verify_signature": False})
        assert claims["rooms"] == {"demo": role}
        assert claims["exp"] > time.time() + 3600
    assert any("embedded backend (rooms kept in" in line for line in lines)


def test_the_event_loop_setting_picks_the_loop() -> None:
    import asyncio

    import uvloop

    from chatserver.cli import new_event_loop
    from chatserver.config import ConfigError, Settings

    assert Settings.from_env({}).event_loop == "uvloop"
    for kind, expected in (("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)):
        loop = new_event_loop(Settings.from_env({"HUDDLE_EVENT_LOOP": kind}).event_loop)
        try:
            assert isinstance(loop, expected)
        finally:
            loop.close()
    with pytest.raises(ConfigError, match="HUDDLE_EVENT_LOOP"):
        Settings.from_env({"HUDDLE_EVENT_LOOP": "trio"})


def link_claims(url: str, secret: str, port: int = 8080) -> tuple[str, dict[str, object]]:
    match = re.fullmatch(rf"http://127\.0\.0\.1:{port}/#room=([\w.:-]+)&token=([\w.-]+)", url)
    assert match, url
    return match[1], jwt.decode(match[2], secret, algorithms=["HS256"])


def test_link_prints_the_address_a_member_opens() -> None:
    result = huddle(
        "link", "--name", "Jo", "--room", "pain-tuesday", env=clean_env(HUDDLE_SECRET=SECRET)
    )
    assert result.returncode == 0, result.stderr
    room, claims = link_claims(result.stdout.strip(), SECRET)
    assert room == "pain-tuesday"
    assert claims["rooms"] == {"pain-tuesday": "member"} and claims["name"] == "Jo"
    assert "Jo (member" in result.stderr and "12 h" in result.stderr


def test_two_links_for_one_name_are_two_people_unless_the_user_is_given() -> None:
    env = clean_env(HUDDLE_SECRET=SECRET)
    first, second = (huddle("link", "--name", "Jo", env=env) for _ in range(2))
    subs = {link_claims(r.stdout.strip(), SECRET)[1]["sub"] for r in (first, second)}
    assert len(subs) == 2
    again = huddle("link", "--name", "Jo", "--user", "jo-1", "--role", "facilitator", env=env)
    room, claims = link_claims(again.stdout.strip(), SECRET)
    assert room == "demo" and claims["sub"] == "jo-1"
    assert claims["rooms"] == {"demo": "facilitator"}


def test_link_uses_the_base_address_people_reach() -> None:
    result = huddle(
        "link",
        "--name",
        "Jo",
        "--base",
        "https://chat.example.org/",
        env=clean_env(HUDDLE_SECRET=SECRET),
    )
    assert result.stdout.startswith("https://chat.example.org/#room=demo&token=")


def test_link_refuses_a_bad_room_with_a_clear_message() -> None:
    result = huddle(
        "link", "--name", "Jo", "--room", "no spaces", env=clean_env(HUDDLE_SECRET=SECRET)
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "room id 'no spaces'" in result.stderr


def test_link_without_any_secret_says_how_to_get_one() -> None:
    result = huddle("link", "--name", "Jo", env=clean_env())
    assert result.returncode == 2 and result.stdout == ""
    assert "HUDDLE_SECRET must be set" in result.stderr and "demo secret" in result.stderr


def test_links_made_beside_a_demo_run_work_on_it(demo_server: tuple[int, list[str]]) -> None:
    port, lines = demo_server
    assert wait_for_health(port, lines) == 200
    data_dir = next(line for line in lines if "demo secret kept in" in line)
    secret_file = Path(data_dir.split("kept in ", 1)[1].split(" ", 1)[0])
    assert secret_file.stat().st_mode & 0o077 == 0, "the demo secret is readable by others"
    secret = secret_file.read_text().strip()
    env = clean_env(HUDDLE_DATA_DIR=str(secret_file.parent), HUDDLE_PORT=str(port))
    made = huddle("link", "--name", "Jo", env=env)
    assert made.returncode == 0, made.stderr
    assert link_claims(made.stdout.strip(), secret, port)[1]["name"] == "Jo"


def run_until_links(port: int, **env: str) -> list[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chatserver",
            "serve",
            "--port",
            str(port),
            *env.pop("ARGS", "").split(),
        ],
        env=clean_env(**env),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        for line in proc.stdout:
            lines.append(line)
            if "more links for people" in line or time.monotonic() > deadline:
                break
    finally:
        stop_process(proc, grace_s=15)
    return lines


def test_a_local_run_with_a_secret_prints_links_signed_with_it() -> None:
    port = free_port()
    lines = run_until_links(port, HUDDLE_SECRET=SECRET)
    links = [line.split()[1] for line in lines if "#room=demo&token=" in line]
    assert len(links) == 2, lines
    for url in links:
        link_claims(url, SECRET, port)  # verifies the signature with HUDDLE_SECRET
    assert not any("demo secret" in line for line in lines)
    assert any("./scripts/huddle link" in line for line in lines)


def test_a_public_run_prints_no_credentials_only_how_to_make_links() -> None:
    port = free_port()
    lines = run_until_links(port, HUDDLE_SECRET=SECRET, ARGS="--host 0.0.0.0")
    assert not any("token=" in line for line in lines), lines
    assert any("./scripts/huddle link" in line for line in lines)
