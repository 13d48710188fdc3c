"""Score the crisis stage's reading of a member's recent messages on labelled sequences.

    .venv/bin/python -m moderation.evaluate_sequences FILE.jsonl [FILE ...] [--json]

A command-line tool (it reads files; the pipeline never imports it). Each line of a file
is one member's consecutive messages in a meeting, with when each was sent:

    {"messages": ["...", "..."], "minutes": [0, 4], "at_risk": true, "family": "...",
     "writer": "...", "batch": "..."}

Every sequence goes through one `default_pipeline()` as its own member in its own room,
message by message at the times given, each accepted as the chat service accepts it.
What members and facilitators would notice is counted:

- at-risk sequences given a priority crisis alert on any of their messages (recall), and
  how many of those only the context rule caught (`crisis.context`: no single message
  was flagged alone);
- sequences that are not at risk given a priority crisis alert anywhere (false alerts),
  and how many of those came from the context rule.

Only aggregate figures are printed: the held-out batches' misses are nobody's to read.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from moderation.context import MessageContext
from moderation.pipeline import Pipeline, default_pipeline
from moderation.policy import ModerationPolicy

CONTEXT_RULE = "crisis.context"


@dataclass(frozen=True, slots=True)
class MessageSequence:
    messages: tuple[str, ...]
    minutes: tuple[float, ...]
    at_risk: bool
    family: str


@dataclass(frozen=True, slots=True)
class Alerts:
    """The priority crisis alerts one sequence raised."""

    priority: bool  # any message
    context_only: bool  # only the context rule raised one


def parse(path: Path) -> list[MessageSequence]:
    found: list[MessageSequence] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        messages = tuple(str(m) for m in item["messages"])
        minutes = tuple(float(m) for m in item["minutes"])
        if not messages or len(messages) != len(minutes):
            raise ValueError(f"{path}:{number}: messages and minutes differ in length")
        if any(b < a for a, b in itertools.pairwise(minutes)):
            raise ValueError(f"{path}:{number}: minutes go backwards")
        found.append(MessageSequence(messages, minutes, bool(item["at_risk"]), item["family"]))
    return found


def run(sequence: MessageSequence, number: int, pipeline: Pipeline) -> Alerts:
    policy = ModerationPolicy()
    # Each sequence an hour after the last: rate and duplicate memory never carry over.
    start = 1_800_000_000.0 + number * 3600.0
    member, room = f"member-{number}", f"room-{number}"
    priority = context_only = False
    for text, minute in zip(sequence.messages, sequence.minutes, strict=True):
        ctx = MessageContext(room, member, "member", text, start + minute * 60.0, policy)
        outcome = pipeline.run(ctx)
        pipeline.accept(outcome)
        rules = [v.rule for v in outcome.verdicts if v.alert == "crisis" and v.priority]
        if rules:
            if not priority:
                context_only = rules == [CONTEXT_RULE]
            priority = True
    return Alerts(priority, context_only)


def figures(sequences: Sequence[MessageSequence], pipeline: Pipeline) -> dict[str, object]:
    results = [(s, run(s, n, pipeline)) for n, s in enumerate(sequences)]
    risky = [a for s, a in results if s.at_risk]
    calm = [a for s, a in results if not s.at_risk]

    def rate(hits: int, total: int) -> dict[str, object]:
        return {"hits": hits, "total": total, "value": round(hits / total, 3) if total else None}

    return {
        "at-risk sequences given a priority crisis alert": rate(
            sum(a.priority for a in risky), len(risky)
        ),
        "  of which only the context rule caught": rate(
            sum(a.context_only for a in risky), len(risky)
        ),
        "ordinary sequences given a priority crisis alert": rate(
            sum(a.priority for a in calm), len(calm)
        ),
        "  of which from the context rule alone": rate(
            sum(a.context_only for a in calm), len(calm)
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sequences = [s for path in args.files for s in parse(path)]
    result = figures(sequences, default_pipeline())
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{len(sequences)} sequences from {', '.join(str(p) for p in args.files)}")
    for name, value in result.items():
        assert isinstance(value, dict)
        shown = "  —  " if value["value"] is None else f"{value['value']:.3f}"
        print(f"  {name:<52} {shown} ({value['hits']}/{value['total']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
