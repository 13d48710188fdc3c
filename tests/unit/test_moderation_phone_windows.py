"""The phone search runs its patterns only where a match can be (phones._phones); it
must find exactly what the patterns find over the whole text."""

import random

from moderation import phones
from moderation.policy import ModerationPolicy

POLICY = ModerationPolicy()


def reference_look_alikes(text: str) -> str:
    """Look-alike letters read as digits the old way: one substitution over the text."""
    return phones._DIGITISH.sub(
        lambda m: (
            m.group(0).translate(phones._LOOK_ALIKE_DIGITS)
            if sum(ch.isdigit() for ch in m.group(0)) >= 5
            else m.group(0)
        ),
        text,
    )


def reference_phones(view: str) -> list[tuple[int, int]]:
    """The phone search with every pattern run over the whole text."""
    text = reference_look_alikes(view)
    found: list[tuple[int, int]] = []
    for match in phones._CANDIDATE.finditer(text):
        if phones._is_phone(match.group(0), text, match.start(), POLICY):
            found.append(phones.with_extension(text, *match.span()))
    for match in phones._WORD_RUN.finditer(text):
        span = phones.spelled_phone(text, match, POLICY)
        if span is not None:
            found.append(span)
    return found


# Pieces that exercise the patterns' edges: digits and look-alike letters, every
# separator, "+" and brackets, number words, cues, Unicode digits and spaces.
PIECES = (
    *"0123456789",
    *"0123456789",
    *"oil|il",
    *" \t().-+\u2013\u2014/,_",
    "\n",
    "\u00a0",
    "\u0663",
    "\u0967",
    "a",
    "x",
    "one ",
    "two ",
    "oh ",
    "o ",
    "seven ",
    "double ",
    "nine, ",
    "hundred ",
    "and ",
    "forty ",
    "twelve ",
    "fünf ",
    "cinco ",
    "/",
    "call me on ",
    "my number is ",
    " lol ",
    "+44 ",
    "07911 ",
    "123456",
    "(0)",
    "20mg ",
    "7/10 ",
    "2024-01-02 ",
)


def generated(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 40)))


def test_windowed_phone_search_finds_what_the_whole_text_patterns_find() -> None:
    rng = random.Random(20260428)
    for _ in range(6000):
        text = generated(rng)
        assert phones.find_phones(text, POLICY) == reference_phones(text), repr(text)


# Spelled-out numbers ("oh seven nine one one ..."), with things that break a run.
NUMBER_WORDS = ("zero", "oh", "o", "one", "two", "three", "seven", "nine", "double", "triple")
SEPARATORS = (" ", " ", ", ", "-", ". ", "  ")
BREAKERS = ("x", "ones", "/", "(", "+", "_", "text me")


def spelled(rng: random.Random) -> str:
    parts = [rng.choice(("", "ring ", "my number is ", "lol ", "(", "x"))]
    for _ in range(rng.randint(4, 14)):
        roll = rng.random()
        if roll < 0.05:
            parts.append(rng.choice(BREAKERS))
        elif roll < 0.35:
            parts.append(rng.choice("0123456789"))
        else:
            parts.append(rng.choice(NUMBER_WORDS))
        parts.append(rng.choice(SEPARATORS))
    return "".join(parts).rstrip(rng.choice(("", " ")))


def test_windowed_phone_search_finds_spelled_numbers_like_the_whole_text_pattern() -> None:
    rng = random.Random(99)
    found = 0
    for _ in range(4000):
        text = spelled(rng)
        expected = reference_phones(text)
        assert phones.find_phones(text, POLICY) == expected, repr(text)
        found += bool(expected)
    assert found > 400  # the generator does make spelled numbers


def test_look_alike_digits_read_as_with_the_whole_text_pattern() -> None:
    rng = random.Random(7)
    for _ in range(6000):
        text = generated(rng)
        assert phones._read_look_alikes(text) == reference_look_alikes(text), repr(text)
