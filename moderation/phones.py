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
    r"text|txt|ring|sms|whats\s?app|signal|telegram|contact|reach|digits|dial|"
    # the same in the languages members write numbers in
    r"n[uú]mero|num[eé]ro|nummer|numer|llam[aá]me|ll[aá]mame|ruf|anrufen|appelle|"
    r"chiamami|zadzwo[nń]|telefon|tel[eé]fono|m[oó]vil|handy|portable|celular|cel)\b"
)
# Digits said as words, in English and in the languages members write numbers in (with
# and without accents: the view keeps them). Words that are also common English words
# ("do", "un", "sei" …) only count inside a run of seven digits or more, like "one".
_DIGIT_WORDS = {
    "0": "zero oh o nought naught nil zéro cero nul null nula zero náid shunya sifuri",
    "1": "one un une uno um eins een jeden jedna aon ek isa moja",
    "2": "two deux dos due dois zwei twee dwa dó do dalawa mbili",
    "3": "three trois tres tre três drei drie trzy trí teen tatlo tatu",
    "4": "four quatre cuatro quattro quatro vier cztery ceathair char chaar apat nne",
    "5": "five cinq cinco cinque fünf fuenf funf vijf pięć piec cúig cuig paanch panch lima tano",
    "6": "six seis sei sechs zes sześć szesc sé chhe che anim sita",
    "7": "seven sept siete sette sete sieben zeven siedem seacht saat pito saba",
    "8": "eight huit ocho otto oito acht osiem ocht aath walo nane",
    "9": "nine neuf nueve nove neun negen dziewięć dziewiec naoi nau siyam tisa",
}
_NUMBER_WORDS = {word: digit for digit, words in _DIGIT_WORDS.items() for word in words.split()}
# Two digits in one word: "twelve", "forty" (with a unit after it: "forty two" is 42).
_TEENS = {
    word: str(10 + number)
    for words in (
        "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen",
    )
    for number, word in enumerate(words.split())
} | {
    word: str(10 + number)
    for words in (
        "dix onze douze treize quatorze quinze seize",
        "diez once doce trece catorce quince",
        "dieci undici dodici tredici quattordici quindici sedici",
    )
    for number, word in enumerate(words.split())
}
_TENS = {
    word: str(number)
    for words, number in (
        ("twenty vingt veinte venti zwanzig", 2),
        ("thirty trente treinta trenta dreißig dreissig", 3),
        ("forty fourty quarante cuarenta quaranta vierzig", 4),
        ("fifty cinquante cincuenta cinquanta fünfzig funfzig", 5),
        ("sixty soixante sesenta sessanta sechzig", 6),
        ("seventy setenta settanta siebzig", 7),
        ("eighty ochenta ottanta achtzig", 8),
        ("ninety noventa novanta neunzig", 9),
    )
    for word in words.split()
}
# "nine hundred" is 900, "nine hundred and twelve" 912, "hundred, one two" 00 1 2.
_HUNDREDS = {"hundred": 2, "thousand": 3}
_REPEATS = {"double": 2, "triple": 3}
# Words a run of a spelled number may hold, and how many digits each can stand for at
# most (a digit run stands for its length): a run standing for fewer than seven digits
# cannot be a phone number.
_ITEM_DIGITS = {
    **dict.fromkeys(_NUMBER_WORDS, 1),
    **dict.fromkeys(_TEENS, 2),
    **dict.fromkeys(_TENS, 2),
    **_HUNDREDS,
    "double": 1,
    "triple": 2,
    "and": 0,
}
_ITEM = "|".join(sorted(_ITEM_DIGITS, key=len, reverse=True))
# Possessive separators ("++"): a separator run is never given back, so a failed attempt
# ends at once instead of retrying every shorter split (same matches, less backtracking).
_WORD_RUN = re.compile(r"\b(?:(?:\d{1,6}|" + _ITEM + r")(?:[\s,.\-/]++|$)){3,}")
_SPELLED_SEPARATOR = re.compile(r"[\s,.\-/]+")
_EXTENSION = re.compile(r"\s*,?\s*(?:ext|extn|extension|x)\.?\s*:?\s*\d{1,5}(?!\w)")

# After an "@": the domain of an email address.


def find_phones(
    view: str, policy: ModerationPolicy, *, cued: bool = False
) -> list[tuple[int, int]]:
    """Spans of the phone numbers in `view` (normalised, lower case). `cued`: the message
    already invites someone elsewhere, which says a shorter number is one too."""
    found: list[tuple[int, int]] = []
    text = _read_look_alikes(view)
    for start, end in _candidate_windows(text):
        for match in _CANDIDATE.finditer(text, start, end):
            candidate = match.group(0)
            if _is_phone(candidate, text, match.start(), policy, cued=cued):
                found.append(with_extension(text, match.start(), match.end()))
    if _may_spell_a_number(text):
        for match in _WORD_RUN.finditer(text):
            span = spelled_phone(text, match, policy, cued=cued)
            if span is not None:
                found.append(span)
    return found


def spelled_phone(
    text: str, match: re.Match[str], policy: ModerationPolicy, *, cued: bool = False
) -> tuple[int, int] | None:
    """The span of a _WORD_RUN match when it spells a phone number: words, or words and
    digits mixed ("555 oh one six two"); digits alone are the candidate pattern's."""
    run = match.group(0)
    words = _SPELLED_SEPARATOR.split(run.lower())
    if all(word.isdigit() or word in ("", "and") for word in words):
        return None
    digits = _spelled_digits(words)
    if len(digits) < 7 or not _is_phone(
        digits, text, match.start(), policy, spelled=True, cued=cued
    ):
        return None
    kept = run.rstrip(" ,.-/")
    if kept.lower().endswith(" and"):  # "… one two and" : the "and" starts the sentence
        kept = kept[:-4].rstrip(" ,.-/")
    return match.start(), match.start() + len(kept)


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
    """Whether _WORD_RUN can match a run that spelled_phone takes: words in a row, each
    a digit run or a number word, at least one a word, standing for seven digits or more
    (a match's words are whole \\w+ words with non-word characters between them)."""
    if not text.isascii():
        return True  # Unicode digits and word characters: leave it to the pattern
    words = text.translate(_NON_WORD_TO_SPACE).split()
    if not any(map(_WORDS_FOR_DIGITS.__contains__, words)):
        return False  # nearly every message: looked at in C
    in_a_row = 0
    spelled = False
    for word in words:
        if word.isdigit():
            in_a_row += len(word)
        else:
            weight = _ITEM_DIGITS.get(word)
            if weight is None:
                in_a_row, spelled = 0, False
                continue
            in_a_row += weight
            spelled = spelled or weight > 0
        if in_a_row >= 7 and spelled:
            return True
    return False


# The number words that stand for a digit or more ("and" only joins them).
_WORDS_FOR_DIGITS = frozenset(word for word, digits in _ITEM_DIGITS.items() if digits)


def _spelled_digits(words: list[str]) -> str:
    """The digits a run of words stands for ("oh seven seven double one", "nine hundred
    and twelve", "forty two", "555 oh one")."""
    out: list[str] = []
    repeat = 1
    words = [word for word in words if word]
    for index, word in enumerate(words):
        if word in _REPEATS:
            repeat = _REPEATS[word]
            continue
        following = words[index + 1] if index + 1 < len(words) else ""
        if word.isdigit():
            out.append(word[0] * (repeat - 1) + word)
        elif word in _NUMBER_WORDS:
            out.append(_NUMBER_WORDS[word] * repeat)
        elif word in _TEENS:
            out.append(_TEENS[word])
        elif word in _TENS:
            unit = _NUMBER_WORDS.get(following, "0")
            # "forty two" is 42 (the unit's own digit is then skipped); "forty" is 40
            out.append(_TENS[word] + ("0" if unit in ("", "0") else ""))
        elif word in _HUNDREDS:
            after = words[index + 2] if following == "and" and index + 2 < len(words) else ""
            if following in _TEENS or following in _TENS or after in _TEENS or after in _TENS:
                pass  # "nine hundred and twelve": the tens follow
            elif after:
                out.append("0" * (_HUNDREDS[word] - 1))  # "nine hundred and five"
            else:
                out.append("0" * _HUNDREDS[word])  # "nine hundred", then digits
        repeat = 1
    return "".join(out)


def _is_phone(
    candidate: str,
    text: str,
    start: int,
    policy: ModerationPolicy,
    *,
    spelled: bool = False,
    cued: bool = False,
) -> bool:
    stripped = candidate.strip()
    digits = _NON_DIGIT.sub("", stripped)
    if len(digits) < 7 or len(digits) > 15:
        return False
    # "555-0115" after "can I get your number?" is no range
    if not spelled and not cued and (_DATE.match(stripped) or _RANGE.match(stripped)):
        return False
    if digits in _allowlisted_forms(policy.phone_allowlist):
        return False
    international = stripped.startswith("+")
    # a cue before the number, or just after it ("555 0138, text me")
    cue = (
        cued
        or _CUE.search(text, max(0, start - 40), start) is not None
        or _CUE.search(text, start + len(candidate), start + len(candidate) + 24) is not None
    )
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
