"""Canonical text: views of a message used for matching only; the delivered text keeps its form.

A message is turned into a few *views*, each a lower-case string of words separated by
single spaces and padded with a space at both ends (so " word " matches whole words):

- words: NFKD; invisible format characters (zero-width, soft hyphen, bidi controls,
  variation selectors) and combining marks dropped; look-alike letters from other scripts
  and styled letters (Cyrillic, Greek, fullwidth, mathematical, small caps, enclosed)
  folded to Latin; apostrophes dropped ("don't" → "dont"); digits read as the letters
  they stand for in leetspeak (0→o, 1→i, 3→e, 4→a, 5→s, 7→t, 9→g) and the look-alike pair
  i/l merged into one letter, so "k1ll", "kiIl" and "kill" all read "kiii"; everything
  else made a space.
- leet: as words, and symbols read as letters too (@→a, $→s, !→i, |→i; "*" kept as a
  masked letter: "f*ck"). Kept apart from "words" because "!" and "$" are mostly
  punctuation ("help!" must still read "help").

Phrases in the lists are folded the same way, so matching compares like with like.

Derived views, made only when the message needs them (see lexicon.Scan):
- runs: runs of three or more of one letter cut to one and to two ("fuuuuck" → "fuck",
  "killllll" → "kill"), on the raw view (before digits become letters and i/l merge),
  then folded like the others.
- joined: spaced-out and dotted-out words joined ("k y s", "s.u.i.c.i.d.e"), also with a
  leading "a"/"i"/"u" kept as a word ("what a f a g g o t").
- visual: text under a right-to-left override reversed, as it is displayed.

Every view can also be built *mapped*: with, for each view character, the span of the
original text it came from, so a stage can mask exactly what matched. The mapped builders
produce the same strings as the fast ones (tests check this on the corpus).
"""

import re
import unicodedata
from dataclasses import dataclass

# Characters that read as an apostrophe (straight, curly, grave, acute, modifier letters);
# dropped so "don't", "don\u2019t" and "dont" agree.
APOSTROPHES = "'\u2019\u2018`\u00b4\u02bc\u02b9\u2032\u02bb\uff07"

# Letters that render as nothing (Hangul fillers, blank Braille) are dropped like
# zero-width characters.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")

# Look-alikes folded to Latin before lower-casing: the upper- and lower-case forms of a
# Greek or Cyrillic letter often resemble different Latin letters (capital eta looks like
# H, small eta like n). Written as escapes so the source itself cannot confuse a reader.
_CONFUSABLES: dict[str, str] = {
    # Cyrillic capitals
    "\u0410": "a", "\u0412": "b", "\u0421": "c", "\u0415": "e", "\u041d": "h", "\u0406": "i",
    "\u0408": "j", "\u041a": "k",
    "\u041c": "m", "\u041e": "o", "\u0420": "p", "\u0405": "s", "\u0422": "t", "\u0425": "x",
    "\u0423": "y", "\u04ae": "y",
    "\u051a": "q", "\u051c": "w", "\u04c0": "l", "\u0417": "3", "\u042c": "b", "\u0413": "r",
    "\u041f": "n",
    # Cyrillic small
    "\u0430": "a", "\u0432": "b", "\u0441": "c", "\u0435": "e", "\u04bb": "h", "\u0456": "i",
    "\u0458": "j", "\u043a": "k",
    "\u043c": "m", "\u043d": "h", "\u043e": "o", "\u0440": "p", "\u0455": "s", "\u0442": "t",
    "\u0445": "x", "\u0443": "y",
    "\u04af": "y", "\u051b": "q", "\u051d": "w", "\u04cf": "l", "\u0501": "d", "\u044c": "b",
    "\u0433": "r", "\u043f": "n",
    "\u0448": "w", "\u0437": "3", "\u0461": "w", "\u0261": "g",
    # Greek capitals
    "\u0391": "a", "\u0392": "b", "\u0395": "e", "\u0396": "z", "\u0397": "h", "\u0399": "i",
    "\u039a": "k", "\u039c": "m",
    "\u039d": "n", "\u039f": "o", "\u03a1": "p", "\u03a4": "t", "\u03a5": "y", "\u03a7": "x",
    "\u03f9": "c",
    # Greek small
    "\u03b1": "a", "\u03b2": "b", "\u03b3": "y", "\u03b5": "e", "\u03b7": "n", "\u03b9": "i",
    "\u03ba": "k", "\u03bc": "u",
    "\u03bd": "v", "\u03bf": "o", "\u03c1": "p", "\u03c3": "o", "\u03c2": "c", "\u03c4": "t",
    "\u03c5": "u", "\u03c7": "x",
    "\u03c9": "w", "\u03f2": "c", "\u03f3": "j", "\u03f1": "p",
    # Armenian
    "\u0585": "o", "\u057d": "u", "\u0578": "n", "\u0570": "h", "\u0566": "q", "\u0581": "g",
    # Latin letters without a decomposition
    "\u0131": "i", "\u0142": "l", "\u0141": "l", "\u0111": "d", "\u0110": "d", "\u0127": "h",
    "\u00f8": "o", "\u00d8": "o",
    "\u00df": "ss", "\u00e6": "ae", "\u00c6": "ae", "\u0153": "oe", "\u0152": "oe", "\u0192": "f",
    "\u0251": "a",
    "\u0280": "r", "\u026a": "i", "\u028f": "y", "\u029f": "l", "\u0274": "n", "\u0299": "b",
    "\u029c": "h", "\u0262": "g",
    "\u1d00": "a", "\u1d04": "c", "\u1d05": "d", "\u1d07": "e", "\u0493": "f", "\u1d0a": "j",
    "\u1d0b": "k", "\u1d0d": "m",
    "\u1d0f": "o", "\u1d18": "p", "\u01eb": "q", "\ua731": "s", "\u1d1b": "t", "\u1d1c": "u",
    "\u1d20": "v", "\u1d21": "w",
    "\u1d22": "z", "\u0269": "i", "\u0275": "o", "\u0185": "b",
}  # fmt: skip
# Enclosed letters without a compatibility decomposition: negative circled, negative
# squared and regional-indicator letters (🅚 🅺 🇰).
for _start in (0x1F150, 0x1F170, 0x1F1E6):
    for _offset in range(26):
        _CONFUSABLES[chr(_start + _offset)] = chr(ord("a") + _offset)

# Leetspeak symbols, read as letters in the leet view only.
_LEET_SYMBOLS = {
    "@": "a",
    "$": "s",
    "!": "i",
    "|": "i",
    "\u00a1": "i",
    "\u20ac": "e",
    "+": "t",
    "*": "*",
}
LEET_SYMBOLS = tuple(_LEET_SYMBOLS)
# Digits read as letters and i/l merged, in every view (the "skeleton" alphabet).
_SKELETON = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "9": "g", "l": "i"}
)

# Right-to-left override and isolate: the text after it, up to the matching pop, is shown
# reversed, so "\u202eflesruoy llik" reads "kill yourself" on screen.
_RTL_OPEN = frozenset("\u202e\u2067")
_RTL_CLOSE = {"\u202e": "\u202c", "\u2067": "\u2069"}


def _fold(ch: str, leet: bool, raw: bool = False) -> str:
    """What one character (already NFKD) becomes in a view ("" drops it); raw: without
    reading digits as letters or merging i/l (for folding runs of one letter first)."""
    if ch in APOSTROPHES:
        return ""
    if ch in _LEET_SYMBOLS:
        return _LEET_SYMBOLS[ch] if leet else " "
    out = _CONFUSABLES.get(ch)
    if out is None:
        category = unicodedata.category(ch)
        if category in ("Mn", "Me", "Cf") or ch in _BLANK_LOOKING:
            return ""
        if category[0] == "L":
            # lower() can itself add marks or letters to fold ("İ" → "i̇").
            low = unicodedata.normalize("NFKD", ch.lower())
            out = "".join(
                _CONFUSABLES.get(c, c) for c in low if unicodedata.category(c) not in ("Mn", "Me")
            )
        elif category[0] == "N":
            digit = unicodedata.digit(ch, None)
            out = " " if digit is None else str(digit)
        else:
            return " "
    return out if raw else out.translate(_SKELETON)


class _FoldTable(dict[int, str | None]):
    """A str.translate table that computes and remembers each character's folding.

    After a character has been seen once its lookup is a plain dict hit in C. Dropped
    characters map to None (not ""), which keeps CPython's fast path for ASCII text.
    """

    __slots__ = ("_leet", "_raw")

    def __init__(self, leet: bool, raw: bool = False) -> None:
        super().__init__()
        self._leet = leet
        self._raw = raw
        for code in range(128):
            self[code] = _fold(chr(code), leet, raw) or None

    def __missing__(self, code: int) -> str | None:
        value = _fold(chr(code), self._leet, self._raw) or None
        # Bound the memo: a flood of distinct rare characters must not grow it forever.
        if len(self) < 65536:
            self[code] = value
        return value


WORDS_TABLE = _FoldTable(leet=False)
LEET_TABLE = _FoldTable(leet=True)
_RAW_TABLES = {False: _FoldTable(leet=False, raw=True), True: _FoldTable(leet=True, raw=True)}
# Plain-dict copies for ASCII text: CPython's translate is about twice as fast with an
# exact dict as with a dict subclass.
_WORDS_ASCII = dict(WORDS_TABLE)
_LEET_ASCII = dict(LEET_TABLE)


def _ascii_bytes_table(table: dict[int, str | None]) -> tuple[bytes, bytes]:
    """The ASCII part of a fold table as a bytes.translate table and the bytes it drops.

    Every ASCII character folds to one ASCII character or to nothing, so for ASCII text
    bytes.translate gives what str.translate gives, at a fraction of the cost (a table
    index per byte instead of a dict look-up per character).
    """
    mapping = bytearray(range(256))
    dropped = bytearray()
    for code in range(128):
        out = table[code]
        if out is None:
            dropped.append(code)
        elif len(out) == 1 and out.isascii():
            mapping[code] = ord(out)
        else:
            raise ValueError(f"ASCII {code} folds to {out!r}: not one ASCII character")
    return bytes(mapping), bytes(dropped)


_WORDS_BYTES = _ascii_bytes_table(_WORDS_ASCII)
_LEET_BYTES = _ascii_bytes_table(_LEET_ASCII)


def _fold_ascii(text: str, table: tuple[bytes, bytes]) -> str:
    """`text.translate(...)` with an ASCII fold table, for ASCII `text`."""
    return text.encode("ascii").translate(*table).decode("ascii")


def decompose(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFKD", text)


def words_view(decomposed: str) -> str:
    if decomposed.isascii():
        return _single_spaced(_fold_ascii(decomposed, _WORDS_BYTES))
    return _single_spaced(decomposed.translate(WORDS_TABLE))


def leet_view(decomposed: str) -> str:
    if decomposed.isascii():
        folded = _fold_ascii(decomposed, _LEET_BYTES)
    else:
        folded = decomposed.translate(LEET_TABLE)
    if "*" in folded:
        # "*" is a masked letter inside a word ("f*ck"), decoration around it ("**hi**").
        tokens = [token for token in (t.strip("*") for t in folded.split()) if token]
        return " " + " ".join(tokens) + " "
    return _single_spaced(folded)


def _single_spaced(folded: str) -> str:
    """Words separated by single spaces, padded with one space at each end.

    Folding leaves " " as the only separator, so halving runs of spaces is enough; it is
    much cheaper than split and join for chat-sized text.
    """
    while "  " in folded:
        folded = folded.replace("  ", " ")
    return f" {folded.strip(' ')} "


def raw_view(decomposed: str, leet: bool) -> str:
    """words_view / leet_view before digits are read as letters and i/l merged: where runs
    of one letter are folded ("kiiiill" must not become "kiiiiii" first)."""
    folded = decomposed.translate(_RAW_TABLES[leet])
    if leet and "*" in folded:
        tokens = [token for token in (t.strip("*") for t in folded.split()) if token]
        return " " + " ".join(tokens) + " "
    return _single_spaced(folded)


def skeleton(view: str) -> str:
    """Read digits as letters and merge i/l, as the views do (one character for one)."""
    return view.translate(_SKELETON)


def visual_order(text: str) -> list[int] | None:
    """Indices of `text` in display order when it uses right-to-left overrides, else None."""
    if "\u202e" not in text and "\u2067" not in text:
        return None
    order: list[int] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _RTL_OPEN:
            close = _RTL_CLOSE[ch]
            end = text.find(close, i + 1)
            newline = text.find("\n", i + 1)
            if end < 0 or (0 <= newline < end):
                end = newline if newline >= 0 else n
            order.extend(range(end - 1, i, -1))
            i = end
        else:
            order.append(i)
            i += 1
    return order


@dataclass(frozen=True, slots=True)
class MappedView:
    """A view with, for each of its characters, the span of the original text it came from.

    Padding and separator spaces have the span of a neighbouring character; only the
    characters of matched words are used for masking.
    """

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original-text span of view characters [start, end)."""
        return self.starts[start], max(self.ends[start:end])


def mapped_base(
    text: str, leet: bool, order: list[int] | None = None, *, raw: bool = False
) -> MappedView:
    """words_view / leet_view (or raw_view) of `text`, in `order` for the visual view, with
    the original span of every character."""
    table = _RAW_TABLES[leet] if raw else LEET_TABLE if leet else WORDS_TABLE
    if order is None and text.isascii() and not (leet and "*" in text):
        return _mapped_ascii(text, table)
    chars: list[str] = []
    origin: list[int] = []
    for i in order if order is not None else range(len(text)):
        for out in decompose(text[i]).translate(table):
            chars.append(out)
            origin.append(i)
    # Split into tokens exactly like str.split(), then strip "*" like leet_view.
    tokens: list[list[int]] = []
    current: list[int] = []
    for k, ch in enumerate(chars):
        if ch.isspace():
            if current:
                tokens.append(current)
                current = []
        else:
            current.append(k)
    if current:
        tokens.append(current)
    if leet and "*" in chars:
        stripped = []
        for token in tokens:
            a, b = 0, len(token)
            while a < b and chars[token[a]] == "*":
                a += 1
            while b > a and chars[token[b - 1]] == "*":
                b -= 1
            if a < b:
                stripped.append(token[a:b])
        tokens = stripped
    out_chars = [" "]
    starts = [0]
    ends = [0]
    for t, token in enumerate(tokens):
        if t:
            out_chars.append(" ")
            starts.append(origin[token[0]])
            ends.append(origin[token[0]])
        for k in token:
            out_chars.append(chars[k])
            starts.append(origin[k])
            ends.append(origin[k] + 1)
    out_chars.append(" ")
    starts.append(len(text))
    ends.append(len(text))
    return MappedView("".join(out_chars), tuple(starts), tuple(ends))


def _token_pattern(table: _FoldTable) -> re.Pattern[str]:
    separators = "".join(re.escape(chr(code)) for code in range(128) if table[code] == " ")
    return re.compile(f"[^{separators}]+")


_TABLES = (WORDS_TABLE, LEET_TABLE, *_RAW_TABLES.values())
# For ASCII text: the token pattern and a plain-dict copy of each table (faster translate).
_ASCII = {id(table): (_token_pattern(table), dict(table)) for table in _TABLES}


def word_spans(text: str, leet: bool, view: str, start: int, end: int) -> tuple[int, int]:
    """For ASCII text: the span of `text` holding the words that view[start:end] (a base
    view of it) touches. Cheaper than mapped_base when only one phrase is needed."""
    first = view.count(" ", 0, start) - 1  # the view starts with a space
    last = view.count(" ", 0, max(start, end - 1)) - 1
    tokens, ascii_table = _ASCII[id(LEET_TABLE if leet else WORDS_TABLE)]
    index = -1
    span_start = 0
    for match in tokens.finditer(text):
        if not match.group().translate(ascii_table).strip("*" if leet else ""):
            continue  # dropped entirely (apostrophes; "*" decoration in the leet view)
        index += 1
        if index == first:
            span_start = match.start()
        if index == last:
            return span_start, match.end()
    return span_start, len(text)


def _mapped_ascii(text: str, table: _FoldTable) -> MappedView:
    """mapped_base for ASCII text: token by token instead of character by character."""
    chars = [" "]
    starts = [0]
    ends = [0]
    tokens, ascii_table = _ASCII[id(table)]
    for match in tokens.finditer(text):
        a, b = match.span()
        piece = match.group().translate(ascii_table)
        if not piece:
            continue  # only dropped characters (apostrophes)
        whole = len(piece) == b - a
        positions = range(a, b) if whole else [i for i in range(a, b) if ascii_table[ord(text[i])]]
        if len(chars) > 1:
            # The separator gets the span of the next word's first character, as in the
            # character-by-character builder.
            chars.append(" ")
            starts.append(positions[0])
            ends.append(positions[0])
        if whole:
            chars.append(piece)
            starts.extend(positions)
            ends.extend(range(a + 1, b + 1))
            continue
        for i in positions:
            chars.append(ascii_table[ord(text[i])] or "")
            starts.append(i)
            ends.append(i + 1)
    chars.append(" ")
    starts.append(len(text))
    ends.append(len(text))
    return MappedView("".join(chars), tuple(starts), tuple(ends))


_RUN3 = re.compile(r"([^ ])\1{2,}")
# Three or more one-character words in a row: "k y s", "s u i c i d e" (dots became spaces).
_SPACED = re.compile(r"(?<= )[^ ](?: [^ ]){2,}(?= )")
# The same, leaving out a leading "a", "i" or "u" that is more likely a word of its own
# ("what a f a g g o t").
_SPACED_AFTER_WORD = re.compile(r"(?<= )(?![aiu] [^ ] [^ ] [^ ] )[^ ](?: [^ ]){2,}(?= )")


def _rewrite(
    view: str,
    spans: MappedView | None,
    pattern: re.Pattern[str] | list[tuple[int, int]],
    *,
    keep: int = 1,
    join: bool = False,
) -> tuple[str, MappedView | None]:
    """Apply one derived-view rewrite to a view string, and to its spans when given.
    `pattern` finds the parts to rewrite, or is their spans, already found."""
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    last = 0
    found = pattern if isinstance(pattern, list) else [m.span() for m in pattern.finditer(view)]
    for a, b in found:
        parts.append(view[last:a])
        if spans is not None:
            starts.extend(spans.starts[last:a])
            ends.extend(spans.ends[last:a])
        kept = [k for k in range(a, b) if view[k] != " "] if join else list(range(a, a + keep))
        parts.append("".join(view[k] for k in kept))
        if spans is not None:
            if join:
                starts.extend(spans.starts[k] for k in kept)
                ends.extend(spans.ends[k] for k in kept)
            else:
                # The kept letters stand for the whole run: masking covers all of it.
                starts.extend([spans.starts[a]] * len(kept))
                ends.extend([max(spans.ends[a:b])] * len(kept))
        last = b
    parts.append(view[last:])
    text = "".join(parts)
    if spans is None:
        return text, None
    starts.extend(spans.starts[last:])
    ends.extend(spans.ends[last:])
    return text, MappedView(text, tuple(starts), tuple(ends))


def dedup(
    view: str,
    keep: int,
    spans: MappedView | None = None,
    runs: list[tuple[int, int]] | None = None,
) -> tuple[str, MappedView | None]:
    """Cut runs of three or more of one character to `keep` (1 or 2): "dieeee" → "die"
    with 1, "killlll" → "kill" with 2. Run on a raw view, then take the skeleton.
    `runs`: the view's run_spans, when already found (both cuts need the same runs)."""
    return _rewrite(view, spans, runs if runs is not None else _RUN3, keep=keep)


def run_spans(view: str) -> list[tuple[int, int]]:
    """Where the runs of three or more of one character are: one regex pass, shared by
    the two cuts of dedup."""
    return [match.span() for match in _RUN3.finditer(view)]


def skeleton_mapped(view: MappedView) -> MappedView:
    return MappedView(skeleton(view.text), view.starts, view.ends)


def join_spaced(
    view: str, spans: MappedView | None = None, *, after_word: bool = False
) -> tuple[str, MappedView | None]:
    """Join runs of three or more one-letter words ("k y s" → "kys"); with after_word, a
    leading "a", "i" or "u" stays a word of its own."""
    return _rewrite(view, spans, _SPACED_AFTER_WORD if after_word else _SPACED, join=True)
