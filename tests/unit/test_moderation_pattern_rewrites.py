"""Moderation patterns written for speed find exactly what the plain patterns find:
mentions' look-ahead before its alternatives (no alternative starts with whitespace) and
its alternatives grouped by first character (moderation/alternation.py), the platform
word at a mask's end matched on lower-cased ASCII text instead of case-blind, and the
contact stage's handle shapes with possessive runs."""

import json
import random
import re
from pathlib import Path

import pytest

from moderation import contact, mentions
from moderation.alternation import by_first_character

CORPUS = Path(__file__).resolve().parent.parent / "moderation_corpus"

PLAIN_MENTION = re.compile(rf"\b(?:{mentions._MENTION_WORDS})")
PLAIN_PRESENT = re.compile(rf"\b(?:{mentions._PRESENT_WORDS})\b")

# Words of the alternatives and what surrounds them: separators of every kind before and
# after, digits and years, apostrophes, questions.
PIECES = (
    " ", " ", "  ", "\t", "\n", ".", ",", ", ", ". ", "'", "?", "!", "-", "\u00a0",
    "a", "i", "x", "1", "19", "2019", "2026", "'09", "988", "116 123", "52",
    "years ago", "3 years", " months", "two weeks", "without", "free", "clean",
    "once", "once i", "not now", "better now", "i'm ok", "im fine", "i am", "still here",
    "still here next", "used to", "old me", "at 19", "in my 20s", "last year", "back then",
    "she said", "my son", " told ", "asked if", "questionnaire", "in the show", "character",
    "samaritans", "helpline", "called the", "overdosed on", "od'd on pills", "no longer",
    "tonight", "right now", "again", "going to", "an hour ago", "goodbye", "goodbye letter",
    "i'll", "can't", "don't think", "i want to die", "i just wanna end it", "relapsed",
    "survivor", "it gets better", "self-harm free", "it's been 2 yrs",
)  # fmt: skip


def corpus_texts() -> list[str]:
    texts: list[str] = []
    for line in (CORPUS / "corpus.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "\t" in line:
            texts.append(line.split("\t", 1)[1])
    for path in sorted(CORPUS.glob("train-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                texts.extend(item.get("messages", [item.get("text", "")]))
    return [text.lower().replace("\u2019", "'") for text in texts]


def generated(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30)))


def test_mention_and_present_find_what_the_plain_alternations_find() -> None:
    rng = random.Random(16)
    texts = corpus_texts() + [generated(rng) for _ in range(20_000)]
    assert len(texts) > 40_000
    for text in texts:
        assert (mentions._MENTION.search(text) is None) == (PLAIN_MENTION.search(text) is None), (
            text
        )
        assert (mentions._PRESENT.search(text) is None) == (PLAIN_PRESENT.search(text) is None), (
            text
        )
    # and the generated texts hit both sides of each
    assert sum(PLAIN_MENTION.search(text) is not None for text in texts[-20_000:]) > 5_000
    assert sum(PLAIN_PRESENT.search(text) is None for text in texts[-20_000:]) > 5_000


# Alternatives of the shapes by_first_character regroups: literal heads, leading groups of
# heads (nested too), classes and escapes first, quantified and empty heads, tails.
ALTERNATIVE_PIECES = (
    "a", "ab", "b", "ba", "abc", "a b", r"\d+", r"\d", "1", "12", "[ab]", "[.,]", ".", "'",
    "a?", "b*", "(?:a|b)", "(?:ab|b|a)c", "(?:a|(?:b|c)a)b", "(?:|a)b", "a(?!b)", "a\\b",
    r"\w+", "(?:1|a)?",
)  # fmt: skip


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_grouping_by_first_character_matches_where_the_plain_alternation_matches(
    depth: int,
) -> None:
    rng = random.Random(depth)
    compared = 0
    for _ in range(600):
        alternatives = [
            "".join(rng.choice(ALTERNATIVE_PIECES) for _ in range(rng.randint(1, 3)))
            for _ in range(rng.randint(1, 12))
        ]
        words = "|".join(alternatives)
        try:
            grouped = re.compile(by_first_character(words, depth))
        except ValueError:
            continue  # a first character it does not regroup (a quantified one): refused
        plain = re.compile(f"(?:{words})")
        compared += 1
        for _ in range(10):
            text = "".join(rng.choice("ab1c2., '") for _ in range(rng.randint(0, 12)))
            for start in range(len(text) + 1):
                found = grouped.match(text, start) is not None
                assert found == (plain.match(text, start) is not None), (words, text, start)
    assert compared > 150


def test_grouping_refuses_what_it_cannot_regroup() -> None:
    for words in ("a?b|c", "(?:a|b)+c", r"\bword", "(a)b", "a|b)"):
        with pytest.raises(ValueError):
            by_first_character(words)


PLATFORM_PIECES = (
    " ", "  ", "\n", ":", "-", "me", " me", "Me", "add ", "on ", "the ", "The ",
    "insta", "Insta gram", "INSTAGRAM", "whats app", "WhatsApp", "snap chat", "SC", "fb",
    "Facebook  Messenger", "the Bird app", "yellow APP", "e-mail", "Email", "gmail", "tg",
    "discord", "x", "jo", "_", "88",
)  # fmt: skip


@pytest.mark.parametrize("seed", range(3))
def test_platform_end_on_lower_cased_ascii_finds_what_the_case_blind_pattern_finds(
    seed: int,
) -> None:
    rng = random.Random(seed)
    found = 0
    for _ in range(4_000):
        text = "".join(rng.choice(PLATFORM_PIECES) for _ in range(rng.randint(1, 12)))
        start = rng.randint(0, len(text))
        end = rng.randint(start, len(text))
        blind = contact._PLATFORM_END.search(text, start, end)
        lowered = contact._PLATFORM_END_LOWER.search(text.lower(), start, end)
        assert (blind is None) == (lowered is None), (text, start, end)
        found += blind is not None
    assert found > 300


PLAIN_HANDLE_SHAPED = re.compile(
    r"(?<![\w@/.])(?:@[A-Za-z0-9_.]{2,30}|u/[A-Za-z0-9_\-]{3,20}|"
    r"[A-Za-z][A-Za-z0-9]+(?:\.[A-Za-z0-9]{2,}|_[A-Za-z0-9]+)+_?|[A-Za-z]{3,}[0-9]{2,}|"
    r"[A-Z]?[a-z]+(?:[A-Z][a-z0-9]+){2,}|(?:[A-Za-z0-9@.] {1,2}){4,}[A-Za-z0-9])(?![\w@])"
)
HANDLE_PIECES = (
    *"aZq09._@/ -\u00e9", "u/", "Jo", "smith", "88", "Bad", "Back", "Brandon", "x", "  ",
    "K e v i n", "jo_smith", "a.b", "@@", "__", "fibro.fighter", "chronic_chris", "Ab1",
)  # fmt: skip


@pytest.mark.parametrize("seed", range(3))
def test_handle_shapes_with_possessive_runs_find_what_the_plain_pattern_finds(seed: int) -> None:
    rng = random.Random(seed)
    found = 0
    for _ in range(20_000):
        text = "".join(rng.choice(HANDLE_PIECES) for _ in range(rng.randint(1, 14)))
        fast = [match.span() for match in contact._HANDLE_SHAPED.finditer(text)]
        assert fast == [match.span() for match in PLAIN_HANDLE_SHAPED.finditer(text)], text
        found += len(fast)
    assert found > 5_000
