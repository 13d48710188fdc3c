"""Word and phrase lists, compiled into one Aho-Corasick automaton over the canonical views.

Lists are data files, moderation/data/<name>.txt. Every list is compiled into a single
automaton (pyahocorasick), so one pass over each view finds every phrase of every list;
a room policy then decides which lists each stage honours. Matching costs a few
microseconds whatever the number of phrases.

List file format (see docs/moderation.md):

    # a comment
    @drug = oxy|oxycodone|{hydro|hydrocodone}     a variable, used as @drug
    [section option ...]                          rule name (the stage prefixes it)
    {i|i really} {want|wanna} to die              a phrase; {a|b|} alternatives
    =ass                                          = : strict (see below)
    ?attempted suicide                            ? : the crisis stage looks back for
                                                      the subject (I / my friend)
    suicid*                                       * : no word boundary on that side
    selling && @drug                              (near=N sections) both within N words

Section options: suppress (hits inside a longer suppress phrase are dropped: negations,
idioms), strict (no repeated-letter folding: "ass" must not match "as"), star (also match
with one vowel or all vowels masked: "n*gger"), doubles (also match with one letter doubled:
"fuuck"), near=N (co-occurrence rules, "A && B" lines), subject (every phrase is "?").
"""

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Protocol, cast

import ahocorasick  # type: ignore[import-not-found,unused-ignore]

from moderation.canonical import (
    MappedView,
    collapse,
    decompose,
    dedup,
    join_spaced,
    leet_view,
    mapped_base,
    visual_order,
    words_view,
)
from moderation.context import MessageContext
from moderation.verdict import ALLOW, Verdict

# Helper keys: not phrases, but signals that a derived view is worth building.
_TRIPLE = 1  # three of one letter in a row ("fuuuck"): build the dedup views
_PAIR = 2  # two one-letter words in a row (" k y "): maybe a spaced-out word
_ALPHABET = "abcdefghijkmnopqrstuvwxyz268*"  # the leet view's letters ("l" reads "i")

_NEAR = re.compile(r"^near=(\d+)$")
_SECTION = re.compile(r"^\[([a-z][a-z0-9_]*)((?:\s+[a-z]+(?:=\d+)?)*)\s*\]$")
_VARIABLE = re.compile(r"^@([a-z][a-z0-9_]*)\s*=\s*(.+)$")
_REFERENCE = re.compile(r"@([a-z][a-z0-9_]*)")
_OPTIONS = frozenset({"suppress", "before", "strict", "star", "doubles", "subject", "joined"})


class _Automaton(Protocol):
    def add_word(self, key: str, value: object) -> bool: ...

    def make_automaton(self) -> None: ...

    def iter(self, string: str) -> Iterator[tuple[int, Any]]: ...


@dataclass(frozen=True, slots=True, eq=False)
class Entry:
    """One compiled phrase of one list section."""

    list: str  # list file name, e.g. "crisis"
    section: str  # section name, e.g. "suicidal": the rule is "<stage>.<section>"
    phrase: str  # the phrase as written (after expansion), for tests and debugging
    suppress: bool = False  # cancels overlapping hits of its list
    before: bool = False  # (with suppress) cancels only hits that start right after it
    subject: bool = False
    verify: re.Pattern[str] | None = None  # strict phrases matched in folded form
    # Near rules: (rule id, side, max words between sides, number of sides)
    near: tuple[int, int, int, int] | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    entry: Entry
    view: int  # index into Scan.views
    start: int  # the phrase's span in that view, without the boundary spaces
    end: int


# --------------------------------------------------------------------------- parsing


def expand(pattern: str) -> list[str]:
    """All phrases a pattern stands for: "{a|b|} c" → ["a c", "b c", "c"]."""
    open_at = pattern.find("{")
    if open_at < 0:
        if "}" in pattern or "|" in pattern:
            raise ValueError(f"unbalanced braces in {pattern!r}")
        return [" ".join(pattern.split())]
    depth = 0
    parts: list[str] = []
    last = open_at + 1
    close_at = -1
    for i in range(open_at, len(pattern)):
        ch = pattern[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                close_at = i
                break
        elif ch == "|" and depth == 1:
            parts.append(pattern[last:i])
            last = i + 1
    if close_at < 0:
        raise ValueError(f"unbalanced braces in {pattern!r}")
    parts.append(pattern[last:close_at])
    head, tail = pattern[:open_at], pattern[close_at + 1 :]
    out: list[str] = []
    for part in parts:
        out.extend(expand(head + part + tail))
    return [phrase for phrase in out if phrase]


@dataclass(frozen=True, slots=True)
class _Line:
    section: str
    options: frozenset[str]
    near: int | None  # N for a near=N section
    text: str
    strict: bool
    subject: bool


def parse_list(name: str, source: str) -> list[_Line]:
    """Parse a list file into phrase lines (variables substituted, not yet expanded)."""
    variables: dict[str, str] = {}
    section: str | None = None
    options: frozenset[str] = frozenset()
    near: int | None = None
    lines: list[_Line] = []

    def substitute(text: str, number: int) -> str:
        def lookup(match: re.Match[str]) -> str:
            if match.group(1) not in variables:
                raise ValueError(f"{name}.txt line {number}: unknown variable @{match.group(1)}")
            return variables[match.group(1)]

        return _REFERENCE.sub(lookup, text)

    for number, raw in enumerate(source.splitlines(), 1):
        line = raw.split(" # ", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if variable := _VARIABLE.match(line):
            variables[variable.group(1)] = "{" + substitute(variable.group(2), number) + "}"
            continue
        if header := _SECTION.match(line):
            section = header.group(1)
            words = header.group(2).split()
            near = None
            plain_options = set()
            for word in words:
                if match := _NEAR.match(word):
                    near = int(match.group(1))
                elif word in _OPTIONS:
                    plain_options.add(word)
                else:
                    raise ValueError(f"{name}.txt line {number}: unknown section option {word}")
            options = frozenset(plain_options)
            continue
        if section is None:
            raise ValueError(f"{name}.txt line {number}: phrase before any [section]")
        strict = subject = False
        while line[:1] in ("=", "?"):
            strict |= line[0] == "="
            subject |= line[0] == "?"
            line = line[1:].lstrip()
        if near is not None and "&&" not in line:
            raise ValueError(f"{name}.txt line {number}: near sections need 'A && B' lines")
        lines.append(
            _Line(
                section,
                options,
                near,
                substitute(line, number),
                strict or "strict" in options,
                subject or "subject" in options,
            )
        )
    return lines


# -------------------------------------------------------------------------- compiling


def _form(phrase: str) -> str:
    """A phrase folded like the words view (without the padding)."""
    return words_view(decompose(phrase)).strip()


def _verify_pattern(form: str, left: bool, right: bool) -> re.Pattern[str]:
    """Matches `form` with any letter repeated, but no doubled letter made single."""
    parts = []
    for match in re.finditer(r"(.)\1*", form):
        ch, n = re.escape(match.group(1)), len(match.group(0))
        parts.append(" +" if match.group(1) == " " else (f"{ch}{{{n},}}" if n > 1 else f"{ch}+"))
    return re.compile(("(?<= )" if left else "") + "".join(parts) + ("(?= )" if right else ""))


def _variants(form: str, line: _Line) -> Iterator[tuple[str, re.Pattern[str] | None]]:
    """The folded spellings a phrase is matched in, each with its verify pattern."""
    forms = {form}
    if "joined" in line.options and " " in form and len(form.replace(" ", "")) >= 6:
        forms.add(form.replace(" ", ""))  # "killyourself", and spaced-out words joined
    if " " not in form and "star" in line.options:
        vowels = [i for i, ch in enumerate(form) if ch in "aeiou"]
        forms.update(form[:i] + "*" + form[i + 1 :] for i in vowels)
        if len(vowels) > 1:
            forms.add("".join("*" if ch in "aeiou" else ch for ch in form))
    if " " not in form and "doubles" in line.options:
        forms.update(form[: i + 1] + form[i:] for i in range(len(form)) if form[i].isalpha())
    for variant in forms:
        yield variant, None
        folded = collapse(variant)
        if folded != variant:
            # Repeated letters: matched in the dedup1 view. A strict phrase must show every
            # doubled letter it has ("nigger" is not "Niger", "ass" is not "as").
            yield folded, (_verify_pattern(variant, True, True) if line.strict else None)


class Lexicon:
    """The compiled lists: one automaton and the entries its keys point at. Immutable."""

    def __init__(self, sources: dict[str, str]) -> None:
        keys: dict[str, dict[tuple[object, ...], Entry]] = defaultdict(dict)
        self.lists = frozenset(sources)
        self.sections: dict[str, frozenset[str]] = {}
        near_id = 0
        for name, source in sorted(sources.items()):
            sections: set[str] = set()
            for line in parse_list(name, source):
                sections.add(line.section)
                near_rule = line.near is not None
                sides = [s.strip() for s in line.text.split("&&")] if near_rule else [line.text]
                near_id += 1
                for side, pattern in enumerate(sides):
                    for phrase in expand(pattern):
                        near = (near_id, side, line.near or 0, len(sides)) if near_rule else None
                        self._add(keys, name, line, phrase, near)
            self.sections[name] = frozenset(sections)
        automaton = cast(_Automaton, ahocorasick.Automaton())
        for key, entries in keys.items():
            lead, trail = key.startswith(" "), key.endswith(" ")
            automaton.add_word(key, (len(key), int(lead), int(trail), tuple(entries.values())))
        for ch in _ALPHABET.replace("*", ""):
            # "i" stands for i and l, and "still", "i'll" read "stiii", "iii": four for i.
            automaton.add_word(ch * (4 if ch == "i" else 3), _TRIPLE)
        for a in _ALPHABET:
            for b in _ALPHABET:
                automaton.add_word(f" {a} {b} ", _PAIR)
        automaton.make_automaton()
        self.automaton = automaton
        self.key_count = len(keys)

    @staticmethod
    def _add(
        keys: dict[str, dict[tuple[object, ...], Entry]],
        name: str,
        line: _Line,
        phrase: str,
        near: tuple[int, int, int, int] | None,
    ) -> None:
        left = not phrase.startswith("*")
        right = not phrase.endswith("*")
        form = _form(phrase.strip("*").strip())
        if not form:
            raise ValueError(f"{name}.txt: phrase {phrase!r} has no letters or digits")
        for variant, verify in _variants(form, line):
            key = (" " if left else "") + variant + (" " if right else "")
            entry = Entry(
                list=name,
                section=line.section,
                phrase=phrase,
                suppress="suppress" in line.options,
                before="before" in line.options,
                subject=line.subject,
                verify=verify,
                near=near,
            )
            ident = (name, line.section, entry.suppress, entry.subject, near)
            known = keys[key].get(ident)
            # Keep the looser entry when two spellings meet (no verify beats verify).
            if known is None or (known.verify is not None and verify is None):
                keys[key][ident] = entry

    def find(self, view: str, index: int, hits: list[Hit], signals: list[tuple[int, int]]) -> None:
        """Append the hits of one view; helper signals go to `signals` as (kind, end)."""
        for end, value in self.automaton.iter(view):
            if value.__class__ is int:
                signals.append((value, end))
                continue
            length, lead, trail, entries = value
            start = end - length + 1 + lead
            stop = end + 1 - trail
            for entry in entries:
                hits.append(Hit(entry, index, start, stop))


def read_list(name: str) -> str:
    return (resources.files("moderation") / "data" / f"{name}.txt").read_text(encoding="utf-8")


@cache
def default_lexicon() -> "Lexicon":
    """Every list shipped in moderation/data, compiled once per process."""
    from moderation.policy import available_lists

    return Lexicon({name: read_list(name) for name in sorted(available_lists())})


# ----------------------------------------------------------------------------- scanning

_WORDS, _LEET, _DEDUP1, _DEDUP2, _JOINED, _VISUAL_WORDS, _VISUAL_LEET = range(7)


class Scan:
    """The views of one text and every phrase found in them."""

    __slots__ = (
        "_lexicon",
        "_mapped",
        "_order",
        "_resolved",
        "hits",
        "leet_index",
        "recipes",
        "text",
        "views",
    )

    def __init__(self, lexicon: Lexicon, text: str) -> None:
        self._lexicon = lexicon
        self.text = text
        decomposed = decompose(text)
        words = words_view(decomposed)
        leet = leet_view(decomposed)
        # recipes[i] = (how view i was made, the view it was made from)
        self.views: list[str] = [words]
        self.recipes: list[tuple[int, int]] = [(_WORDS, -1)]
        if leet != words:
            self.views.append(leet)
            self.recipes.append((_LEET, -1))
        self.leet_index = len(self.views) - 1
        self.hits: list[Hit] = []
        signals: list[tuple[int, int]] = []
        lexicon.find(words, 0, self.hits, signals)
        # Triples count in the words view ("!!!" reads "iii" in the leet view); pairs in
        # the leet view, where "k ! s" reads "k i s".
        triple = any(kind == _TRIPLE for kind, _ in signals)
        if self.leet_index:
            signals = []
            lexicon.find(leet, 1, self.hits, signals)
        pairs = {end for kind, end in signals if kind == _PAIR}
        self._order = visual_order(text)
        self._resolved: dict[str, list[Hit]] | None = None
        self._mapped: list[MappedView] | None = None
        spaced = any(end + 2 in pairs for end in pairs)
        if triple or spaced or self._order is not None:
            self._add_derived(triple, spaced)

    def _add_derived(self, triple: bool, spaced: bool) -> None:
        leet_index = self.leet_index
        leet = self.views[leet_index]
        wanted: list[tuple[int, int, str]] = []
        if triple:
            wanted.append((_DEDUP1, leet_index, dedup(leet, 1)[0]))
            wanted.append((_DEDUP2, leet_index, dedup(leet, 2)[0]))
        if spaced:
            wanted.append((_JOINED, leet_index, join_spaced(leet)[0]))
        if self._order is not None:
            visual = "".join(self.text[i] for i in self._order)
            decomposed = decompose(visual)
            wanted.append((_VISUAL_WORDS, -1, words_view(decomposed)))
            wanted.append((_VISUAL_LEET, -1, leet_view(decomposed)))
        ignored: list[tuple[int, int]] = []
        for recipe, base, view in wanted:
            if view in self.views:
                continue
            self.views.append(view)
            self.recipes.append((recipe, base))
            self._lexicon.find(view, len(self.views) - 1, self.hits, ignored)

    @property
    def key(self) -> str:
        """The text with case, spacing, punctuation and disguises gone: for duplicates."""
        return self.views[self.leet_index].replace(" ", "")

    def hits_for(self, lists: Iterable[str]) -> list[Hit]:
        """Hits of the given lists, after verify, containment and suppress rules."""
        if self._resolved is None:
            self._resolved = _resolve(self.hits, self.views, self.recipes)
        wanted = set(lists)
        return [hit for hit in self._resolved_hits() if hit.entry.list in wanted]

    def _resolved_hits(self) -> list[Hit]:
        assert self._resolved is not None
        out: list[Hit] = []
        for hits in self._resolved.values():
            out.extend(hits)
        return out

    def mapped(self) -> list[MappedView]:
        """The views with original-text spans, built on demand (for masking)."""
        if self._mapped is None:
            mapped: list[MappedView] = []
            for recipe, base in self.recipes:
                if recipe in (_WORDS, _LEET):
                    view = mapped_base(self.text, recipe == _LEET)
                elif recipe in (_VISUAL_WORDS, _VISUAL_LEET):
                    view = mapped_base(self.text, recipe == _VISUAL_LEET, self._order)
                else:
                    source = mapped[base]
                    if recipe == _JOINED:
                        result = join_spaced(source.text, source)[1]
                    else:
                        result = dedup(source.text, 1 if recipe == _DEDUP1 else 2, source)[1]
                    assert result is not None
                    view = result
                mapped.append(view)
            self._mapped = mapped
        return self._mapped

    def original_spans(self, hits: Sequence[Hit]) -> list[tuple[int, int]]:
        """Where the hits are in the original text (merged, sorted)."""
        mapped = self.mapped()
        spans: list[tuple[int, int]] = []
        for hit in hits:
            view = mapped[hit.view]
            if view.text != self.views[hit.view]:
                # Cannot happen if the mapped builders mirror the fast ones (tested); if
                # it does, find the phrase again in the mapped view.
                found = view.text.find(self.views[hit.view][hit.start : hit.end])
                if found < 0:
                    continue
                spans.append(view.span(found, found + hit.end - hit.start))
            else:
                spans.append(view.span(hit.start, hit.end))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged


def _resolve(
    hits: list[Hit], views: list[str], recipes: list[tuple[int, int]]
) -> dict[str, list[Hit]]:
    by_list: dict[str, list[Hit]] = defaultdict(list)
    for hit in hits:
        verify = hit.entry.verify
        if verify is not None and not any(
            verify.search(view)
            for view, (recipe, _) in zip(views, recipes, strict=True)
            if recipe != _DEDUP1
        ):
            continue
        by_list[hit.entry.list].append(hit)
    resolved: dict[str, list[Hit]] = {}
    for name, found in by_list.items():
        suppressors = [hit for hit in found if hit.entry.suppress]
        phrases = [hit for hit in found if not hit.entry.suppress]
        resolved[name] = [
            hit
            for hit in phrases
            if not _contained(hit, phrases) and not _suppressed(hit, suppressors)
        ]
    return resolved


def _contained(hit: Hit, others: list[Hit]) -> bool:
    """A longer phrase of the same list covers this one: the longer one decides."""
    size = hit.end - hit.start
    return any(
        other.view == hit.view
        and other.start <= hit.start
        and hit.end <= other.end
        and other.end - other.start > size
        for other in others
    )


def _suppressed(hit: Hit, suppressors: list[Hit]) -> bool:
    for other in suppressors:
        if other.view != hit.view:
            continue
        if other.entry.before:
            if other.end + 1 == hit.start:
                return True
        elif (
            other.start < hit.end
            and hit.start < other.end
            and not (hit.start <= other.start and other.end <= hit.end)
        ):
            return True
    return False


def words_between(view: str, first: Hit, second: Hit) -> int:
    """How many words lie between two hits in one view (0 when adjacent or overlapping)."""
    if first.end <= second.start:
        return view.count(" ", first.end, second.start) - 1
    if second.end <= first.start:
        return view.count(" ", second.end, first.start) - 1
    return 0


def near_rules(scan: Scan, hits: Sequence[Hit]) -> list[Hit]:
    """For near=N sections: one hit per rule that fired, spanning from its first side to
    its last (with the first side's entry).

    Two sides may come in either order within N words; three or more must come in the
    order written, each within N words of the one before.
    """
    groups: dict[int, list[list[Hit]]] = {}
    for hit in hits:
        if hit.entry.near is not None:
            rule, side, _, count = hit.entry.near
            groups.setdefault(rule, [[] for _ in range(count)])[side].append(hit)
    fired: list[Hit] = []
    for sides in groups.values():
        if any(not side for side in sides):
            continue
        first = sides[0][0].entry.near
        assert first is not None
        distance = first[2]
        for start in sides[0]:
            chain = [start]
            frontier = [start]
            for later in sides[1:]:
                frontier = [
                    b
                    for b in later
                    if any(
                        a.view == b.view
                        and (len(sides) == 2 or a.end <= b.start)
                        and words_between(scan.views[a.view], a, b) <= distance
                        for a in frontier
                    )
                ]
                if not frontier:
                    break
                chain.append(frontier[0])
            if frontier:
                fired.append(
                    Hit(
                        start.entry,
                        start.view,
                        min(hit.start for hit in chain),
                        max(hit.end for hit in chain),
                    )
                )
                break
    return fired


class Scanner:
    """Scans text against a lexicon, remembering the last text (stages share one scan).

    One Scanner per pipeline: the canonical stage scans each message once and the
    matching stages after it reuse the scan (a stage that rewrites the text makes the
    next one scan the new text).
    """

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon if lexicon is not None else default_lexicon()
        self._last: Scan | None = None

    def scan(self, text: str) -> Scan:
        last = self._last
        if last is not None and (last.text is text or last.text == text):
            return last
        scan = Scan(self.lexicon, text)
        self._last = scan
        return scan


__all__ = [
    "CanonicalStage",
    "Entry",
    "Hit",
    "Lexicon",
    "Scan",
    "Scanner",
    "default_lexicon",
    "expand",
    "near_rules",
    "parse_list",
    "words_between",
]


class CanonicalStage:
    """Canonical text (DESIGN §4): builds the matching views of the message once, for the
    stages after it. For matching only — it never changes the delivered text."""

    name = "canonical"

    def __init__(self, scanner: Scanner | None = None) -> None:
        self.scanner = scanner if scanner is not None else Scanner()

    def check(self, ctx: MessageContext) -> Verdict:
        self.scanner.scan(ctx.text)
        return ALLOW
