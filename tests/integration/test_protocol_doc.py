"""docs/protocol.md is what clients are written from: every request a running server
answers has its row there, and every room event kind the log holds is named in the
``room_event`` row (issue 14: "docs/protocol.md lists every new event and ack")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatserver.app import SIO_KEY
from rooms.entries import EVENT_KINDS
from tests.conftest import Server

pytestmark = pytest.mark.transport_independent

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
NOT_REQUESTS = {"connect", "disconnect", "*"}


def documented_rows() -> set[str]:
    """The names in the first cell of the doc's table rows ("| `a` |", "| `a` / `b` |")."""
    names: set[str] = set()
    for line in DOC.splitlines():
        row = re.match(r"^\| `([a-z_]+)`(?: / `([a-z_]+)`)?", line)
        if row:
            names.update(name for name in row.groups() if name)
    return names


async def test_every_request_the_server_answers_has_its_row(server: Server) -> None:
    served = set(server.app[SIO_KEY].handlers["/"]) - NOT_REQUESTS
    assert {"join", "session_start", "round_start", "react", "need_support"} <= served
    assert sorted(served - documented_rows()) == []


def test_every_room_event_kind_is_named_in_the_room_event_row() -> None:
    row = next(line for line in DOC.splitlines() if line.startswith("| `room_event` |"))
    missing = [kind for kind in sorted(EVENT_KINDS) if not re.search(rf"\b{kind}\b", row)]
    assert missing == []
