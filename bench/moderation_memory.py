"""Resident memory a worker spends on moderation, with and without the learned model.

    .venv/bin/python bench/moderation_memory.py [--lists-only]

Builds the default pipeline in a fresh process, runs every corpus message through it
(filling the learned model's per-word cache and the recent-messages memory as a busy
worker would), and prints the growth of VmRSS (Linux /proc) at each step in MB.
Run it once with and once without --lists-only: the difference is the learned signal.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moderation import MessageContext, ModerationPolicy, default_pipeline  # noqa: E402
from moderation.corpus import parse_jsonl, parse_tsv  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lists-only", action="store_true")
    args = parser.parse_args()
    corpus = ROOT / "tests" / "moderation_corpus"
    texts = [
        r.text
        for path in sorted(corpus.glob("*.jsonl"))
        if "test" not in path.name and not path.name.endswith("-sequences.jsonl")
        for r in parse_jsonl(path.read_text(encoding="utf-8").splitlines())
    ]
    texts += [
        r.text
        for r in parse_tsv(
            (corpus / "corpus.tsv").read_text(encoding="utf-8").splitlines(), "tsv", "corpus"
        )
    ]
    start = rss_mb()
    pipeline = default_pipeline(learned=not args.lists_only)
    built = rss_mb()
    policy = ModerationPolicy()
    for i, text in enumerate(texts * 3):
        ctx = MessageContext(f"room-{i % 50}", f"member-{i}", "member", text, 1e9 + i, policy)
        pipeline.accept(pipeline.run(ctx))
    ran = rss_mb()
    kind = "lists only" if args.lists_only else "lists + learned model"
    print(
        f"{kind}: start {start:.1f} MB; pipeline built +{built - start:.1f} MB; "
        f"after {3 * len(texts)} messages +{ran - start:.1f} MB (VmRSS {ran:.1f} MB)"
    )


if __name__ == "__main__":
    main()
