"""Instructions per message of the moderation pipeline, counted by callgrind: a figure other
load on a shared VM does not move (the timed benchmark's medians moved 40 % within minutes
on the 2-vCPU VM), for comparing two trees.

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/mod.%p.out \\
        .venv/bin/python bench/moderation_instructions.py [--lists-only]
    grep -H -E '^(desc: Trigger|summary)' /tmp/mod.*.out.*   # summary / messages = per message

The texts are moderation_bench.py's (every distinct clean and dirty message once). One
pipeline is built and warmed on every text first (lists compiled, fold tables, phone
metadata, the model's remembered word and pair sums: what a worker has after its first
minutes), then for each kind callgrind's counters are zeroed, every text is run once as a
new member (no refusals for rate or repeats) and accepted, and the counts are dumped
under the kind's name ("clean", "dirty"); "overhead" is a dump with nothing run between
(the two callgrind_control calls). Dumps count instructions only, not cache misses: a
change that saves instructions but touches more memory can still be slower.

``--stages`` counts each stage instead: pipelines of the first k stages (k = 0 … all; 0 is
the whitespace tidying and the loop alone), each warmed the same way, one dump per kind and
k ("dirty-6-crisis"); a stage's instructions are its dump minus the one before it (a
stage's work does not depend on the stages after it; a message refused early stops every
pipeline at the same place).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from moderation_bench import load  # noqa: E402

from moderation import MessageContext, ModerationPolicy, Pipeline, default_pipeline  # noqa: E402


def callgrind(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lists-only", action="store_true", help="without the learned model")
    parser.add_argument("--stages", action="store_true", help="one dump per pipeline prefix")
    args = parser.parse_args()
    policy = ModerationPolicy()
    pipeline = default_pipeline(learned=not args.lists_only)
    if args.stages:
        count_stages(pipeline, policy, learned=not args.lists_only)
        return

    def contexts(kind: str, tag: str, start: float) -> list[MessageContext]:
        return [
            MessageContext("bench-room", f"{tag}-{i}", "member", text, start + 10.0 * i, policy)
            for i, text in enumerate(load(kind))
        ]

    for kind in ("clean", "dirty"):
        for ctx in contexts(kind, "warm", 1_700_000_000.0):
            pipeline.accept(pipeline.run(ctx))
    callgrind("-z")
    callgrind("-d", "overhead")
    for k, kind in enumerate(("clean", "dirty")):
        # A day apart: no raid window or rate bucket carries over from the warm-up.
        batch = contexts(kind, kind, 1_700_000_000.0 + 86_400.0 * (k + 1))
        callgrind("-z")
        for ctx in batch:
            pipeline.accept(pipeline.run(ctx))
        callgrind("-d", kind)
        print(f"{kind}: {len(batch)} messages", flush=True)


def count_stages(pipeline: Pipeline, policy: ModerationPolicy, *, learned: bool) -> None:
    """One dump per kind and pipeline prefix (see the module's docstring)."""
    names = [stage.name for stage in pipeline.stages]
    prefixes = [Pipeline(default_pipeline(learned=learned).stages[:k]) for k in range(len(names))]
    prefixes.append(pipeline)
    for prefix in prefixes:
        for kind in ("clean", "dirty"):
            for i, text in enumerate(load(kind)):
                ctx = MessageContext(
                    "bench-room", f"warm-{i}", "member", text, 1e9 + 10 * i, policy
                )
                prefix.accept(prefix.run(ctx))
    for day, kind in enumerate(("clean", "dirty"), start=1):
        for k, prefix in enumerate(prefixes):
            start = 1_700_000_000.0 + 86_400.0 * day
            batch = [
                MessageContext(
                    "bench-room", f"{kind}-{k}-{i}", "member", text, start + 10 * i, policy
                )
                for i, text in enumerate(load(kind))
            ]
            callgrind("-z")
            for ctx in batch:
                prefix.accept(prefix.run(ctx))
            callgrind("-d", f"{kind}-{k}-{names[k - 1] if k else 'none'}")
        print(f"{kind}: {len(load(kind))} messages, {len(prefixes)} prefixes", flush=True)


if __name__ == "__main__":
    main()
