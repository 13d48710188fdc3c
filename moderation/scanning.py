"""Scanning a message against the compiled lexicon: its canonical views built once (Scan),
every list's hits resolved (suppressions, containment, subjects, near rules), shared by
the stages of one pipeline (Scanner, CanonicalStage)."""

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from moderation.canonical import (
    LEET_SYMBOLS,
    MappedView,
    decompose,
    dedup,
    join_spaced,
    leet_view,
    mapped_base,
    raw_view,
    run_spans,
    skeleton,
    skeleton_mapped,
    visual_order,
    word_spans,
    words_view,
)
from moderation.context import MessageContext
from moderation.lexicon import (
    ALPHABET,
    Entry,
    Hit,
    Lexicon,
    Match,
    default_lexicon,
    has_any,
)
from moderation.verdict import ALLOW, Verdict

# Numbers read as letters in the views ("555" reads "sss", "1000mg" "iooomg"), and a
# repeated digit in a number is no disguised word: building the run-folded views for it
# cost ~25 us a message (phone numbers, doses, years, "£1000"). A number here is a run of
# digits at the start of a word; digits inside a word ("n1gg3333r", "k1111") still count.
_NUMBER_TRIPLE = re.compile(r"(?<!\w)\d*(\d)\1\1")
_LEADING_NUMBER = re.compile(r"(?<!\w)\d+")
# What a TRIPLE_KEY key is (Lexicon.__init__): a view letter three times, "i" four times.
_VIEW_TRIPLE = re.compile("([" + ALPHABET.replace("*", "").replace("i", "") + r"])\1\1|iiii")


def _triple_outside_numbers(decomposed: str) -> bool:
    """Whether the words view has a TRIPLE_KEY once numbers are taken out of the text."""
    return _VIEW_TRIPLE.search(words_view(_LEADING_NUMBER.sub(" ", decomposed))) is not None


# How each view of a Scan was made (recipes): the two base views, the run-folded views
# (from the raw words or leet view), the joined views and the display-order views.
_WORDS, _LEET, _RUNS1, _RUNS2, _JOINED, _JOINED_AFTER_WORD, _VISUAL_WORDS, _VISUAL_LEET = range(8)


class Scan:
    """The views of one text and every phrase found in them."""

    __slots__ = (
        "_by_list",
        "_effective",
        "_lexicon",
        "_mapped",
        "_matches",
        "_order",
        "_resolved",
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
        # The leet view differs only where symbols stand for letters.
        leet = leet_view(decomposed) if has_any(decomposed, LEET_SYMBOLS) else words
        # recipes[i] = (how view i was made, whether from the leet side)
        self.views: list[str] = [words]
        self.recipes: list[tuple[int, bool]] = [(_WORDS, False)]
        if leet != words:
            self.views.append(leet)
            self.recipes.append((_LEET, True))
        self.leet_index = len(self.views) - 1
        self._matches: list[Match] = []
        # Triples count in the words view ("!!!" reads "iii" in the leet view); pairs in
        # the leet view, where "k ! s" reads "k i s".
        triple, pairs = lexicon.find(words, 0, self._matches)
        if triple and _NUMBER_TRIPLE.search(decomposed):
            triple = _triple_outside_numbers(decomposed)
        if self.leet_index:
            pairs = lexicon.find(leet, 1, self._matches)[1]
        self._order = visual_order(text)
        # Filled on demand, one list at a time: a list no stage asks about (swearing when
        # the room does not mask it, everything after a refusal) is never resolved.
        self._by_list: dict[str, list[Hit]] | None = None
        self._resolved: dict[str, list[Hit]] = {}
        self._effective: dict[tuple[str, ...], list[Hit]] = {}
        self._mapped: dict[int, MappedView] | None = None
        spaced = pairs is not None and len(pairs) > 1 and any(end + 2 in pairs for end in pairs)
        if triple or spaced or self._order is not None:
            self._add_derived(decomposed, triple, spaced)

    def _add_derived(self, decomposed: str, triple: bool, spaced: bool) -> None:
        wanted: list[tuple[int, bool, str]] = []
        if triple:
            for leet in {False, self.leet_index > 0}:
                raw = raw_view(decomposed, leet)
                runs = run_spans(raw)
                wanted.append((_RUNS1, leet, skeleton(dedup(raw, 1, runs=runs)[0])))
                wanted.append((_RUNS2, leet, skeleton(dedup(raw, 2, runs=runs)[0])))
        if spaced:
            leet_view_text = self.views[self.leet_index]
            wanted.append((_JOINED, True, join_spaced(leet_view_text)[0]))
            wanted.append(
                (_JOINED_AFTER_WORD, True, join_spaced(leet_view_text, after_word=True)[0])
            )
        if self._order is not None:
            visual = decompose("".join(self.text[i] for i in self._order))
            wanted.append((_VISUAL_WORDS, False, words_view(visual)))
            wanted.append((_VISUAL_LEET, True, leet_view(visual)))
        for recipe, leet, view in wanted:
            if view in self.views:
                continue
            self.views.append(view)
            self.recipes.append((recipe, leet))
            self._lexicon.find(view, len(self.views) - 1, self._matches)

    @property
    def hits(self) -> list[Hit]:
        """Every phrase found, before any resolution (for tests and debugging)."""
        return [
            Hit(entry, view, start, end)
            for plain, near, view, start, end, _ in self._matches
            for entry in (*plain, *near)
        ]

    @property
    def key(self) -> str:
        """The text with case, spacing, punctuation and disguises gone: for duplicates."""
        return self.views[self.leet_index].replace(" ", "")

    def hits_for(self, lists: Iterable[str]) -> list[Hit]:
        """Hits of the given lists, after the containment and suppress rules."""
        if not self._matches:
            return []
        by_list = self._by_list
        if by_list is None:
            by_list = self._by_list = _group_by_list(self._matches)
        if not by_list:
            return []  # only sides of near rules whose other sides never occurred
        resolved = self._resolved
        out: list[Hit] = []
        for name in lists:
            hits = resolved.get(name)
            if hits is None:
                found = by_list.get(name)
                hits = _resolve_list(self._lexicon, name, found, self.views) if found else []
                resolved[name] = hits
            out.extend(hits)
        return out

    def effective(self, lists: tuple[str, ...]) -> list[Hit]:
        """`effective(self, lists)`, remembered: several stages ask for the same lists
        (the abuse stage re-reads the crisis hits), and near rules cost a pass each.
        The list returned is shared: callers must not change it."""
        found = self._effective.get(lists)
        if found is not None:
            return found
        by_list = self._by_list
        if by_list is None and self._matches:
            by_list = self._by_list = _group_by_list(self._matches)
        # Most questions are about lists with no hit at all (the contact list in a crisis
        # message): answered without resolving anything.
        if not by_list:
            found = self._effective[lists] = []
            return found
        for name in lists:  # (a plain loop: a generator costs more than the few tests)
            if name in by_list:
                break
        else:
            found = self._effective[lists] = []
            return found
        hits = self.hits_for(lists)
        if hits:
            plain = [hit for hit in hits if hit.entry.near is None]
            # near_rules only when a side of a rule is among the hits (a list's near
            # sides are dropped unless every side of their rule occurred).
            hits = plain + near_rules(self, hits) if len(plain) < len(hits) else plain
        found = self._effective[lists] = hits
        return found

    def mapped(self, index: int) -> MappedView:
        """View `index` with original-text spans, built on demand (for masking)."""
        if self._mapped is None:
            self._mapped = {}
        view = self._mapped.get(index)
        if view is not None:
            return view
        recipe, leet = self.recipes[index]
        if recipe in (_WORDS, _LEET):
            view = mapped_base(self.text, leet)
        elif recipe in (_VISUAL_WORDS, _VISUAL_LEET):
            view = mapped_base(self.text, leet, self._order)
        elif recipe in (_RUNS1, _RUNS2):
            raw = mapped_base(self.text, leet, raw=True)
            folded = dedup(raw.text, 1 if recipe == _RUNS1 else 2, raw)[1]
            assert folded is not None
            view = skeleton_mapped(folded)
        else:
            source = self.mapped(self.leet_index)
            after_word = recipe == _JOINED_AFTER_WORD
            joined = join_spaced(source.text, source, after_word=after_word)[1]
            assert joined is not None
            view = joined
        self._mapped[index] = view
        return view

    def original_spans(self, hits: Sequence[Hit]) -> list[tuple[int, int]]:
        """Where the hits are in the original text (merged, sorted)."""
        spans: list[tuple[int, int]] = []
        # A phrase found in a base view needs no derived view mapped for it (mapping a
        # derived view means mapping the text character by character); only occurrences
        # that the base view of the same side (words or leet) does not show are mapped
        # from a derived view. Counted per derived view: the same phrase seen in the
        # run-folded views of both sides is still the base views' occurrence, not a new one.
        in_base: dict[tuple[Entry, str, bool], int] = defaultdict(int)
        for hit in hits:
            recipe, leet = self.recipes[hit.view]
            if recipe in (_WORDS, _LEET):
                phrase = self.views[hit.view][hit.start : hit.end]
                in_base[hit.entry, phrase, leet] += 1
                if not self.leet_index:  # one base view serves both sides
                    in_base[hit.entry, phrase, True] += 1
        shown: dict[tuple[Entry, str, int], int] = defaultdict(int)
        for hit in hits:
            recipe, leet = self.recipes[hit.view]
            if recipe not in (_WORDS, _LEET):
                phrase = self.views[hit.view][hit.start : hit.end]
                shown[hit.entry, phrase, hit.view] += 1
                if shown[hit.entry, phrase, hit.view] <= in_base[hit.entry, phrase, leet]:
                    continue
            if recipe in (_WORDS, _LEET) and self.text.isascii():
                # Whole words of a base view are whole tokens of the text: find them by
                # counting tokens, without mapping every character.
                spans.append(word_spans(self.text, leet, self.views[hit.view], hit.start, hit.end))
                continue
            view = self.mapped(hit.view)
            if view.text == self.views[hit.view]:
                spans.append(view.span(hit.start, hit.end))
                continue
            # Cannot happen while the mapped builders mirror the fast ones (tested); if it
            # does, find the phrase again in the mapped view.
            found = view.text.find(self.views[hit.view][hit.start : hit.end])
            if found >= 0:
                spans.append(view.span(found, found + hit.end - hit.start))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged


def _group_by_list(matches: list[Match]) -> dict[str, list[Hit]]:
    """The hits of every list, before resolution."""
    # A side of a near rule matters only if every side of its rule occurred somewhere:
    # drop the others first (drug names are sides of many rules and common in pain talk).
    # Set operations on precomputed (rule, side) pairs keep this out of Python loops.
    present: set[tuple[int, int]] = set()
    for match in matches:
        if match[5]:
            present |= match[5]
    by_list: dict[str, list[Hit]] = defaultdict(list)
    for plain, near_entries, view, start, end, _ in matches:
        for entry in plain:
            by_list[entry.list].append(_new_hit(Hit, (entry, view, start, end)))
        for entry in near_entries:
            if entry.rule_sides <= present:
                by_list[entry.list].append(_new_hit(Hit, (entry, view, start, end)))
    return by_list


# Hit(...) without its Python-level __new__ (a namedtuple's is a generated function): the
# same tuple, made in C. A dirty message makes a dozen or more here.
_new_hit = tuple.__new__


def _resolve_list(lexicon: Lexicon, name: str, found: list[Hit], views: list[str]) -> list[Hit]:
    """One list's hits after the containment, suppress and "before" rules."""
    before = lexicon.before.get(name)
    if len(found) == 1 and not before:
        # nothing can contain, suppress or precede a lone phrase; a lone suppressor is
        # dropped
        return [] if found[0].entry.suppress else found.copy()
    suppressors = [hit for hit in found if hit.entry.suppress]
    phrases = [hit for hit in found if not hit.entry.suppress]
    if len(phrases) < 2 and not suppressors and not before:
        return phrases  # nothing can contain, suppress or precede a lone phrase
    # Whether a hit is kept depends only on its view, span and section, and hits often
    # share all four (one key stands for several entries; a phrase and the near-rule
    # sides it is part of): decide once per (view, start, end, section).
    covers = {(hit.view, hit.start, hit.end) for hit in phrases if hit.entry.near is None}
    decided: dict[tuple[int, int, int, str], bool] = {}
    kept: list[Hit] = []
    for hit in phrases:
        key = (hit.view, hit.start, hit.end, hit.entry.section)
        keep = decided.get(key)
        if keep is None:
            keep = decided[key] = (
                not _covered(hit, covers)
                and not _suppressed(hit, suppressors)
                and not (
                    before
                    and _after_any(
                        views[hit.view],
                        hit,
                        before,
                        lexicon.before_words,
                        lexicon.before_ends[name],
                    )
                )
            )
        if keep:
            kept.append(hit)
    return kept


def _contained(hit: Hit, others: list[Hit], fired: bool = False) -> bool:
    """A longer phrase of the same list covers this one: the longer one decides.

    One side of a near rule only counts if the whole rule fires, so it covers nothing
    (near_rules settles overlaps between rules that fired).
    """
    size = hit.end - hit.start
    return any(
        other.view == hit.view
        and (fired or other.entry.near is None)
        and other.start <= hit.start
        and hit.end <= other.end
        and other.end - other.start > size
        for other in others
    )


def _covered(hit: Hit, covers: set[tuple[int, int, int]]) -> bool:
    """`_contained(hit, phrases)`, given the distinct spans of the plain phrases: the same
    answer, without looking at every entry (and attribute) of every other hit."""
    view, start, end = hit.view, hit.start, hit.end
    size = end - start
    for other_view, other_start, other_end in covers:
        if (
            other_view == view
            and other_start <= start
            and end <= other_end
            and other_end - other_start > size
        ):
            return True
    return False


def _suppressed(hit: Hit, suppressors: list[Hit]) -> bool:
    for other in suppressors:
        if other.view != hit.view:
            continue
        if other.entry.scope is not None and other.entry.scope != hit.entry.section:
            continue
        if (
            other.start < hit.end
            and hit.start < other.end
            and not (hit.start <= other.start and other.end <= hit.end)
        ):
            return True
    return False


def _after_any(
    view: str,
    hit: Hit,
    before: list[tuple[str | None, frozenset[str]]],
    most: int,
    ends: frozenset[str],
) -> bool:
    """Whether the words right in front of a hit are one of the "before" phrases (`ends`:
    the last words of those phrases)."""
    words = view[max(0, hit.start - 80) : hit.start].split()[-most:]
    if not words or words[-1] not in ends:
        return False  # every phrase tried below would end with this word
    # The one to `most` words in front, joined once for every scope.
    tails = [" ".join(words[-count:]) for count in range(1, len(words) + 1)]
    for scope, phrases in before:
        if scope is not None and scope != hit.entry.section:
            continue
        if not phrases.isdisjoint(tails):
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
    # Of two rules that fired, one inside the other, the longer decides ("anyone selling
    # tramadol" is a request, though "selling tramadol" alone is an offer).
    return [hit for hit in fired if not _contained(hit, [h for h in fired if h is not hit], True)]


def effective(scan: Scan, lists: Iterable[str]) -> list[Hit]:
    """The hits that count for a stage: plain phrases, and near rules that fired."""
    return scan.effective(tuple(lists))


class Scanner:
    """Scans text against a lexicon, remembering the last text (stages share one scan).

    One Scanner per pipeline: the first stage that needs a message's views builds them and
    the later stages reuse them (a stage that rewrites the text makes the next one scan
    the new text).
    """

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon if lexicon is not None else default_lexicon()
        self._last: Scan | None = None
        # The one before: after contact masking, the medication stage and the learned
        # model read the text as written again (MessageContext.written).
        self._before: Scan | None = None

    def scan(self, text: str) -> Scan:
        last = self._last
        if last is not None and (last.text is text or last.text == text):
            return last
        before = self._before
        if before is not None and (before.text is text or before.text == text):
            return before
        scan = Scan(self.lexicon, text)
        self._before = last
        self._last = scan
        return scan


class CanonicalStage:
    """Canonical text (DESIGN §4): builds the matching views of the message once, for the
    stages after it. For matching only: it never changes the delivered text."""

    name = "canonical"

    def __init__(self, scanner: Scanner | None = None) -> None:
        self.scanner = scanner if scanner is not None else Scanner()

    def check(self, ctx: MessageContext) -> Verdict:
        self.scanner.scan(ctx.text)
        return ALLOW


__all__ = [
    "CanonicalStage",
    "Scan",
    "Scanner",
    "effective",
    "near_rules",
    "words_between",
]
