"""Labelled moderation messages: the records the evaluation and the training read.

Two formats are parsed from their lines (the callers read the files):

- JSON Lines, one object per message (the corpus writers' format, see
  docs/moderation.md "Learned signal"): text, concern, family, evasive, identifier,
  locale, writer, batch.
- The older TSV corpus (`LABEL<TAB>TEXT`, LABEL "allow" or the rule ids the pipeline
  must produce); its rule ids are turned into concerns.

A message belongs to one or more concerns: crisis, abuse, medication_sale, contact; an
empty set means it should pass untouched ("none").
"""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

CONCERNS: tuple[str, ...] = ("crisis", "abuse", "medication_sale", "contact")
_KNOWN = frozenset((*CONCERNS, "none"))

# Rule ids of the TSV corpus, as concerns. Someone else at risk (crisis.others) is a
# message that should pass without a priority alert, not a statement of the sender's;
# a link to an unknown site is not an invitation to talk elsewhere.
_RULE_CONCERNS = {
    "crisis.suicidal": "crisis",
    "crisis.overdose": "crisis",
    "crisis.self_harm": "crisis",
    "crisis.method": "crisis",
    "crisis.hopeless": "crisis",
    "abuse.threat": "abuse",
    "abuse.slur": "abuse",
    "abuse.harassment": "abuse",
    "medication.offer": "medication_sale",
    "medication.share": "medication_sale",
    "medication.request": "medication_sale",
    "contact.phone": "contact",
    "contact.email": "contact",
    "contact.address": "contact",
    "contact.handle": "contact",
    "contact.invite": "contact",
}


@dataclass(frozen=True, slots=True)
class Record:
    text: str
    concerns: frozenset[str]  # empty: should pass untouched
    family: str = ""
    evasive: bool = False
    identifier: str | None = None  # the substring that must not stay visible
    writer: str = ""
    batch: str = ""

    @property
    def concern(self) -> str:
        """The message's main concern ("none" when it should pass)."""
        for concern in CONCERNS:
            if concern in self.concerns:
                return concern
        return "none"


def parse_jsonl(lines: Iterable[str], source: str = "") -> Iterator[Record]:
    """Records from JSON Lines; a malformed line raises ValueError naming it."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not JSON ({error.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ValueError(f"{where}: needs an object with a text")
        concern = item.get("concern")
        if concern not in _KNOWN:
            raise ValueError(f"{where}: unknown concern {concern!r}")
        identifier = item.get("identifier")
        yield Record(
            text=item["text"],
            concerns=frozenset() if concern == "none" else frozenset({concern}),
            family=str(item.get("family") or ""),
            evasive=bool(item.get("evasive")),
            identifier=identifier if isinstance(identifier, str) and identifier else None,
            writer=str(item.get("writer") or ""),
            batch=str(item.get("batch") or ""),
        )


def parse_tsv(lines: Iterable[str], writer: str, batch: str) -> Iterator[Record]:
    """Records from the TSV corpus (comment lines start with #)."""
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        label, _, text = line.partition("\t")
        rules = label.split(",")
        concerns = frozenset(_RULE_CONCERNS[r] for r in rules if r in _RULE_CONCERNS)
        family = "third_person" if "crisis.others" in rules else ""
        if rules == ["crisis.hopeless"]:
            # Despair without talk of dying: flagged by the lists (no priority), but not
            # what the corpus writers call crisis ("at risk now"), nor venting either.
            family = "hopeless"
        yield Record(text.replace("\\n", "\n"), concerns, family=family, writer=writer, batch=batch)
