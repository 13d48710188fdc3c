"""Train the learned moderation model (moderation/learned.py) from the labelled corpus.

    .venv/bin/python -m moderation.train            # writes moderation/data/learned-model.bin
    .venv/bin/python -m moderation.train --check    # trains, prints, writes nothing
    .venv/bin/python -m moderation.train --check --leave-one-writer-out   # and the figures

A command-line tool (it reads and writes files; the pipeline never imports it). Reads
every training batch in tests/moderation_corpus (`*.jsonl`, and the older `*.tsv`); files
with "test" in their name are held-out test batches and are never read. Reproducible:
the same files give the same model byte for byte (fixed seed, stable hashing, sorted
inputs), and the model records a digest of the messages and labels it was trained on.

How: logistic regression per concern, by stochastic gradient descent with L2 decay, over
the hashed features of `learned.features`. Each concern's decision threshold is picked on
predictions for writers the model did not see: the training data is split by writer (all
of a writer's batches), a model is trained without each writer and scores that writer's
messages, and the threshold is the lowest that keeps the false-positive rate on messages
that should pass ("none", most of them hard negatives) within the concern's budget. The
final model is then trained on everything with those thresholds.
"""

import argparse
import hashlib
import json
import math
import operator
import random
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from moderation.corpus import CONCERNS, Record, parse_jsonl, parse_tsv
from moderation.crisis import classify, crisis_hits, hopeless_phrases
from moderation.learned import (
    DESPAIR_WORDS,
    FORMAT,
    MAX_WORDS,
    MODEL_FILE,
    SKIP_DISTANCES,
    SKIP_REPEAT,
    WORD_REPEAT,
    Model,
    despair_words,
    enough_to_judge,
    features,
    quantise,
    words_beyond_despair,
)
from moderation.policy import ModerationPolicy
from moderation.scanning import Scan, Scanner

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = ROOT / "tests" / "moderation_corpus"
OUTPUT = Path(__file__).resolve().parent / "data" / MODEL_FILE
VERSION = "2026-12-08.3"
BITS = 18
EPOCHS = 6
SEED = 16
AVERAGED_RUNS = 5
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
DEFAULT_POLICY = ModerationPolicy()
# What is left of a message without its words of despair is read from this many words
# (`Scorer.beyond_despair`, as the model judges a crisis alone).
BEYOND_DESPAIR_WORDS = 3
# Never decide below this score, whatever the validation split says; nor above the
# other (with light decay the scores spread towards 0 and 1, and a budget met only above
# 0.99 was once cut to 0.99: more touched than the budget said).
MIN_THRESHOLD = 0.3
MAX_THRESHOLD = 0.99999
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
    # For a message the lists read as despair alone (crisis.hopeless), the buckets of its
    # words without the words of despair: the pipeline raises it to a priority alert
    # only if these, too, read as a crisis (`Scorer.beyond_despair`); None otherwise.
    beyond_despair: list[int] | None = None


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
        f"bits={BITS} seed={SEED} runs={AVERAGED_RUNS} epochs={EPOCHS} "
        f"l2={L2} rate={LEARNING_RATE} "
        f"pos={POS_WEIGHT_CAP} quiet={QUIET_WEIGHT} spread={SPREAD_NEGATIVE_BATCHES} "
        f"format={FORMAT} repeat={WORD_REPEAT} skip={SKIP_DISTANCES}x{SKIP_REPEAT} "
        f"despair={','.join(DESPAIR_WORDS)} beyond={BEYOND_DESPAIR_WORDS} phrases\n".encode()
    )
    for record in records:
        h.update(f"{record.text}\t{','.join(sorted(record.concerns))}\n".encode())
    return h.hexdigest()


def examples(records: Sequence[Record], scanner: Scanner) -> list[Example]:
    out = []
    despair = despair_words(scanner)
    for record in records:
        scan = scanner.scan(record.text)
        view = scan.views[scan.leet_index]
        buckets = features(view, BITS) or [0]
        labels = tuple(concern in record.concerns for concern in CONCERNS)
        judged = enough_to_judge(view, record.text)
        beyond: list[int] | None = None
        phrases = _listed_despair_alone(scan)
        if phrases is not None:
            words = view.split()[:MAX_WORDS]
            rest = words_beyond_despair(words, despair, phrases, scanner)
            if len(rest) < len(words):
                enough = len(rest) >= BEYOND_DESPAIR_WORDS
                beyond = features(" ".join(rest), BITS) if enough else []
        out.append(Example(buckets, labels, record.writer or record.batch, record, judged, beyond))
    return out


def _listed_despair_alone(scan: Scan) -> list[str] | None:
    """The phrases the lists read as hopelessness when the crisis stage reads the
    message as such (`crisis.hopeless`: no method, suicide, overdose or self-harm phrase
    of the sender's); None otherwise."""
    hits = crisis_hits(scan, DEFAULT_POLICY.crisis_lists)
    found = classify(scan, hits) if hits else set()
    if "hopeless" not in found or found & {"method", "suicidal", "overdose", "self_harm"}:
        return None
    return hopeless_phrases(scan, hits)


Heads = tuple[list[list[float]], list[float]]


def fit(data: Sequence[Example], seed: int = SEED) -> Heads:
    """The weights of AVERAGED_RUNS trainings that differ only in SGD's shuffle (seeds
    `seed`, `seed + 1`, ...), averaged: one model of the same size. A single run's figures
    leaving one writer out move by 0.03-0.04 with its seed; the average moves less and
    generalised better (docs/moderation.md, ninth session)."""
    weights, biases = fit_run(data, seed)
    for k in range(1, AVERAGED_RUNS):
        more_weights, more_biases = fit_run(data, seed + k)
        for head, more in zip(weights, more_weights, strict=True):
            head[:] = map(operator.add, head, more)
        biases = list(map(operator.add, biases, more_biases))
    if AVERAGED_RUNS > 1:
        for head in weights:
            head[:] = [x / AVERAGED_RUNS for x in head]
        biases = [b / AVERAGED_RUNS for b in biases]
    return weights, biases


def fit_run(data: Sequence[Example], seed: int = SEED) -> Heads:
    """One training by SGD."""
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
    """The scores the pipeline acts on: for a message the lists read as despair alone,
    the crisis score is the lower of the message's and its words' beyond despair."""
    scores = predict_buckets(heads, ex.buckets)
    if ex.beyond_despair is not None:
        beyond = predict_buckets(heads, ex.beyond_despair)[0] if ex.beyond_despair else 0.0
        scores[0] = min(scores[0], beyond)
    return scores


def predict_buckets(heads: Heads, buckets: Sequence[int]) -> list[float]:
    weights, biases = heads
    norm = 1.0 / math.sqrt(len(buckets))
    return [
        _logistic(biases[c] + norm * sum(map(weights[c].__getitem__, buckets)))
        for c in range(len(CONCERNS))
    ]


def _logistic(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def folds(data: Sequence[Example]) -> list[int]:
    """The fold of each example, one per writer: every writer with 500 messages or more,
    some of them concerns, is a fold of its own (all of that writer's batches: a writer
    spells and phrases alike across briefs); smaller sets (the TSV corpus, the lead's
    lines) and writers of only messages that should pass (wG's session talk) are spread
    over those folds by hash. With fewer than three such writers, five folds by hash."""
    held = held_out_writers(data)
    fold_of = {writer: i for i, writer in enumerate(held)} if len(held) >= 3 else {}
    spread = len(held) if len(held) >= 3 else 5
    return [
        fold_of.get(writer_of(ex), hashlib.sha256(ex.record.text.encode()).digest()[0] % spread)
        for ex in data
    ]


def writer_of(ex: Example) -> str:
    return ex.record.writer or ex.record.batch


def held_out_writers(data: Sequence[Example]) -> list[str]:
    """The writers who are folds of their own in `out_of_fold`."""
    sizes: dict[str, int] = {}
    positives: dict[str, int] = {}
    for ex in data:
        writer = writer_of(ex)
        sizes[writer] = sizes.get(writer, 0) + 1
        positives[writer] = positives.get(writer, 0) + any(ex.labels)
    return sorted(w for w, n in sizes.items() if n >= 500 and positives[w])


def out_of_fold(
    data: Sequence[Example], extra: Sequence[Example] = ()
) -> tuple[list[list[float]], list[list[list[float]]]]:
    """Scores for every example from a model that never saw its writer (`folds`), and
    for each of `extra` (messages never trained on) the scores of every fold's model."""
    groups = folds(data)
    scores: list[list[float]] = [[] for _ in data]
    extra_scores: list[list[list[float]]] = [[] for _ in sorted(set(groups))]
    for n, fold in enumerate(sorted(set(groups))):
        train = [ex for ex, g in zip(data, groups, strict=True) if g != fold]
        heads = fit(train)
        for i, (ex, g) in enumerate(zip(data, groups, strict=True)):
            if g == fold:
                scores[i] = predict(heads, ex)
        extra_scores[n] = [predict(heads, ex) for ex in extra]
    return scores, extra_scores


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
        threshold = max(MIN_THRESHOLD, min(MAX_THRESHOLD, bar))
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
        thresholds, report = pick_thresholds(data, _scores(data, digest(records), scores_file)[0])
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


def _scores(
    data: Sequence[Example], key: str, path: Path | None, extra: Sequence[Example] = ()
) -> tuple[list[list[float]], list[list[list[float]]]]:
    if path is not None and path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if (
            saved.get("digest") == key
            and len(saved["scores"]) == len(data)
            and (not extra or all(len(fold) == len(extra) for fold in saved["extra"]))
        ):
            return (
                [list(map(float, row)) for row in saved["scores"]],
                [[list(map(float, row)) for row in fold] for fold in saved["extra"]],
            )
    scores, extra_scores = out_of_fold(data, extra)
    if path is not None:
        path.write_text(
            json.dumps({"digest": key, "scores": scores, "extra": extra_scores}),
            encoding="utf-8",
        )
    return scores, extra_scores


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
        "--leave-one-writer-out",
        "--per-batch",
        dest="leave_one_writer_out",
        action="store_true",
        help="also print recall per concern and the hard negatives touched, each writer "
        "scored by a model trained without them at thresholds picked without them",
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
    if args.leave_one_writer_out:
        # Imported here: the report is built on this module's folds and thresholds.
        from moderation.writer_folds import despair_only, leave_one_writer_out

        scanner = Scanner()
        data = examples(records, scanner)
        despair = examples(despair_only(paths), scanner)
        scores, despair_scores = _scores(data, digest(records), args.scores, despair)
        report = leave_one_writer_out(data, scores, despair, despair_scores)
        print("leaving one writer out (" + ", ".join(CONCERNS) + " per writer):")
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
