"""Canonical views, and the Unicode evasions every list must see through."""

import random
import sys
import unicodedata

import pytest

from moderation.canonical import (
    LEET_TABLE,
    WORDS_TABLE,
    decompose,
    leet_view,
    mapped_base,
    visual_order,
    words_view,
)
from moderation.context import MessageContext
from moderation.links import FORMAT_CHARACTERS
from moderation.pipeline import default_pipeline
from moderation.policy import ModerationPolicy, load_policy
from moderation.scanning import Scanner
from moderation.verdict import Action

SCANNER = Scanner()


def rules(text: str, policy: ModerationPolicy | None = None) -> list[str]:
    ctx = MessageContext("room", "ana", "member", text, 0.0, policy or ModerationPolicy())
    return [verdict.rule for verdict in default_pipeline().run(ctx).verdicts]


def test_views_are_lower_case_words_with_single_spaces() -> None:
    assert words_view("Don't   PANIC!!  ok?") == " dont panic ok "
    assert words_view("") == "  "


def test_the_skeleton_reads_digits_as_letters_and_merges_i_and_l() -> None:
    assert words_view("k1ll") == words_view("kiIl") == words_view("kill") == " kiii "
    assert words_view("5u1c1d3") == words_view("suicide")


def test_the_leet_view_reads_symbols_as_letters() -> None:
    assert leet_view("$h!t") == " shit "
    assert words_view("help!") == " heip "  # "!" is punctuation in the words view
    assert leet_view("**hugs** f*ck") == " hugs f*ck "


def test_the_delivered_text_is_never_changed_by_canonicalisation() -> None:
    text = fullwidth("My pain") + " \U0001f49b is 7/10 today"
    outcome = default_pipeline().run(
        MessageContext("room", "ana", "member", text, 0.0, ModerationPolicy())
    )
    assert (outcome.action, outcome.text) == (Action.ALLOW, text)


# -- evasions: each must still be caught -------------------------------------------------


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def bold(text: str) -> str:
    return "".join(chr(0x1D41A + ord(c) - 97) if c.isalpha() else c for c in text)


def script(text: str) -> str:
    return "".join(
        unicodedata.lookup(f"MATHEMATICAL BOLD SCRIPT SMALL {c.upper()}") if c.isalpha() else c
        for c in text
    )


EVASIONS = [
    # (what is hidden, the evasion, the rule that must fire)
    ("zero-width split", "k\u200by\u200bs", "abuse.harassment"),
    ("zero-width joiner in a slur", "n\u200di\u200dg\u200dg\u200de\u200dr", "abuse.slur"),
    ("soft hyphen", "kill your\u00adself", "abuse.harassment"),
    ("word joiner in crisis", "i want to d\u2060ie", "crisis.suicidal"),
    ("bidi override, reversed", "\u202eflesruoy llik og", "abuse.harassment"),
    ("bidi isolate inside a word", "ret\u2066ar\u2069d", "abuse.slur"),
    ("Cyrillic homoglyphs", "\u0456 w\u0430nt t\u043e d\u0456\u0435", "crisis.suicidal"),
    ("Greek and Cyrillic homoglyphs", "\u03ba\u0443s", "abuse.harassment"),
    ("fullwidth", "\uff4b\uff59\uff53", "abuse.harassment"),
    ("mathematical bold", bold("you should die"), "abuse.harassment"),
    ("mathematical script", script("kill yourself"), "abuse.harassment"),
    (
        "small capitals",
        "\u026a \u1d21\u1d00\u0274\u1d1b \u1d1b\u1d0f \u1d05\u026a\u1d07",
        "crisis.suicidal",
    ),
    (
        "combining marks (zalgo)",
        "k\u0301i\u0308\u0323l\u0336l y\u0300o\u0301u\u0302rself",
        "abuse.harassment",
    ),
    ("enclosed letters", "🅚🅨🅢", "abuse.harassment"),
    ("leet digits", "k1ll y0ur53lf", "abuse.harassment"),
    ("leet symbols", "n!gg@", "abuse.slur"),
    ("capital I for l", "kiIl yourseIf", "abuse.harassment"),
    ("masked vowel", "n*gger", "abuse.slur"),
    ("spaced out", "k y s", "abuse.harassment"),
    ("dotted out", "f.a.g.g.o.t", "abuse.slur"),
    ("hyphenated out", "r-e-t-a-r-d", "abuse.slur"),
    ("spaced after a word", "what a f a g g o t", "abuse.slur"),
    ("repeated letters", "niiiiggerrrr", "abuse.slur"),
    ("repeated letters in crisis", "i waaaant to dieeeeee", "crisis.suicidal"),
    ("repeated doubled letter", "i want to killllll myself", "crisis.suicidal"),
    ("one letter doubled", "faggoot", "abuse.slur"),
    ("joined words", "killyourself", "abuse.harassment"),
    ("mixed", "K 1 L L   Y O U R S E L F", "abuse.harassment"),
]


@pytest.mark.parametrize(("name", "text", "rule"), EVASIONS, ids=[e[0] for e in EVASIONS])
def test_evasion_is_caught(name: str, text: str, rule: str) -> None:
    assert rule in rules(text), name


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("f\u200bu\u200bc\u200bk this", "f\u200b*\u200b*\u200b* this"),
        (fullwidth("fuck") + " this", fullwidth("f") + "*** this"),
        ("fuuuuuck my back", "f******* my back"),
        ("sh!t day", "s*** day"),
        ("what the f u c k", "what the f * * *"),
    ],
)
def test_masking_covers_the_evasion_in_the_delivered_text(text: str, masked: str) -> None:
    ctx = MessageContext("room", "ana", "member", text, 0.0, load_policy("youth"))
    outcome = default_pipeline().run(ctx)
    assert outcome.text == masked


# -- the fast views and the mapped (span-keeping) views agree ---------------------------


def _corpus_texts() -> list[str]:
    from tests.unit.test_moderation_corpus import load_corpus

    return [text for _, text in load_corpus()]


def test_mapped_views_equal_the_fast_views() -> None:
    rng = random.Random(11)
    alphabet = (
        "ab lI1!@$* \t\n.,'\u2019\u00e9\u200b\u0430\uff21\U0001f600\u00df\u3000\u00a0\u202e-_"
    )
    texts = _corpus_texts() + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)
    ]
    for text in texts:
        decomposed = decompose(text)
        assert mapped_base(text, False).text == words_view(decomposed), text
        assert mapped_base(text, True).text == leet_view(decomposed), text
        order = visual_order(text)
        if order is not None:
            visual = decompose("".join(text[i] for i in order))
            assert mapped_base(text, True, order).text == leet_view(visual)


def test_every_view_of_the_corpus_can_be_mapped_back() -> None:
    for text in _corpus_texts():
        scan = SCANNER.scan(text)
        for index, view in enumerate(scan.views):
            assert scan.mapped(index).text == view, (text, index)


def test_format_characters_pattern_matches_unicode_cf() -> None:
    wrong = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if not 0xD800 <= code <= 0xDFFF
        and (unicodedata.category(chr(code)) == "Cf") != bool(FORMAT_CHARACTERS.match(chr(code)))
    ]
    assert wrong == []


def test_fold_tables_stay_bounded() -> None:
    for table in (WORDS_TABLE, LEET_TABLE):
        assert len(table) <= 65536 + 128
