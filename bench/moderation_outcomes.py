"""Every outcome of the moderation pipeline on the repository's labelled messages, one JSON
line each: for checking that a change meant to make moderation cheaper decides nothing
differently. Run it in two trees and compare the files:

    .venv/bin/python bench/moderation_outcomes.py > /tmp/after.jsonl
    (cd /tmp/base && .venv/bin/python bench/moderation_outcomes.py) > /tmp/before.jsonl
    cmp /tmp/before.jsonl /tmp/after.jsonl && echo identical

What is run: tests/moderation_corpus/corpus.tsv, crisis_dev.tsv and every train-*.jsonl
(sequences in order, as one member, a minute apart or as their "minutes" say), and both
kinds of moderation_bench.py's texts; each message as a member and as a facilitator, with
the learned model and with the lists alone. Each line holds the overall action, the
delivered text and every verdict's rule, code, alert, priority and alert reason.
Held-out batches are not read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from moderation_bench import load  # noqa: E402

from moderation import MessageContext, ModerationPolicy, Pipeline, default_pipeline  # noqa: E402

CORPUS = ROOT / "tests" / "moderation_corpus"


def conversations() -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """(name, [(text, seconds since the first message)]): a single message is a
    conversation of one."""
    for name in ("corpus.tsv", "crisis_dev.tsv"):
        for line in (CORPUS / name).read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#") and "\t" in line:
                yield name, [(line.split("\t", 1)[1].replace("\\n", "\n"), 0.0)]
    for path in sorted(CORPUS.glob("train-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            if "messages" in item:
                texts = item["messages"]
                minutes = item.get("minutes") or list(range(len(texts)))
                yield path.name, [(t, 60.0 * m) for t, m in zip(texts, minutes, strict=True)]
            else:
                yield path.name, [(item["text"], 0.0)]
    for kind in ("clean", "dirty"):
        for text in load(kind):
            yield f"bench-{kind}", [(text, 0.0)]


def outcomes(pipeline: Pipeline, role: str, tag: str) -> Iterator[dict[str, object]]:
    policy = ModerationPolicy()
    start = 1_700_000_000.0
    for n, (name, messages) in enumerate(conversations()):
        # Every conversation its own member, an hour after the last: no rate limit or
        # repeat carries over from one to the next.
        start += 3600.0
        for text, offset in messages:
            ctx = MessageContext("room", f"{tag}-{n}", role, text, start + offset, policy)
            outcome = pipeline.run(ctx)
            pipeline.accept(outcome)
            yield {
                "source": name,
                "role": role,
                "model": tag,
                "action": str(outcome.action),
                "text": outcome.text,
                "verdicts": [
                    [v.rule, v.code, v.alert, v.priority, v.alert_reason] for v in outcome.verdicts
                ],
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.parse_args()
    for learned in (True, False):
        for role in ("member", "facilitator"):
            pipeline = default_pipeline(learned=learned)
            tag = "learned" if learned else "lists"
            for record in outcomes(pipeline, role, tag):
                print(json.dumps(record, ensure_ascii=False, sort_keys=True))


if __name__ == "__main__":
    main()
