"""The command line as an operator uses it: real subprocesses of `python -m chatserver`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from chatserver.auth import decode_token
from tests.processes import stop_process

ROOT = Path(__file__).resolve().parent.parent
SECRET = "cli-test-secret-" + "z" * 24  # 40 characters
ALEX_TOKEN = ("token", "--user", "u1", "--name", "Alex", "--room", "r1=member")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUDDLE_") and k != "REDIS_URL"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def huddle(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatserver", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
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
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatserver", "serve", "--port", str(port)],
        env=clean_env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield port, lines
    finally:
        stop_process(proc, grace_s=15)
        reader.join(timeout=5)


def wait_for_health(port: int, lines: list[str], timeout: float = 15) -> int:
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


def wait_for_lines(lines: list[str], pattern: str, count: int, timeout: float = 10) -> list[str]:
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
    assert any("memory backend" in line for line in lines)


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
