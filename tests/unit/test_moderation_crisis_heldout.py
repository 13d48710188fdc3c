"""Crisis sets written apart from the lists (tests/moderation_corpus/crisis_*.tsv): scores.

- crisis_heldout.tsv: written before the lists were read in detail, scored once, then the
  lists were tuned on it (docs/moderation.md has the before and after figures);
- crisis_dev.tsv: half of a second fresh set, tuned on the same way;
- crisis_test.tsv: the other half, never read by whoever tunes the lists. Its scores are
  the honest estimate on unseen wording; the test prints its scores, never its misses,
  and guards against a list change making it worse.

Each message runs through the full default pipeline with its own sender and time; only
the crisis verdict is scored.

- stage level: a message counts as predicted when the crisis stage returned any verdict,
  as actual when its label is a crisis rule;
- per label: predicted when the crisis rule is exactly that label.
"""

from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest

from moderation.context import MessageContext
from moderation.pipeline import default_pipeline
from moderation.policy import ModerationPolicy

SETS = Path(__file__).parent.parent / "moderation_corpus"
HELDOUT = SETS / "crisis_heldout.tsv"
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
MIN_PRIORITY_RECALL = 0.9


class SetSpec(NamedTuple):
    name: str
    min_recall: float
    min_precision: float
    min_priority_recall: float
    show_misses: bool  # False for the test set: reading its misses would spend it


SPECS = (
    SetSpec("crisis_heldout.tsv", MIN_RECALL, MIN_PRECISION, MIN_PRIORITY_RECALL, True),
    SetSpec("crisis_dev.tsv", MIN_RECALL, MIN_PRECISION, MIN_PRIORITY_RECALL, True),
    # Unseen wording: 0.514 / 0.927 when the dev tuning landed. The floor is a regression
    # guard, not a target; the note in docs/moderation.md says what it means.
    SetSpec("crisis_test.tsv", 0.5, 0.9, 0.45, False),
)
# The sender's own statements that need a priority alert must get one.
PRIORITY = frozenset({"crisis.method", "crisis.suicidal", "crisis.overdose", "crisis.self_harm"})

Row = tuple[str, str]  # label ("allow" or a crisis rule), text


def load_heldout(path: Path = HELDOUT) -> list[Row]:
    rows: list[Row] = []
    lines = path.read_text(encoding="utf-8").splitlines()
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


_scores: dict[str, Scores] = {}


def scores_of(spec: SetSpec) -> Scores:
    if spec.name not in _scores:
        rows = load_heldout(SETS / spec.name)
        _scores[spec.name] = Scores(rows, predict(rows))
    return _scores[spec.name]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_the_set_is_big_enough(spec: SetSpec) -> None:
    rows = load_heldout(SETS / spec.name)
    assert sum(1 for label, _ in rows if label != "allow") >= 60
    assert sum(1 for label, _ in rows if label == "allow") >= 50
    assert len({text for _, text in rows}) == len(rows)  # no duplicates


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_crisis_recall_and_precision(spec: SetSpec) -> None:
    scores = scores_of(spec)
    report = scores.table()
    if spec.show_misses:
        report += "\n" + "\n".join(scores.misses())
    print(report)
    assert scores.recall >= spec.min_recall, report
    assert scores.precision >= spec.min_precision, report


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_priority_statements_keep_priority(spec: SetSpec) -> None:
    scores = scores_of(spec)
    assert scores.priority_recall >= spec.min_priority_recall, scores.table()


def test_the_sets_share_no_message_with_the_corpus_or_each_other() -> None:
    from tests.unit.test_moderation_corpus import load_corpus

    def norm(text: str) -> str:
        return " ".join(text.lower().split())

    seen = {norm(text) for _, text in load_corpus()}
    for spec in SPECS:
        texts = {norm(text) for _, text in load_heldout(SETS / spec.name)}
        assert not texts & seen, spec.name
        seen |= texts


def main() -> None:
    """Print the tables: .venv/bin/python -m tests.unit.test_moderation_crisis_heldout"""
    for spec in SPECS:
        result = scores_of(spec)
        print(f"== {spec.name}")
        print(result.table())
        if spec.show_misses:
            for miss in result.misses():
                print(" ", miss)


if __name__ == "__main__":
    main()
