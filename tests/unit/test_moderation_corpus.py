"""The labelled corpus (tests/moderation_corpus/corpus.tsv): per-stage precision and recall.

Each message runs through the full default pipeline with its own sender and time, so the
rate and duplicate stages stay out of the way. A stage counts as predicting a message
when it produced any non-allow verdict for it; the label says which stages should.
"""

from collections import defaultdict
from pathlib import Path

import pytest

from moderation.context import MessageContext
from moderation.pipeline import default_pipeline
from moderation.policy import ModerationPolicy

CORPUS = Path(__file__).parent.parent / "moderation_corpus" / "corpus.tsv"
THRESHOLD = 0.95
STAGES = ("crisis", "contact", "link", "abuse", "medication")


def load_corpus() -> list[tuple[frozenset[str], str]]:
    rows: list[tuple[frozenset[str], str]] = []
    for number, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        label, tab, text = line.partition("\t")
        assert tab, f"corpus line {number} has no tab"
        rules = frozenset() if label == "allow" else frozenset(label.split(","))
        assert all(rule.partition(".")[0] in STAGES for rule in rules), number
        rows.append((rules, text.replace("\\n", "\n")))
    return rows


def score() -> tuple[dict[str, tuple[int, int, int]], list[str], int]:
    pipeline = default_pipeline()
    policy = ModerationPolicy()
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    misses: list[str] = []
    exact = 0
    for i, (expected, text) in enumerate(load_corpus()):
        ctx = MessageContext("corpus", f"member-{i}", "member", text, 1000.0 * i, policy)
        got = {v.rule for v in pipeline.run(ctx).verdicts if v.rule.split(".")[0] in STAGES}
        exact += got == expected
        want = {rule.split(".")[0] for rule in expected}
        have = {rule.split(".")[0] for rule in got}
        for stage in STAGES:
            if stage in want and stage in have:
                counts[stage][0] += 1
            elif stage in have:
                counts[stage][1] += 1
                misses.append(f"false {stage}: {text!r} -> {sorted(got)}")
            elif stage in want:
                counts[stage][2] += 1
                misses.append(f"missed {stage}: {text!r} (want {sorted(expected)})")
    return {stage: (c[0], c[1], c[2]) for stage, c in counts.items()}, misses, exact


@pytest.fixture(scope="module")
def results() -> tuple[dict[str, tuple[int, int, int]], list[str], int]:
    return score()


def test_the_corpus_is_big_and_varied() -> None:
    rows = load_corpus()
    assert len(rows) >= 300
    allowed = sum(1 for rules, _ in rows if not rules)
    assert allowed >= 200  # ordinary talk dominates, as in a real room
    for stage in STAGES:
        assert sum(1 for rules, _ in rows if any(r.startswith(stage) for r in rules)) >= 10


@pytest.mark.parametrize("stage", STAGES)
def test_stage_precision_and_recall(
    stage: str, results: tuple[dict[str, tuple[int, int, int]], list[str], int]
) -> None:
    counts, misses, _ = results
    tp, fp, fn = counts.get(stage, (0, 0, 0))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    report = "\n".join(m for m in misses if stage in m)
    print(f"{stage}: precision {precision:.3f} recall {recall:.3f} (tp {tp} fp {fp} fn {fn})")
    assert precision >= THRESHOLD, report
    assert recall >= THRESHOLD, report


def main() -> None:
    """Print the table: .venv/bin/python -m tests.unit.test_moderation_corpus"""
    counts, misses, exact = score()
    rows = load_corpus()
    print(f"{len(rows)} messages; exact rule match {exact}/{len(rows)}")
    print(f"{'stage':<11}{'precision':>10}{'recall':>8}{'tp':>5}{'fp':>4}{'fn':>4}")
    for stage in STAGES:
        tp, fp, fn = counts.get(stage, (0, 0, 0))
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        print(f"{stage:<11}{precision:>10.3f}{recall:>8.3f}{tp:>5}{fp:>4}{fn:>4}")
    for miss in misses:
        print(" ", miss)


if __name__ == "__main__":
    main()
