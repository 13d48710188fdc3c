"""Phone numbers in a message, as the contact stage finds them: digits with separators,
look-alike letters for digits ("o7700 9oo123"), numbers spelled out in words, each read
by libphonenumber for the regions the room's policy names; dates, ranges and allowlisted
numbers (crisis lines) are left alone."""

import re
from functools import lru_cache

from phonenumbers import NumberParseException, is_possible_number, parse

from moderation.policy import ModerationPolicy

_CANDIDATE = re.compile(r"(?<![\w+])(?:\+\s*)?\(?\d[\d \t().\-\u2013\u2014]{5,24}\d(?![\w])")
_DIGITISH = re.compile(r"[\doil|][\doil| ().\-]{6,}[\doil|]")
_LOOK_ALIKE_DIGITS = str.maketrans("oil|", "0111")
_DATE = re.compile(r"^\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}$")
_RANGE = re.compile(r"^\d{1,5}\s*[-\u2013\u2014]\s*\d{1,5}$")
_NON_DIGIT = re.compile(r"\D")
_CUE = re.compile(
    r"\b(?:number|no\.?|num|phone|mobile|mob|cell|tel|telephone|landline|call|"
    r"text|txt|ring|sms|whats\s?app|signal|telegram|contact|reach|digits|dial)\b"
)
_NUMBER_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
# Possessive separators ("++"): a separator run is never given back, so a failed attempt
# ends at once instead of retrying every shorter split (same matches, less backtracking).
_WORD_RUN = re.compile(
    r"\b(?:(?:\d|zero|oh|o|nought|one|two|three|four|five|six|seven|eight|nine|double|"
    r"triple)(?:[\s,.\-]++|$)){7,}"
)
_EXTENSION = re.compile(r"\s*,?\s*(?:ext|extn|extension|x)\.?\s*:?\s*\d{1,5}(?!\w)")
_SPELLED_SEPARATOR = re.compile(r"[\s,.\-]+")

# After an "@": the domain of an email address.


def find_phones(view: str, policy: ModerationPolicy) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    text = _read_look_alikes(view)
    for start, end in _candidate_windows(text):
        for match in _CANDIDATE.finditer(text, start, end):
            candidate = match.group(0)
            if _is_phone(candidate, text, match.start(), policy):
                found.append(with_extension(text, match.start(), match.end()))
    if _may_spell_a_number(text):
        for match in _WORD_RUN.finditer(text):
            digits = _spelled_digits(match.group(0))
            if len(digits) >= 7 and _is_phone(digits, text, match.start(), policy, spelled=True):
                run = match.group(0)
                found.append((match.start(), match.start() + len(run.rstrip(" ,.-"))))
    return found


def with_extension(text: str, start: int, end: int) -> tuple[int, int]:
    """The span of a number found at start:end, with its extension ("020 7946 0321 ext
    214"): it goes with the number."""
    extension = _EXTENSION.match(text, end)
    return start, end if extension is None else extension.end()


# The three phone patterns cost 10-25 us each over a whole 200-character message (every
# position is tried). Their matches can only lie in a few places, found with C-level
# searches first; the patterns then run there alone. The results are exactly those of
# the patterns over the whole text (tests compare the two on generated text).
_DIGIT = re.compile(r"\d")
_DIGITISH_REST = re.compile(r"[\doil| ().\-]*")
_DIGITISH_SEPARATORS = frozenset(" ().-")
_DIGITISH_CHARACTERS = frozenset("0123456789oil| ().-")
_CANDIDATE_RUN = re.compile(r"\d[\d \t().\-\u2013\u2014]*")
_CANDIDATE_INNER = frozenset(" \t().-\u2013\u2014")
# ASCII characters that are not word characters (\W) become spaces: the words left are
# the \w+ words _WORD_RUN is made of. Every ASCII code is in the table: a missing one
# costs str.translate a caught KeyError.
_NON_WORD_TO_SPACE = {
    code: chr(code) if chr(code).isalnum() or chr(code) == "_" else " " for code in range(128)
}
_NUMBER_ITEMS = frozenset(("double", "triple", *"0123456789", *_NUMBER_WORDS))


def _read_look_alikes(view: str) -> str:
    """_DIGITISH.sub: letters standing in for digits ("O7911 l23456") read as digits in
    every look-alike run with five digits or more. Same length, so spans still hold.

    A _DIGITISH match runs, within a maximal run of its characters, from the first
    digit-like character to the last, so only the runs around a digit are looked at.
    """
    pieces: list[str] = []
    done = 0
    digit = _DIGIT.search(view)
    while digit is not None:
        start = digit.start()
        while start > 0 and (
            view[start - 1] in _DIGITISH_CHARACTERS
            or (view[start - 1] > "\x7f" and view[start - 1].isdecimal())
        ):
            start -= 1
        rest = _DIGITISH_REST.match(view, digit.start())
        assert rest is not None  # "*": it always matches
        end = rest.end()
        while view[start] in _DIGITISH_SEPARATORS:
            start += 1  # the match starts at a digit-like character ...
        last = end
        while view[last - 1] in _DIGITISH_SEPARATORS:
            last -= 1  # ... and ends at one
        run = view[start:last]
        digits_read = run.translate(_LOOK_ALIKE_DIGITS)
        # Most runs have no look-alike letter: reading them changes nothing.
        if digits_read != run and last - start >= 8 and sum(map(str.isdigit, run)) >= 5:
            pieces.append(view[done:start])
            pieces.append(digits_read)
            done = last
        digit = _DIGIT.search(view, end)
    if not pieces:
        return view
    pieces.append(view[done:])
    return "".join(pieces)


def _candidate_windows(text: str) -> list[tuple[int, int]]:
    """(pos, endpos) for _CANDIDATE.finditer holding all of its matches: each maximal run
    of digits and separators, with a "+" (and spaces) in front, and one more character
    so that the pattern's look-ahead sees the real text (its look-behind always does)."""
    windows: list[tuple[int, int]] = []
    run = _CANDIDATE_RUN.search(text)
    while run is not None:
        start = run.start()
        while start > 0 and text[start - 1] in _CANDIDATE_INNER:
            start -= 1
        before = start
        while before > 0 and text[before - 1].isspace():
            before -= 1
        if before > 0 and text[before - 1] == "+":
            start = before - 1
        windows.append((start, min(len(text), run.end() + 1)))
        run = _CANDIDATE_RUN.search(text, run.end())
    return windows


def _may_spell_a_number(text: str) -> bool:
    """Whether _WORD_RUN can match: it needs seven words in a row, each a single digit or
    a number word (a match's words are whole \\w+ words with non-word characters
    between them)."""
    if not text.isascii():
        return True  # Unicode digits and word characters: leave it to the pattern
    words = text.translate(_NON_WORD_TO_SPACE).split()
    if sum(map(_NUMBER_ITEMS.__contains__, words)) < 7:
        return False  # nearly every message: counted in C
    in_a_row = 0
    for word in words:
        in_a_row = in_a_row + 1 if word in _NUMBER_ITEMS else 0
        if in_a_row >= 7:
            return True
    return False


def _spelled_digits(words: str) -> str:
    out: list[str] = []
    repeat = 1
    for word in _SPELLED_SEPARATOR.split(words.lower()):
        if not word:
            continue
        if word == "double":
            repeat = 2
        elif word == "triple":
            repeat = 3
        else:
            digit = word if word.isdigit() else _NUMBER_WORDS.get(word, "")
            out.append(digit * repeat)
            repeat = 1
    return "".join(out)


def _is_phone(
    candidate: str, text: str, start: int, policy: ModerationPolicy, *, spelled: bool = False
) -> bool:
    stripped = candidate.strip()
    digits = _NON_DIGIT.sub("", stripped)
    if len(digits) < 7 or len(digits) > 15:
        return False
    if not spelled and (_DATE.match(stripped) or _RANGE.match(stripped)):
        return False
    if digits in _allowlisted_forms(policy.phone_allowlist):
        return False
    international = stripped.startswith("+")
    cue = _CUE.search(text, max(0, start - 40), start) is not None
    if len(digits) < 10 and not international and not cue:
        return False  # 7-9 digits with nothing saying it is a number: a reference, a code
    if cue and len(digits) >= 10:
        # Shaped like a number and introduced as one ("call me on …"): masked whatever
        # phonenumbers says (see the end), so it need not be asked.
        return True
    number = ("+" + digits) if international else digits
    if international:
        regions: tuple[str, ...] = ("ZZ",)
    elif digits.startswith("0"):
        regions = _trunk_zero_order(policy.phone_regions)
    else:
        regions = policy.phone_regions
    # Otherwise it must be a possible number of one of the regions.
    return any(_possible_number(number, region) for region in regions)


def _possible_number(number: str, region: str) -> bool:
    """Whether digits (with "+" when international) can be a phone number of `region`.

    This is exactly what phonenumbers' PhoneNumberMatcher does at Leniency.POSSIBLE for
    a candidate that is only digits (its inner-match retries need spaces, dots, slashes
    or brackets, which digits lack), without the matcher's own candidate search: parse,
    then is_possible_number. A test compares the two on many digit strings.
    """
    try:
        return bool(is_possible_number(parse(number, region, keep_raw_input=True)))
    except NumberParseException:
        return False


@lru_cache(maxsize=64)
def _trunk_zero_order(regions: tuple[str, ...]) -> tuple[str, ...]:
    # A trunk 0: not a US number; try the other regions first.
    return tuple(r for r in regions if r != "US") + (("US",) if "US" in regions else ())


@lru_cache(maxsize=64)
def _allowlisted_forms(allowlist: tuple[str, ...]) -> frozenset[str]:
    """Every digit string that counts as an allow-listed number: the number itself, with a
    country or trunk prefix in front, and (for a listed number written with its prefix)
    without it. Computed once per allow-list (policies are immutable and few)."""
    forms: set[str] = set()
    for allowed in allowlist:
        forms.add(allowed)
        for prefix in ("1", "44", "353", "0"):
            forms.add(prefix + allowed)
            if allowed.startswith(prefix):
                forms.add(allowed[len(prefix) :])
    return frozenset(forms)
