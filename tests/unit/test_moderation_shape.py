import unicodedata

import pytest

from moderation.context import MessageContext
from moderation.policy import ModerationPolicy
from moderation.shape import _UNWANTED, ShapeStage, tidy
from moderation.verdict import ALLOW, Action, Verdict

DEFAULT = ModerationPolicy()


def check(text: str, policy: ModerationPolicy = DEFAULT) -> Verdict:
    """The stage's verdict on a message, tidied first as Pipeline.run does."""
    return ShapeStage().check(MessageContext("room-1", "user-1", "member", tidy(text), 0.0, policy))


def delivered(text: str, policy: ModerationPolicy = DEFAULT) -> str:
    """The text the room would see."""
    verdict = check(text, policy)
    assert verdict.action in (Action.ALLOW, Action.MODIFY), verdict
    return tidy(text) if verdict.text is None else verdict.text


@pytest.mark.parametrize(
    "text",
    [
        "Rough night, but I slept a little.",
        "我今天很痛\uff0c但还在坚持 😣",
        "Боль сегодня сильная.",
        "اليوم كان صعبًا",
        "👨‍👩‍👧 came to visit 💐🏳️‍🌈",  # ZWJ sequences contain format characters
        "line one\n\tindented line two",
        "a\n\n\nb",  # two blank lines are kept
    ],
)
def test_ordinary_text_passes_untouched(text: str) -> None:
    assert check(text) is ALLOW


def test_control_characters_are_removed() -> None:
    verdict = check("hel\x00lo\x07 th\x1bere\x7f\x85")
    assert verdict.action is Action.MODIFY
    assert verdict.rule == "shape.control_chars"
    assert verdict.text == "hello there"


def test_lone_surrogates_are_removed_so_the_text_can_be_encoded() -> None:
    text = delivered("ok \ud800then")
    assert text == "ok then"
    text.encode("utf-8")  # would raise with the surrogate left in


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_windows_and_old_mac_newlines_become_newlines(newline: str) -> None:
    assert delivered(f"first{newline}second{newline}third") == "first\nsecond\nthird"
    assert check(f"first{newline}second") is ALLOW  # tidying, not a control character


def test_leading_and_trailing_whitespace_is_trimmed() -> None:
    # Tidying is not a verdict: nothing to audit or tell the sender.
    assert check("\n\n   feeling better today \t\n") is ALLOW
    assert delivered("\n\n   feeling better today \t\n") == "feeling better today"


def test_long_runs_of_blank_lines_collapse_to_two() -> None:
    assert delivered("a\n\n\n\n\n\n\nb") == "a\n\n\nb"
    assert delivered("a\n  \n\t\n \n\nb\n\n\n\nc") == "a\n\n\nb\n\n\nc"


def test_one_modify_carries_all_changes() -> None:
    verdict = check("  hi\x00\r\n\n\n\n\nthere  ")
    assert verdict.rule == "shape.control_chars"
    assert verdict.text == "hi\n\n\nthere"


@pytest.mark.parametrize(
    "text",
    ["", " ", "\n\t \r\n", "\x00\x01\x02", "\u200b\u200d\ufeff", "\u3164", " \u2800 "],
)
def test_empty_or_invisible_message_is_refused(text: str) -> None:
    verdict = check(text)
    assert verdict.action is Action.BLOCK
    assert (verdict.code, verdict.rule) == ("invalid_payload", "shape.empty")
    assert verdict.reason == "Your message is empty."


def test_exactly_max_chars_passes_and_one_more_is_refused() -> None:
    assert check("x" * 2000) is ALLOW
    verdict = check("x" * 2001)
    assert verdict.action is Action.BLOCK
    assert (verdict.code, verdict.rule) == ("too_long", "shape.too_long")
    assert "2,001" in verdict.reason
    assert "2,000" in verdict.reason


def test_length_counts_characters_not_bytes() -> None:
    assert check("😣" * 2000) is ALLOW  # 8,000 bytes of UTF-8
    assert check("痛" * 2001).code == "too_long"


def test_length_is_measured_after_trimming() -> None:
    assert delivered("x" * 2000 + "   \n") == "x" * 2000


def test_room_policy_sets_the_limit() -> None:
    policy = ModerationPolicy(max_chars=10)
    assert check("0123456789", policy) is ALLOW
    verdict = check("0123456789!", policy)
    assert verdict.code == "too_long"
    assert "limit is 10." in verdict.reason


def test_too_many_lines_is_refused() -> None:
    assert check("\n".join(["line"] * 40)) is ALLOW
    verdict = check("\n".join(["line"] * 41))
    assert verdict.action is Action.BLOCK
    assert (verdict.code, verdict.rule) == ("too_long", "shape.too_many_lines")
    assert "41 lines" in verdict.reason
    assert "limit is 40" in verdict.reason


def test_collapsed_blank_lines_do_not_count_against_the_line_limit() -> None:
    text = "a" + "\n" * 50 + "b"  # 51 lines as sent, 4 after collapsing
    assert delivered(text) == "a\n\n\nb"


def test_refusal_wins_over_cleaning() -> None:
    verdict = check("\x00" + "x" * 2001)
    assert verdict.action is Action.BLOCK
    assert verdict.text is None


def test_the_unwanted_characters_are_the_control_characters_and_lone_surrogates() -> None:
    # Every code point: category Cc except tab and newline, and the surrogates.
    unwanted = {chr(c) for c in range(0x110000) if _UNWANTED.match(chr(c))}
    expected = {
        chr(c)
        for c in range(0x110000)
        if (unicodedata.category(chr(c)) == "Cc" and chr(c) not in "\t\n") or 0xD800 <= c <= 0xDFFF
    }
    assert unwanted == expected
