"""Leaving one writer out: how the learned model does on a writer it never saw.

    .venv/bin/python -m moderation.train --check --leave-one-writer-out

Each writer's messages (all their batches) are scored by a model trained without that
writer (`train.out_of_fold`), at thresholds picked on the other writers' scores, and the
figures are pooled over writers: recall per concern and per writer, what should pass that
would be touched, and the crisis flag on the hard negatives the issue names. A report for
the training command; the pipeline never imports it.
"""

from collections.abc import Sequence
from pathlib import Path

from moderation.corpus import CONCERNS, Record, parse_tsv
from moderation.train import (
    Example,
    folds,
    held_out_writers,
    kind_of,
    pick_thresholds,
    writer_of,
)

# Hard negatives reported on their own by `leave_one_writer_out` (the bars):
# pain idioms, dark jokes and resolved past crises must get a priority crisis alert at
# most 5 % of the time; talk of someone else or of a crisis line only a low-priority one.
DARK_FAMILIES = frozenset(
    {
        *("pain_idiom", "dark_joke", "dark_humour", "im_dead_joke", "kms_joke"),
        *("overdose_joke", "skull_laughing", "class_killing_me", "resolved_past"),
        "past_crisis",
    }
)
VENTING_ORDINARY_FAMILIES = frozenset(
    {
        *("venting", "venting_pain", "venting_system", "doctor_vent", "insurance_vent"),
        *("pharmacy_vent", "ordinary", "ordinary_chat", "small_talk"),
    }
)
OTHERS_FAMILIES = frozenset(
    {
        *("third_person", "third_party", "other_person", "about_someone_else"),
        *("crisis_resource", "crisis_line_resource"),
    }
)


def despair_only(paths: Sequence[Path]) -> list[Record]:
    """The TSV corpus's despair-only lines ("crisis.hopeless": no burden, exit, wish or
    time), never trained on: the lists give them a low-priority flag, and the model must
    not raise them to a priority alert."""
    return [
        record
        for path in paths
        if path.suffix == ".tsv"
        for record in parse_tsv(
            path.read_text(encoding="utf-8").splitlines(),
            writer=f"tsv-{path.stem}",
            batch=path.stem,
        )
        if record.family == "hopeless"
    ]


def _rate(n: int, total: int) -> str:
    return f"{n / total:.3f} ({n}/{total})" if total else "-"


def leave_one_writer_out(
    data: Sequence[Example],
    scores: Sequence[Sequence[float]],
    despair: Sequence[Example] = (),
    despair_scores: Sequence[Sequence[Sequence[float]]] = (),
) -> dict[str, object]:
    """Leave one writer out, thresholds included: each writer's messages (all their
    batches) are scored by a model trained without that writer (`scores`, `folds`), at
    thresholds picked on the other writers' scores, so nothing the writer wrote chose
    anything; pooled over writers. Recall per concern (and per writer), the share of
    what should pass that any concern would touch (everyday talk, hard negatives), the
    crisis flag on dark idioms, jokes and resolved past and on someone else or a crisis
    line, and on despair alone (`despair`, scored by every fold's model)."""
    hits = [0] * len(CONCERNS)
    totals = [0] * len(CONCERNS)
    evasive = [0, 0]
    by_writer: dict[str, list[float | None]] = {}
    touched = {"quiet": [0, 0], "hard": [0, 0], "venting and ordinary talk": [0, 0]}
    crisis_on = {"dark": [0, 0], "others": [0, 0], "despair": [0, 0]}
    groups = folds(data)
    fold_index = {fold: n for n, fold in enumerate(sorted(set(groups)))}
    writers = held_out_writers(data)
    for writer in writers:
        inside = [i for i, ex in enumerate(data) if writer_of(ex) == writer]
        outside = [i for i, ex in enumerate(data) if writer_of(ex) != writer]
        thresholds, _ = pick_thresholds([data[i] for i in outside], [scores[i] for i in outside])
        row: list[float | None] = []
        for c in range(len(CONCERNS)):
            positives = [i for i in inside if data[i].labels[c]]
            caught = sum(scores[i][c] >= thresholds[c] for i in positives)
            hits[c] += caught
            totals[c] += len(positives)
            row.append(round(caught / len(positives), 3) if positives else None)
        by_writer[writer] = row
        for i in inside:
            ex = data[i]
            if ex.labels[0] and ex.record.evasive:
                evasive[0] += scores[i][0] >= thresholds[0]
                evasive[1] += 1
            if any(ex.labels):
                continue
            hit = any(
                scores[i][c] >= thresholds[c] and concern in ex.judged
                for c, concern in enumerate(CONCERNS)
            )
            for kind in (kind_of(ex.record), "venting and ordinary talk"):
                if (
                    kind == "quiet"
                    or kind == "hard"
                    or ex.record.family in VENTING_ORDINARY_FAMILIES
                ):
                    touched[kind][0] += hit
                    touched[kind][1] += 1
            family = ex.record.family
            kind = (
                "dark" if family in DARK_FAMILIES else "others" if family in OTHERS_FAMILIES else ""
            )
            if kind:
                crisis_on[kind][1] += 1
                crisis_on[kind][0] += scores[i][0] >= thresholds[0] and "crisis" in ex.judged
        if despair_scores:
            fold = fold_index[groups[inside[0]]]
            for ex, said in zip(despair, despair_scores[fold], strict=True):
                crisis_on["despair"][1] += 1
                crisis_on["despair"][0] += said[0] >= thresholds[0] and "crisis" in ex.judged
    recall = {concern: _rate(hits[c], totals[c]) for c, concern in enumerate(CONCERNS) if totals[c]}
    recall["crisis, evasive"] = _rate(*evasive)
    return {
        "writers": writers,
        "recall": recall,
        "touched": {kind: _rate(n, total) for kind, (n, total) in touched.items()},
        "crisis flag on": {
            "dark idioms, jokes, resolved past": _rate(*crisis_on["dark"]),
            "someone else, a crisis line": _rate(*crisis_on["others"]),
            "despair alone (TSV hopeless lines, every writer's model)": _rate(
                *crisis_on["despair"]
            ),
        },
        "by_writer": by_writer,
    }
