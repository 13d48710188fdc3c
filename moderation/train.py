"""Train the learned moderation model (moderation/learned.py) from the labelled corpus.

    .venv/bin/python -m moderation.train            # writes moderation/data/learned-model.bin
    .venv/bin/python -m moderation.train --check    # trains, prints, writes nothing

A command-line tool (it reads and writes files; the pipeline never imports it). Reads
every training batch in tests/moderation_corpus (`*.jsonl`, and the older `*.tsv`); files
with "test" in their name are held-out test batches and are never read. Reproducible:
the same files give the same model byte for byte (fixed seed, stable hashing, sorted
inputs), and the model records a digest of the messages and labels it was trained on.

How: logistic regression per concern, by stochastic gradient descent with L2 decay, over
the hashed features of `learned.features`. Each concern's decision threshold is picked on
predictions for batches the model did not see: the training data is split by batch (each
writer's brief), a model is trained without each batch and scores that batch's messages,
and the threshold is the lowest that keeps the false-positive rate on messages that should pass
("none", most of them hard negatives) within the concern's budget. The final model is
then trained on everything with those thresholds.
"""

import argparse
import hashlib
import json
import math
import random
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from moderation.corpus import CONCERNS, Record, parse_jsonl, parse_tsv
from moderation.learned import (
    FORMAT,
    MODEL_FILE,
    WORD_REPEAT,
    Model,
    enough_to_judge,
    features,
    quantise,
)
from moderation.scanning import Scanner

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = ROOT / "tests" / "moderation_corpus"
OUTPUT = Path(__file__).resolve().parent / "data" / MODEL_FILE
VERSION = "2026-12-07.4"
BITS = 18
EPOCHS = 6
SEED = 16
L2 = 5e-6
LEARNING_RATE = 5.0
POS_WEIGHT_CAP = 4.0
QUIET_WEIGHT = 2.0
# False positives tolerated, per concern and kind of message that should pass, when
# picking the threshold. Venting, ordinary talk, doses and links must pass untouched
# (the issue asks <= 1 % touched in all); hard negatives that sound like a crisis (pain
# idioms, dark jokes, resolved past, someone else, the crisis line) may get a crisis flag
# a little more often (<= 5 % asked), and no other concern may fire on them either.
# Each writer named its families; these are everyday talk (the rest of "none" are hard
# negatives). wG's session talk is all everyday except its dark humour.
QUIET_FAMILIES = frozenset(
    {
        *("venting", "ordinary", "dose_talk", "reputable_link"),  # wA, wB
        *("ordinary_chat", "appointment_talk", "goals_wins", "win_goal", "doctor_vent"),
        *("insurance_vent", "pharmacy_vent", "med_legit", "appointment", "dose_question"),
        *("medication_talk", "venting_pain", "venting_system", "pharmacist_question"),
        *("agreement", "goal", "goodbye", "goodnight", "greeting", "meds_timing"),  # wG
        *("pain_score", "plan", "question", "reaction", "sleep", "small_talk"),
        *("stepping_away", "tech", "thanks", "tiredness", "win"),
        *("arrival", "check_in", "plan_goal", "sharing"),  # wH
    }
)
FP_BUDGET = {
    # crisis 0.8 % of everyday talk until the seventh session: with model 2026-12-07.4 its
    # threshold fell to 0.79, where "sorry to hear that, Alex" and "my pain is really bad
    # tonight and I just wanted to say so" (strings of the integration tests) were flagged.
    "crisis": {"quiet": 0.004, "hard": 0.04},
    "abuse": {"quiet": 0.003, "hard": 0.01},
    "medication_sale": {"quiet": 0.003, "hard": 0.01},
    "contact": {"quiet": 0.003, "hard": 0.01},
}
FLOOR_QUANTILE = 0.05
# Never decide below this score, whatever the validation split says.
MIN_THRESHOLD = 0.3
# A large batch of messages that should all pass (wG's session talk) is spread over the
# folds like a small one instead of being a fold of its own.
SPREAD_NEGATIVE_BATCHES = True


@dataclass(frozen=True, slots=True)
class Example:
    buckets: list[int]
    labels: tuple[bool, ...]  # per concern
    writer: str
    record: Record
    # Concerns the model may decide alone for this message (learned.enough_to_judge:
    # abuse and sales from 6 words, contact with an identifier-shaped word).
    judged: frozenset[str] = frozenset(CONCERNS)


def training_files(directory: Path = CORPUS_DIR, *, with_waiting: bool = False) -> list[Path]:
    """Single labelled messages: not the held-out test batches, nor the sequences the
    context rule is scored on (`*-sequences.jsonl`, `moderation.evaluate_sequences`).

    Batches named `waiting-*.jsonl` are validated and may be read by anyone, but the
    shipped model was not trained on them: they are read only when asked (`with_waiting`),
    so that the plain command still rebuilds the shipped model byte for byte. Whoever
    ships a model trained on them renames them `train-*.jsonl` in the same commit."""
    files = sorted(directory.glob("*.jsonl")) + sorted(directory.glob("*.tsv"))
    return [
        path
        for path in files
        if "test" not in path.name
        and not path.name.endswith("-sequences.jsonl")
        and (with_waiting or not path.name.startswith("waiting-"))
    ]


def read(paths: Sequence[Path]) -> list[Record]:
    """The training records. The TSV corpus's despair-only lines ("crisis.hopeless") are
    left out: neither a crisis "at risk now" as the writers label it, nor venting."""
    records: list[Record] = []
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        if path.suffix == ".tsv":
            found = parse_tsv(lines, writer=f"tsv-{path.stem}", batch=path.stem)
            records.extend(record for record in found if record.family != "hopeless")
        else:
            records.extend(parse_jsonl(lines, source=str(path)))
    return records


def digest(records: Sequence[Record]) -> str:
    h = hashlib.sha256(
        f"bits={BITS} seed={SEED} epochs={EPOCHS} l2={L2} rate={LEARNING_RATE} "
        f"pos={POS_WEIGHT_CAP} quiet={QUIET_WEIGHT} spread={SPREAD_NEGATIVE_BATCHES} "
        f"format={FORMAT} repeat={WORD_REPEAT}\n".encode()
    )
    for record in records:
        h.update(f"{record.text}\t{','.join(sorted(record.concerns))}\n".encode())
    return h.hexdigest()


def examples(records: Sequence[Record], scanner: Scanner) -> list[Example]:
    out = []
    for record in records:
        scan = scanner.scan(record.text)
        view = scan.views[scan.leet_index]
        buckets = features(view, BITS) or [0]
        labels = tuple(concern in record.concerns for concern in CONCERNS)
        judged = enough_to_judge(view, record.text)
        out.append(Example(buckets, labels, record.writer or record.batch, record, judged))
    return out


Heads = tuple[list[list[float]], list[float]]


def fit(data: Sequence[Example], seed: int = SEED) -> Heads:
    size = 1 << BITS
    weights = [[0.0] * size for _ in CONCERNS]
    biases = [0.0] * len(CONCERNS)
    positives = [sum(ex.labels[c] for ex in data) for c in range(len(CONCERNS))]
    # Weigh the rarer positives up (at most 4x) so recall is not traded away cheaply.
    pos_weight = [min(POS_WEIGHT_CAP, (len(data) - p) / p) if p else 1.0 for p in positives]
    # Everyday talk is what binds each threshold (FP_BUDGET "quiet"): weigh its mistakes up.
    neg_weight = [
        QUIET_WEIGHT if not any(ex.labels) and kind_of(ex.record) == "quiet" else 1.0 for ex in data
    ]
    rng = random.Random(seed)
    order = list(range(len(data)))
    for epoch in range(EPOCHS):
        rng.shuffle(order)
        rate = LEARNING_RATE / (1.0 + 0.4 * epoch)
        for i in order:
            ex = data[i]
            buckets = ex.buckets
            norm = 1.0 / math.sqrt(len(buckets))
            for c in range(len(CONCERNS)):
                w = weights[c]
                z = biases[c] + norm * sum(map(w.__getitem__, buckets))
                p = _logistic(z)
                y = ex.labels[c]
                g = (p - 1.0) * pos_weight[c] if y else p * neg_weight[i]
                if -1e-4 < g < 1e-4:
                    continue
                step = rate * g * norm
                for b in buckets:
                    w[b] -= step
                biases[c] -= rate * g * 0.1
        # L2 for each example seen, applied once per epoch: (1 - rate * L2) ** n. (The
        # linear form 1 - rate * L2 * n went negative past ~10,000 messages, flipping
        # every weight's sign.)
        decay = math.exp(-rate * L2 * len(data))
        for c in range(len(CONCERNS)):
            weights[c] = [x * decay for x in weights[c]]
    return weights, biases


def predict(heads: Heads, ex: Example) -> list[float]:
    weights, biases = heads
    norm = 1.0 / math.sqrt(len(ex.buckets))
    return [
        _logistic(biases[c] + norm * sum(map(weights[c].__getitem__, ex.buckets)))
        for c in range(len(CONCERNS))
    ]


def _logistic(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def out_of_fold(data: Sequence[Example], folds: int = 5) -> list[list[float]]:
    """Scores for every example from a model that never saw its batch: each large batch
    (a writer's brief, 500 messages or more) is one fold, and smaller ones are spread
    over those folds. With fewer than three large batches, five folds by hash."""
    sizes: dict[str, int] = {}
    concerns: dict[str, int] = {}
    for ex in data:
        sizes[ex.record.batch] = sizes.get(ex.record.batch, 0) + 1
        concerns[ex.record.batch] = concerns.get(ex.record.batch, 0) + any(ex.labels)
    large = sorted(
        batch
        for batch, size in sizes.items()
        if size >= 500 and (concerns[batch] or not SPREAD_NEGATIVE_BATCHES)
    )
    spread = len(large) if len(large) >= 3 else folds
    fold_of = {batch: i for i, batch in enumerate(large)} if len(large) >= 3 else {}
    groups = [
        fold_of.get(ex.record.batch, hashlib.sha256(ex.record.text.encode()).digest()[0] % spread)
        for ex in data
    ]
    scores: list[list[float]] = [[] for _ in data]
    for fold in sorted(set(groups)):
        train = [ex for ex, g in zip(data, groups, strict=True) if g != fold]
        heads = fit(train)
        for i, (ex, g) in enumerate(zip(data, groups, strict=True)):
            if g == fold:
                scores[i] = predict(heads, ex)
    return scores


def kind_of(record: Record) -> str:
    """ "quiet" for everyday talk that must pass untouched (venting, ordinary talk, doses,
    links; the TSV corpus's "allow" lines), "hard" for every hard negative written to
    sound like a concern (crisis-sounding idioms, quoted abuse, banter, a pharmacy's
    disposal scheme, a platform named innocently, the TSV crisis sets' negatives)."""
    if record.family in QUIET_FAMILIES or (not record.family and record.batch == "corpus"):
        return "quiet"
    return "hard"


def lowest_threshold(negatives: Sequence[float], budget: float) -> float:
    """The lowest threshold above all but `budget` of these scores."""
    ordered = sorted(negatives, reverse=True)
    allowed = int(budget * len(ordered))
    return ordered[allowed] + 1e-6 if allowed < len(ordered) else 0.0


def pick_thresholds(
    data: Sequence[Example], scores: Sequence[Sequence[float]]
) -> tuple[list[float], dict[str, dict[str, float]]]:
    thresholds: list[float] = []
    report: dict[str, dict[str, float]] = {}
    none = [i for i, ex in enumerate(data) if not any(ex.labels)]
    for c, concern in enumerate(CONCERNS):
        bar = 0.0
        # What the model alone can do to a message it may not judge (too short for
        # abuse, nothing identifying for contact) is nothing: such scores count as 0, so
        # the thresholds are picked on what the pipeline would actually touch.
        said = [scores[i][c] if concern in ex.judged else 0.0 for i, ex in enumerate(data)]
        for kind, budget in FP_BUDGET[concern].items():
            negatives = [said[i] for i in none if kind_of(data[i].record) == kind]
            bar = max(bar, lowest_threshold(negatives, budget))
        threshold = max(MIN_THRESHOLD, min(0.99, bar))
        # Recall as before: the model's score on every positive (the lists catch some of
        # the short ones the model may not judge alone).
        positives = [scores[i][c] for i, ex in enumerate(data) if ex.labels[c]]
        negatives = [said[i] for i in none]
        recall = sum(s >= threshold for s in positives) / len(positives) if positives else 0.0
        fp = sum(s >= threshold for s in negatives) / len(negatives) if negatives else 0.0
        thresholds.append(round(threshold, 4))
        if concern == "crisis":
            # Demote a listed phrase (no priority, still a flag) only when the model is
            # this sure it is no crisis: ~5 % of crisis statements score lower on batches
            # the model never saw (most of those the lists do not catch anyway).
            ordered = sorted(positives)
            floor = ordered[int(FLOOR_QUANTILE * len(ordered))] if ordered else 0.0
            report["crisis_floor"] = {"floor": round(min(floor, 0.3), 4)}
        report[concern] = {
            "threshold": round(threshold, 4),
            "validation_recall": round(recall, 3),
            "validation_fp_none": round(fp, 4),
            "positives": len(positives),
        }
    return thresholds, report


def build(
    records: Sequence[Record], *, validate: bool = True, scores_file: Path | None = None
) -> Model:
    scanner = Scanner()
    data = examples(records, scanner)
    if validate:
        thresholds, report = pick_thresholds(data, _scores(data, digest(records), scores_file))
    else:
        thresholds, report = [0.5] * len(CONCERNS), {}
    weights, biases = fit(data)
    flat: list[int] = []
    scales: list[float] = []
    for head in weights:
        quantised, scale = quantise(head)
        flat.extend(quantised)
        scales.append(scale)
    packed = array("b", flat)
    return Model(
        version=VERSION,
        data_digest=digest(records),
        bits=BITS,
        scales=tuple(scales),
        biases=tuple(round(b, 6) for b in biases),
        thresholds=tuple(thresholds),
        crisis_floor=float(report.get("crisis_floor", {}).get("floor", 0.0)),
        weights=packed,
        meta={
            "messages": len(records),
            "writers": sorted({r.writer for r in records}),
            "validation": report,
        },
    )


def _scores(data: Sequence[Example], key: str, path: Path | None) -> list[list[float]]:
    if path is not None and path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("digest") == key and len(saved["scores"]) == len(data):
            return [list(map(float, row)) for row in saved["scores"]]
    scores = out_of_fold(data)
    if path is not None:
        path.write_text(json.dumps({"digest": key, "scores": scores}), encoding="utf-8")
    return scores


def held_out_batches(data: Sequence[Example]) -> list[str]:
    """The batches that are folds of their own in `out_of_fold` (a writer's brief)."""
    sizes: dict[str, int] = {}
    positives: dict[str, int] = {}
    for ex in data:
        sizes[ex.record.batch] = sizes.get(ex.record.batch, 0) + 1
        positives[ex.record.batch] = positives.get(ex.record.batch, 0) + any(ex.labels)
    return sorted(b for b, n in sizes.items() if n >= 500 and positives[b])


def per_batch(data: Sequence[Example], scores: Sequence[Sequence[float]]) -> dict[str, object]:
    """Leave one writer's batch out, thresholds included: each batch is scored by a model
    trained without it (`scores`), at thresholds picked on the other batches' scores, so
    nothing about the batch chose anything. Recall per concern over all those batches
    (and per batch), and the share of what should pass that any concern would touch."""
    hits = [0] * len(CONCERNS)
    totals = [0] * len(CONCERNS)
    by_batch: dict[str, list[float | None]] = {}
    touched = {"quiet": [0, 0], "hard": [0, 0]}
    for batch in held_out_batches(data):
        inside = [i for i, ex in enumerate(data) if ex.record.batch == batch]
        outside = [i for i, ex in enumerate(data) if ex.record.batch != batch]
        thresholds, _ = pick_thresholds([data[i] for i in outside], [scores[i] for i in outside])
        row: list[float | None] = []
        for c in range(len(CONCERNS)):
            positives = [i for i in inside if data[i].labels[c]]
            caught = sum(scores[i][c] >= thresholds[c] for i in positives)
            hits[c] += caught
            totals[c] += len(positives)
            row.append(round(caught / len(positives), 3) if positives else None)
        by_batch[batch] = row
        for i in inside:
            ex = data[i]
            if any(ex.labels):
                continue
            tally = touched[kind_of(ex.record)]
            tally[1] += 1
            tally[0] += any(
                scores[i][c] >= thresholds[c] and concern in ex.judged
                for c, concern in enumerate(CONCERNS)
            )
    return {
        "recall": {
            concern: f"{hits[c] / totals[c]:.3f} ({hits[c]}/{totals[c]})"
            for c, concern in enumerate(CONCERNS)
            if totals[c]
        },
        "touched": {kind: f"{n / total:.4f} ({n}/{total})" for kind, (n, total) in touched.items()},
        "by_batch": by_batch,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moderation.train", description=__doc__)
    parser.add_argument("--check", action="store_true", help="train and report, write nothing")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument(
        "--scores",
        type=Path,
        help="keep the out-of-batch scores here and reuse them while the data is the same",
    )
    parser.add_argument(
        "--per-batch",
        action="store_true",
        help="also print recall per concern leaving one writer's batch out, thresholds "
        "picked without it",
    )
    parser.add_argument(
        "--with-waiting",
        action="store_true",
        help="also read the waiting-*.jsonl batches (validated, not yet in the shipped model)",
    )
    args = parser.parse_args(argv)
    paths = training_files(with_waiting=args.with_waiting)
    records = read(paths)
    print(f"training on {len(records)} messages from {len(paths)} files")
    if args.per_batch:
        data = examples(records, Scanner())
        report = per_batch(data, _scores(data, digest(records), args.scores))
        print("leaving one writer's batch out (" + ", ".join(CONCERNS) + " per batch):")
        print(json.dumps(report, indent=1))
    model = build(records, scores_file=args.scores)
    for concern, figures in dict(model.meta["validation"]).items():  # type: ignore[call-overload]
        print(f"  {concern:16} {figures}")
    print(model.describe())
    if not args.check:
        args.output.write_bytes(model.to_bytes())
        print(f"wrote {args.output} ({args.output.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
