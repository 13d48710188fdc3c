"""Word and phrase lists, compiled into one Aho-Corasick automaton over the canonical views.

Lists are data files, moderation/data/<name>.txt. Every list is compiled into a single
automaton (pyahocorasick), so one pass over a view finds every phrase of every list; a
room policy then decides which lists each stage honours. A pass costs a few microseconds
whatever the number of phrases.

The list files' format is read by moderation/wordlists.py; matching a message against
the compiled lists is moderation/scanning.py.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, NamedTuple, Protocol, cast

import ahocorasick  # type: ignore[import-not-found,unused-ignore]

from moderation.canonical import (
    decompose,
    words_view,
)
from moderation.wordlists import expand, parse_list

# Helper keys: not phrases, but signals that a derived view is worth building.
TRIPLE_KEY = 1  # three of one letter in a row ("fuuuck"): build the run-folded views
PAIR_KEY = 2  # two one-letter words in a row (" k y "): maybe a spaced-out word
ALPHABET = "abcdefghijkmnopqrstuvwxyz268*"  # the views' letters ("l" reads "i")


class _Automaton(Protocol):
    def add_word(self, key: str, value: object) -> bool: ...

    def make_automaton(self) -> None: ...

    def iter(self, string: str) -> Iterator[tuple[int, Any]]: ...


@dataclass(frozen=True, slots=True, eq=False)
class Entry:
    """One line (one side of a near line) of one list: what a matched key stands for."""

    list: str  # list file name, e.g. "crisis"
    section: str  # section name, e.g. "suicidal": the rule is "<stage>.<section>"
    pattern: str  # the line as written (after variables), for tests and debugging
    suppress: bool = False  # cancels overlapping hits of its list
    scope: str | None = None  # (suppress) only hits of this section
    subject: bool = False  # look back for who the phrase is about
    # Near rules: (rule id, side, max words between sides, number of sides)
    near: tuple[int, int, int, int] | None = None
    # Near rules: (rule id, side) of every side of the rule; it fires only if all occurred.
    rule_sides: frozenset[tuple[int, int]] = frozenset()


# A key found in a view: (entries, near-rule entries, view index, start, end, the (rule id,
# side) pairs of the near-rule entries). Expanded to Hits only when resolved, and near-rule
# sides only if every side of their rule occurred.
Match = tuple[tuple["Entry", ...], tuple["Entry", ...], int, int, int, frozenset[tuple[int, int]]]


class Hit(NamedTuple):
    entry: Entry
    view: int  # index into Scan.views
    start: int  # the phrase's span in that view, without the boundary spaces
    end: int


def _form(phrase: str) -> str:
    """A phrase folded like the words view (without the padding)."""
    return words_view(decompose(phrase)).strip()


def _variants(form: str, options: frozenset[str]) -> set[str]:
    """The folded spellings a phrase is matched in."""
    forms = {form}
    if " " in form:
        if "joined" in options and len(form.replace(" ", "")) >= 6:
            forms.add(form.replace(" ", ""))  # "killyourself", and spaced-out words joined
        return forms
    if "star" in options:
        vowels = [i for i, ch in enumerate(form) if ch in "aeiou"]
        forms.update(form[:i] + "*" + form[i + 1 :] for i in vowels)
        if len(vowels) > 1:
            forms.add("".join("*" if ch in "aeiou" else ch for ch in form))
    if "doubles" in options:
        forms.update(form[: i + 1] + form[i:] for i in range(len(form)) if form[i].isalpha())
    return forms


class Lexicon:
    """The compiled lists: one automaton and the entries its keys point at. Immutable."""

    def __init__(self, sources: dict[str, str]) -> None:
        keys: dict[str, dict[int, Entry]] = defaultdict(dict)
        self.lists = frozenset(sources)
        self.sections: dict[str, frozenset[str]] = {}
        # "before" suppressors are looked up by the words in front of a hit, not matched
        # as keys: they are common words ("not", "said") that would otherwise hit in
        # almost every message.
        self.before: dict[str, list[tuple[str | None, frozenset[str]]]] = {}
        self.before_words = 0
        self.before_ends: dict[str, frozenset[str]] = {}
        near_id = 0
        for name, source in sorted(sources.items()):
            sections: set[str] = set()
            before: dict[str | None, set[str]] = defaultdict(set)
            for line in parse_list(name, source):
                sections.add(line.section)
                if "before" in line.options:
                    for phrase in expand(line.text):
                        form = _form(phrase)
                        before[line.scope].add(form)
                        self.before_words = max(self.before_words, form.count(" ") + 1)
                    continue
                near_rule = line.near is not None
                sides = [s.strip() for s in line.text.split("&&")] if near_rule else [line.text]
                near_id += 1
                for side, pattern in enumerate(sides):
                    entry = Entry(
                        list=name,
                        section=line.section,
                        pattern=pattern,
                        suppress="suppress" in line.options,
                        scope=line.scope,
                        subject=line.subject,
                        near=(near_id, side, line.near or 0, len(sides)) if near_rule else None,
                        rule_sides=frozenset((near_id, k) for k in range(len(sides)))
                        if near_rule
                        else frozenset(),
                    )
                    for phrase in expand(pattern):
                        self._add(keys, name, line.options, phrase, entry)
            self.sections[name] = frozenset(sections)
            if before:
                self.before[name] = [(scope, frozenset(forms)) for scope, forms in before.items()]
                # The last word of every "before" phrase of the list: a hit whose previous
                # word is none of them follows no such phrase (nearly every hit).
                self.before_ends[name] = frozenset(
                    form.rsplit(" ", 1)[-1] for forms in before.values() for form in forms
                )
        automaton = cast(_Automaton, ahocorasick.Automaton())
        for key, entries in keys.items():
            lead, trail = key.startswith(" "), key.endswith(" ")
            plain = tuple(entry for entry in entries.values() if entry.near is None)
            near = tuple(entry for entry in entries.values() if entry.near is not None)
            # The (rule, side) pairs this key stands for: what its match makes present.
            near_sides = frozenset(
                (entry.near[0], entry.near[1]) for entry in near if entry.near is not None
            )
            automaton.add_word(key, (len(key), int(lead), int(trail), plain, near, near_sides))
        for ch in ALPHABET.replace("*", ""):
            # "i" stands for i and l, and "still", "i'll" read "stiii", "iii": four for i.
            automaton.add_word(ch * (4 if ch == "i" else 3), TRIPLE_KEY)
        for a in ALPHABET:
            for b in ALPHABET:
                automaton.add_word(f" {a} {b} ", PAIR_KEY)
        automaton.make_automaton()
        self.automaton = automaton
        self.key_count = len(keys)

    @staticmethod
    def _add(
        keys: dict[str, dict[int, Entry]],
        name: str,
        options: frozenset[str],
        phrase: str,
        entry: Entry,
    ) -> None:
        left = not phrase.startswith("*")
        right = not phrase.endswith("*")
        form = _form(phrase.strip("*").strip())
        if not form:
            raise ValueError(f"{name}.txt: phrase {phrase!r} has no letters or digits")
        for variant in _variants(form, options):
            key = (" " if left else "") + variant + (" " if right else "")
            keys[key][id(entry)] = entry

    def find(self, view: str, index: int, matches: list[Match]) -> tuple[bool, list[int] | None]:
        """Append the matches of one view. Returns whether a letter came three times in a
        row, and where runs of one-letter words are (None when there are none)."""
        triple = False
        pairs: list[int] | None = None
        for end, value in self.automaton.iter(view):
            if value.__class__ is int:
                if value == TRIPLE_KEY:
                    triple = True
                elif pairs is None:
                    pairs = [end]
                else:
                    pairs.append(end)
                continue
            length, lead, trail, plain, near, sides = value
            matches.append((plain, near, index, end - length + 1 + lead, end + 1 - trail, sides))
        return triple, pairs


def has_any(text: str, needles: tuple[str, ...]) -> bool:
    # A plain loop: any() with a generator costs more than the few substring scans.
    for needle in needles:  # noqa: SIM110
        if needle in text:
            return True
    return False


def read_list(name: str) -> str:
    return (resources.files("moderation") / "data" / f"{name}.txt").read_text(encoding="utf-8")


def default_sources() -> dict[str, str]:
    """Every list shipped in moderation/data, by name: what `default_lexicon` compiles."""
    from moderation.policy import available_lists

    return {name: read_list(name) for name in sorted(available_lists())}


@cache
def default_lexicon() -> "Lexicon":
    """Every list shipped in moderation/data, compiled once per process."""
    return Lexicon(default_sources())
