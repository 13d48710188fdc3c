"""A kill -9 of the embedded server loses no acknowledged message and no open alert.

A real server process (``python -m chatserver serve``, the embedded default: the SQLite
room store in HUDDLE_DATA_DIR) and real Socket.IO clients. Members send messages from
several connections at once; the server is killed with SIGKILL while some are still in
flight; on restart every message that was acknowledged is in the room's history under
the offset its ack gave, the room's log is the same one (a client's position recovers),
and the crisis alert, the held message and the mute set before the kill are still there.
(That a dismissal or a review stays made across a reopen is
tests/contract/test_sqlite_backend.py's, without the cost of another start.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SECRET, Client, make_token, open_client
from tests.processes import stop_process

pytestmark = pytest.mark.transport_independent  # it proves the store, not the frames

ROOT = Path(__file__).resolve().parent.parent.parent
ROOM = "circle"
CRISIS = "honestly i want to die, i cant do this anymore"
HELD = "selling my leftover oxycodone, whatsapp me on 07700 900123"
SENDERS = ("alex", "dan", "eve", "fay")
PER_SENDER = 60
KILL_AFTER_ACKS = 60


class EmbeddedServer:
    """One embedded server process on one port and data directory, killable and restartable."""

    def __init__(self, data_dir: str) -> None:
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUDDLE_", "REDIS_"))}
        self.env = {
            **env,
            "HUDDLE_SECRET": SECRET,
            "HUDDLE_DATA_DIR": data_dir,
            "HUDDLE_HISTORY_PAGE": "1000",
            # Many messages from one member in a moment: not what this test is about.
            "HUDDLE_RATE_BURST": "1000",
            "HUDDLE_RATE_REFILL_S": "0.001",
            "HUDDLE_LOG_LEVEL": "warning",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(data_dir) / "server.log"

    def start(self) -> None:
        argv = [sys.executable, "-m", "chatserver", "serve", "--port", str(self.port)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 60  # a loaded 2-core machine starts it slowly
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace_s=10)


@pytest.fixture
def server() -> Any:
    srv = EmbeddedServer(tempfile.mkdtemp(prefix="huddle-store-"))
    try:
        srv.start()  # stopped below even when it never became ready
        yield srv
    finally:
        srv.stop()


async def joined(srv: EmbeddedServer, user: str, role: str, **join: Any) -> tuple[Client, Any]:
    client = await open_client(srv.url, make_token(user, {ROOM: role}))
    ack = await client.call("join", {"room": ROOM, **join})
    assert ack["ok"], ack
    return client, ack


async def control(client: Client, event: str, **payload: Any) -> dict[str, Any]:
    ack: dict[str, Any] = await client.call(event, {"room": ROOM, **payload})
    return ack


async def test_a_kill_9_loses_no_acked_message_and_no_open_alert(server: EmbeddedServer) -> None:
    sam, first = await joined(server, "sam", "facilitator")
    epoch = first["room"]["epoch"]
    bea, _ = await joined(server, "bea", "member")
    assert (await control(sam, "mute", user_id="bea", reason="a pause"))["ok"]
    senders = {name: (await joined(server, name, "member"))[0] for name in SENDERS}
    crisis = await senders["alex"].send(ROOM, CRISIS)
    assert crisis["ok"] and not crisis.get("held")
    held = await senders["dan"].send(ROOM, HELD)
    assert held["ok"] and held["held"] is True
    alert = await sam.wait_for("alert", lambda a: a["kind"] == "crisis")
    held_alert = await sam.wait_for("alert", lambda a: a["kind"] == "held")

    acked: dict[str, int] = {}  # client_id -> the offset its ack gave
    enough = asyncio.Event()

    async def send_all(name: str) -> None:
        for i in range(PER_SENDER):
            client_id = str(uuid.uuid4())
            try:
                ack = await senders[name].send(ROOM, f"{name}: line {i} of the burst", client_id)
            except Exception:
                return  # the server is gone: this one was never acknowledged
            if not ack.get("ok"):
                return
            acked[client_id] = ack["offset"]
            if len(acked) >= KILL_AFTER_ACKS:
                enough.set()

    burst = [asyncio.create_task(send_all(name)) for name in SENDERS]
    await asyncio.wait_for(enough.wait(), 30)
    server.kill()  # while messages are still in flight
    await asyncio.gather(*burst)
    assert KILL_AFTER_ACKS <= len(acked) < len(SENDERS) * PER_SENDER, len(acked)
    last_acked = max(acked.values())
    for client in (sam, bea, *senders.values()):
        await client.sio.disconnect()

    server.start()
    # The same log: a member's position recovers, with nothing acknowledged missing.
    alex, back = await joined(server, "alex", "member", since={"offset": 1, "epoch": epoch})
    assert back["recovered"] is True and "history" not in back
    assert back["room"]["epoch"] == epoch and back["room"]["offset"] >= last_acked
    logged = {e.get("client_id"): e["offset"] for e in back["entries"]}
    assert {cid: logged.get(cid) for cid in acked} == acked
    assert crisis["id"] in {e.get("id") for e in back["entries"]}

    sam, seen = await joined(server, "sam", "facilitator")
    assert [a["id"] for a in seen["alerts"]] == [alert["id"]]
    assert seen["alerts"][0]["entry"]["id"] == crisis["id"]
    assert [h["id"] for h in seen["held"]] == [held_alert["entry"]["id"]]
    assert [m["user_id"] for m in seen["mutes"]] == ["bea"]
    bea, _ = await joined(server, "bea", "member")
    refused = await bea.send(ROOM, "am I still muted?")
    assert refused["error"]["code"] == "muted"
    # The room goes on from where it was: the next offset follows the last one kept.
    after = await alex.send(ROOM, "back again")
    assert after["ok"] and after["offset"] == back["room"]["offset"] + 1

    for client in (alex, sam, bea):
        await client.sio.disconnect()
    assert (Path(server.env["HUDDLE_DATA_DIR"]) / "rooms.sqlite3").exists()
