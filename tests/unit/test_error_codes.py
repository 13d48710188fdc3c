"""Error codes live in one place (rooms/codes.py), every one is sent by something, and
the web client has plain words for every one, so a member never reads a bare code."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from chatserver import errors
from moderation.verdict import BLOCK_CODES
from rooms.codes import CODES, TEXT
from rooms.policy import POST_RULES, check_moderate, check_target, refusal_for
from tests.processes import require_program

ROOT = Path(__file__).resolve().parents[2]
SERVER_SOURCES = [
    p
    for package in ("chatserver", "rooms", "moderation")
    for p in sorted((ROOT / package).rglob("*.py"))
    if p.relative_to(ROOT).as_posix() not in ("rooms/codes.py", "chatserver/errors.py")
]


def test_every_code_a_rule_or_stage_refuses_with_is_registered() -> None:
    assert BLOCK_CODES <= CODES
    refusals = [refusal_for(rule, 1000) for rule in POST_RULES]
    refusals += [check_moderate("member"), check_target("mute", "a", "a", frozenset())]
    assert {r.code for r in refusals if r is not None} <= CODES
    assert {getattr(errors, name) for name in errors.__all__ if name.isupper()} <= CODES


def test_every_registered_code_is_sent_by_something() -> None:
    """No registered code (or constant) nobody sends: each appears in the server's code,
    as its constant or as the string a moderation stage blocks with."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in SERVER_SOURCES)
    unused = [
        code
        for code in sorted(CODES)
        if f'"{code}"' not in source and not re.search(rf"\b{code.upper()}\b", source)
    ]
    assert unused == []


def test_every_code_has_plain_words() -> None:
    for text in TEXT.values():
        # Sentences for people: no identifiers (a bare "room_locked" reads as a bug).
        assert text.strip() and "_" not in text and text[0].isupper() and text.endswith(".")


def web_error_text() -> dict[str, str]:
    """ERROR_TEXT from whichever web module defines it (the web client is modular; this
    follows the definition wherever it lives), as node imports it."""
    node = require_program("node", "HUDDLE_NO_SKIPS")
    web = ROOT / "web"
    defining = [
        p
        for p in sorted(web.rglob("*.js")) + sorted(web.rglob("*.mjs"))
        if "node_modules" not in p.parts
        and "test" not in p.parts
        and "export const ERROR_TEXT" in p.read_text(encoding="utf-8")
    ]
    assert len(defining) == 1, f"ERROR_TEXT should be defined once in web/, found {defining}"
    script = (
        f"import {{ ERROR_TEXT }} from {json.dumps(defining[0].as_uri())};"
        "process.stdout.write(JSON.stringify(ERROR_TEXT));"
    )
    out = subprocess.run(
        [node, "--input-type=module", "-e", script],
        capture_output=True,
        check=True,
        timeout=30,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    texts: dict[str, str] = json.loads(out.stdout)
    return texts


def test_the_web_client_has_plain_words_for_every_code() -> None:
    texts = web_error_text()
    assert set(texts) == set(CODES), "web ERROR_TEXT and rooms/codes.py list different codes"
    for code, text in texts.items():
        assert text.strip() and text != code, code
