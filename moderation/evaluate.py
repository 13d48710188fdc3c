"""Score the full default pipeline on labelled messages, by what it does to each message.

    .venv/bin/python -m moderation.evaluate FILE.jsonl [FILE ...] [--json]

A command-line tool (it reads files; the pipeline never imports it). Every message goes
through `default_pipeline()` as its own member (10 minutes apart, so rate, duplicate and
raid memory never interfere) and is judged by its outcome, as members would notice it:

- crisis: a crisis alert was raised (flag or hold); how many were priority; how many
  were refused (must be none: crisis language is never blocked);
- abuse: refused, or facilitators alerted about abuse;
- medication sale: held for a facilitator with a medication alert;
- contact: caught (a contact or link verdict, or held) and the identifier no longer
  visible in what reached the room;
- hard negatives: dark pain idioms, jokes and resolved past crises given a priority
  crisis alert; venting and ordinary talk touched at all (any verdict).

Only aggregate figures are printed. For a held-out test batch that is the whole point:
nobody reads its misses. `--misses` lists the misses of training batches only, and
refuses files or batches named as tests.
"""

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from moderation.context import MessageContext
from moderation.corpus import Record, parse_jsonl, parse_tsv
from moderation.pipeline import Outcome, Pipeline, default_pipeline
from moderation.policy import ModerationPolicy
from moderation.verdict import Action

# Hard negatives that must not become a priority crisis alert (the issue's ≤ 5 % row).
DARK_FAMILIES = frozenset({"pain_idiom", "dark_joke", "resolved_past"})
# Talk about someone else, or the crisis line as a resource: a low-priority flag at most.
MENTION_FAMILIES = frozenset({"third_person", "crisis_resource"})
# Must pass untouched (the issue's ≤ 1 % row).
QUIET_FAMILIES = frozenset({"venting", "ordinary"})
OTHER_QUIET_FAMILIES = frozenset({"dose_talk", "reputable_link"})


@dataclass(frozen=True, slots=True)
class Judged:
    """What the pipeline did to one message, in the terms of the figures."""

    record: Record
    action: Action
    crisis: bool
    priority_crisis: bool
    abuse: bool
    medication_held: bool
    contact: bool
    identifier_visible: bool

    def caught(self) -> bool:
        concern = self.record.concern
        if concern == "crisis":
            return self.crisis
        if concern == "abuse":
            return self.abuse
        if concern == "medication_sale":
            return self.medication_held
        if concern == "contact":
            return self.contact and not self.identifier_visible
        return self.action is Action.ALLOW


def judge(outcome: Outcome, record: Record) -> Judged:
    verdicts = outcome.verdicts
    delivered = outcome.action not in (Action.BLOCK, Action.HOLD)
    visible = False
    if record.identifier is not None and delivered:
        visible = _squeezed(record.identifier) in _squeezed(outcome.text)
    return Judged(
        record=record,
        action=outcome.action,
        crisis=any(v.alert == "crisis" for v in verdicts),
        priority_crisis=any(v.alert == "crisis" and v.priority for v in verdicts),
        abuse=any(
            v.alert == "abuse" or (v.rule.startswith("abuse.") and v.rule != "abuse.swearing")
            for v in verdicts
        ),
        medication_held=outcome.action is Action.HOLD
        and any(v.alert == "medication" for v in verdicts),
        contact=any(v.alert in ("contact", "link") for v in verdicts) or not delivered,
        identifier_visible=visible,
    )


def _squeezed(text: str) -> str:
    return "".join(text.lower().split())


def run_all(records: Iterable[Record], pipeline: Pipeline | None = None) -> list[Judged]:
    pipeline = pipeline if pipeline is not None else default_pipeline()
    policy = ModerationPolicy()
    now = 1_800_000_000.0
    judged: list[Judged] = []
    for number, record in enumerate(records):
        now += 600.0
        ctx = MessageContext("evaluation", f"member-{number}", "member", record.text, now, policy)
        outcome = pipeline.run(ctx)
        pipeline.accept(outcome)
        judged.append(judge(outcome, record))
    return judged


@dataclass(frozen=True, slots=True)
class Rate:
    hits: int
    total: int

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    def __str__(self) -> str:
        value = self.value
        shown = "  —  " if value is None else f"{value:.3f}"
        return f"{shown} ({self.hits}/{self.total})"


def _rate(items: Sequence[Judged], test: Callable[[Judged], bool]) -> Rate:
    return Rate(sum(1 for item in items if test(item)), len(items))


def figures(judged: Sequence[Judged]) -> dict[str, Rate | int]:
    def of(concern: str, evasive: bool | None = None) -> list[Judged]:
        return [
            j
            for j in judged
            if j.record.concern == concern and (evasive is None or j.record.evasive == evasive)
        ]

    def families(names: frozenset[str]) -> list[Judged]:
        return [j for j in judged if j.record.concern == "none" and j.record.family in names]

    crisis = of("crisis")
    contact = of("contact")
    with_identifier = [j for j in judged if j.record.identifier is not None]
    out: dict[str, Rate | int] = {
        "crisis recall": _rate(crisis, lambda j: j.crisis),
        "crisis recall, evasive": _rate(of("crisis", True), lambda j: j.crisis),
        "crisis given a priority alert": _rate(crisis, lambda j: j.priority_crisis),
        "crisis messages refused (must be 0)": sum(1 for j in crisis if j.action is Action.BLOCK),
        "abuse recall (blocked or alerted)": _rate(of("abuse"), lambda j: j.abuse),
        "abuse recall, evasive": _rate(of("abuse", True), lambda j: j.abuse),
        "medication sale recall (held)": _rate(of("medication_sale"), lambda j: j.medication_held),
        "medication sale recall, evasive": _rate(
            of("medication_sale", True), lambda j: j.medication_held
        ),
        "contact recall (caught, identifier hidden)": _rate(contact, Judged.caught),
        "contact caught at all": _rate(contact, lambda j: j.contact),
        "contact recall, evasive": _rate(of("contact", True), Judged.caught),
        "identifier still visible (must be 0)": sum(
            1 for j in with_identifier if j.identifier_visible
        ),
        "dark idioms/jokes/resolved past: priority crisis": _rate(
            families(DARK_FAMILIES), lambda j: j.priority_crisis
        ),
        "dark idioms/jokes/resolved past: any crisis flag": _rate(
            families(DARK_FAMILIES), lambda j: j.crisis
        ),
        "third person/crisis line: priority crisis": _rate(
            families(MENTION_FAMILIES), lambda j: j.priority_crisis
        ),
        "venting and ordinary talk touched": _rate(
            families(QUIET_FAMILIES), lambda j: j.action is not Action.ALLOW
        ),
        "doses and reputable links touched": _rate(
            families(OTHER_QUIET_FAMILIES), lambda j: j.action is not Action.ALLOW
        ),
        "all 'none' messages touched": _rate(of("none"), lambda j: j.action is not Action.ALLOW),
    }
    none = of("none")
    out["'none' given a priority crisis alert"] = _rate(none, lambda j: j.priority_crisis)
    out["'none' refused as abuse"] = _rate(none, lambda j: j.abuse)
    out["'none' held as medication"] = _rate(none, lambda j: j.medication_held)
    return out


def read_records(path: Path) -> list[Record]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix == ".tsv":
        return list(parse_tsv(lines, writer="tsv", batch=path.stem))
    return list(parse_jsonl(lines, source=str(path)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moderation.evaluate", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--misses", action="store_true", help="list misses (training batches only, never tests)"
    )
    args = parser.parse_args(argv)
    records = [record for path in args.files for record in read_records(path)]
    if args.misses and (
        any("test" in path.name for path in args.files)
        or any("test" in record.batch for record in records)
    ):
        parser.error("--misses is for training batches: a test batch's misses are never read")
    judged = run_all(records)
    table = figures(judged)
    if args.json:
        print(json.dumps({k: getattr(v, "value", v) for k, v in table.items()}, indent=1))
    else:
        print(f"{len(records)} messages from {', '.join(str(p) for p in args.files)}")
        for name, value in table.items():
            print(f"  {name:52} {value}")
    if args.misses:
        for item in judged:
            if not item.caught():
                print(f"MISS {item.record.concern}/{item.record.family}: {item.record.text!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
