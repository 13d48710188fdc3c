"""The sequence scorer counts what facilitators would see (moderation/evaluate_sequences.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moderation import default_pipeline
from moderation.evaluate_sequences import figures, main, parse

pytestmark = pytest.mark.transport_independent


def write(path: Path, items: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n", encoding="utf-8")
    return path


def item(messages: list[str], minutes: list[float], at_risk: bool) -> dict[str, object]:
    return {"messages": messages, "minutes": minutes, "at_risk": at_risk, "family": "f"}


def test_an_alert_anywhere_counts_and_ordinary_talk_does_not(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.jsonl",
        [
            item(["rough week", "honestly i just want to die tonight"], [0, 2], True),
            item(["hi all", "pain is 6/10 today", "see you next week"], [0, 20, 55], False),
        ],
    )
    result = figures(parse(path), default_pipeline(learned=False))
    assert result["at-risk sequences given a priority crisis alert"] == {
        "hits": 1,
        "total": 1,
        "value": 1.0,
    }
    assert result["ordinary sequences given a priority crisis alert"] == {
        "hits": 0,
        "total": 1,
        "value": 0.0,
    }


def test_a_malformed_sequence_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", [item(["a", "b"], [0], False)])
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        parse(path)
    backwards = write(tmp_path / "back.jsonl", [item(["a", "b"], [5, 1], False)])
    with pytest.raises(ValueError, match="backwards"):
        parse(backwards)


def test_the_command_prints_aggregates_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "a sentence nobody should see printed"
    path = write(tmp_path / "s.jsonl", [item([secret], [0], False)])
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 sequences" in out and secret not in out
