"""The held-out crisis set (tests/moderation_corpus/crisis_heldout.tsv): crisis-stage scores.

The set was written before the crisis lists were read in detail and scored once before any
tuning (docs/moderation.md has the before and after figures). Each message runs through the
full default pipeline with its own sender and time; only the crisis verdict is scored.

- stage level: a message counts as predicted when the crisis stage returned any verdict,
  as actual when its label is a crisis rule;
- per label: predicted when the crisis rule is exactly that label.
"""

from collections import Counter
from pathlib import Path

import pytest

from moderation.context import MessageContext
from moderation.pipeline import default_pipeline
from moderation.policy import ModerationPolicy

HELDOUT = Path(__file__).parent / "moderation_corpus" / "crisis_heldout.tsv"
LABELS = (
    "crisis.method",
    "crisis.suicidal",
    "crisis.overdose",
    "crisis.self_harm",
    "crisis.hopeless",
    "crisis.others",
)
# Reached after the held-out fixes (docs/moderation.md); a drop means a list change hurt.
MIN_RECALL = 0.95
MIN_PRECISION = 0.95
# The sender's own statements that need a priority alert must get one.
PRIORITY = frozenset({"crisis.method", "crisis.suicidal", "crisis.overdose", "crisis.self_harm"})
MIN_PRIORITY_RECALL = 0.9

Row = tuple[str, str]  # label ("allow" or a crisis rule), text


def load_heldout() -> list[Row]:
    rows: list[Row] = []
    lines = HELDOUT.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        label, tab, text = line.partition("\t")
        assert tab, f"held-out line {number} has no tab"
        assert label == "allow" or label in LABELS, f"held-out line {number}: {label}"
        rows.append((label, text.replace("\\n", "\n")))
    return rows


def predict(rows: list[Row]) -> list[str]:
    """The crisis rule the default pipeline gives each text, or "allow"."""
    pipeline = default_pipeline()
    policy = ModerationPolicy()
    out: list[str] = []
    for i, (_, text) in enumerate(rows):
        ctx = MessageContext("heldout", f"member-{i}", "member", text, 1000.0 * i, policy)
        rules = [v.rule for v in pipeline.run(ctx).verdicts if v.rule.startswith("crisis.")]
        assert len(rules) <= 1, rules
        out.append(rules[0] if rules else "allow")
    return out


def ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


class Scores:
    def __init__(self, rows: list[Row], got: list[str]) -> None:
        self.rows = rows
        self.got = got
        pairs = [(want, have) for (want, _), have in zip(rows, got, strict=True)]
        flagged = [(want != "allow", have != "allow") for want, have in pairs]
        self.tp = sum(1 for w, h in flagged if w and h)
        self.fp = sum(1 for w, h in flagged if h and not w)
        self.fn = sum(1 for w, h in flagged if w and not h)
        self.recall = ratio(self.tp, self.tp + self.fn)
        self.precision = ratio(self.tp, self.tp + self.fp)
        self.per_label: dict[str, tuple[float, float, int, int, int]] = {}
        for label in LABELS:
            tp = sum(1 for w, h in pairs if w == label and h == label)
            fp = sum(1 for w, h in pairs if h == label and w != label)
            fn = sum(1 for w, h in pairs if w == label and h != label)
            self.per_label[label] = (ratio(tp, tp + fp), ratio(tp, tp + fn), tp, fp, fn)
        want_priority = [have for want, have in pairs if want in PRIORITY]
        self.priority_recall = ratio(
            sum(1 for have in want_priority if have in PRIORITY), len(want_priority)
        )
        self.confusion = Counter(pairs)

    def misses(self) -> list[str]:
        return [
            f"{want} -> {have}: {text!r}"
            for (want, text), have in zip(self.rows, self.got, strict=True)
            if want != have
        ]

    def table(self) -> str:
        lines = [
            f"{len(self.rows)} messages; crisis stage precision {self.precision:.3f} "
            f"recall {self.recall:.3f} (tp {self.tp} fp {self.fp} fn {self.fn}); "
            f"priority kept {self.priority_recall:.3f}",
            f"{'label':<18}{'precision':>10}{'recall':>8}{'tp':>5}{'fp':>4}{'fn':>4}",
        ]
        for label, (p, r, tp, fp, fn) in self.per_label.items():
            lines.append(f"{label:<18}{p:>10.3f}{r:>8.3f}{tp:>5}{fp:>4}{fn:>4}")
        return "\n".join(lines)


@pytest.fixture(scope="module")
def scores() -> Scores:
    rows = load_heldout()
    return Scores(rows, predict(rows))


def test_the_heldout_set_is_big_enough() -> None:
    rows = load_heldout()
    assert sum(1 for label, _ in rows if label != "allow") >= 80
    assert sum(1 for label, _ in rows if label == "allow") >= 80
    assert len({text for _, text in rows}) == len(rows)  # no duplicates


def test_heldout_crisis_recall_and_precision(scores: Scores) -> None:
    report = scores.table() + "\n" + "\n".join(scores.misses())
    print(report)
    assert scores.recall >= MIN_RECALL, report
    assert scores.precision >= MIN_PRECISION, report


def test_heldout_priority_statements_keep_priority(scores: Scores) -> None:
    assert scores.priority_recall >= MIN_PRIORITY_RECALL, scores.table()


def test_heldout_is_not_in_the_corpus() -> None:
    from tests.test_moderation_corpus import load_corpus

    corpus = {" ".join(text.lower().split()) for _, text in load_corpus()}
    assert not [text for _, text in load_heldout() if " ".join(text.lower().split()) in corpus]


def main() -> None:
    """Print the table: .venv/bin/python -m tests.test_moderation_crisis_heldout"""
    rows = load_heldout()
    result = Scores(rows, predict(rows))
    print(result.table())
    for miss in result.misses():
        print(" ", miss)


if __name__ == "__main__":
    main()
