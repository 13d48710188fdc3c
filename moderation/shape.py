"""Shape: make the message well-formed plain text of a size a group can read.

Runs early so every later stage (matching, crisis detection, masking) sees tidy text and
never spends time on a message that will be refused for its size anyway.
"""

import re
import unicodedata
from functools import lru_cache

from moderation.context import MessageContext
from moderation.policy import ModerationPolicy
from moderation.verdict import ALLOW, Verdict, block, modify

# Control characters (Unicode category Cc) except \t and \n, which are ordinary text.
# \r is normalised to \n before this runs. Lone surrogates are removed too: JSON allows
# "\ud800" escapes, and such a string cannot be encoded as UTF-8 when it is sent on.
# Written as the pattern's own escapes (a raw string): mypyc refuses lone surrogates in a
# string literal, and the class is the same (docs/benchmarks.md, "Ninth session").
_UNWANTED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

# Three or more blank (whitespace-only) lines in a row; two are kept. Long runs of blank
# lines push everyone else's messages off screen.
_BLANK_RUN = re.compile(r"\n(?:[^\S\n]*\n){3,}")
_TWO_BLANK_LINES = "\n\n\n"

# Letters that render as nothing but are not whitespace, a known way to post "empty"
# messages past a plain strip(): Hangul fillers and the blank Braille pattern.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def tidy(text: str) -> str:
    """The whitespace normalisation every message gets before it is judged (Pipeline.run):
    line endings become \n, runs of three or more blank lines become two, the ends are
    trimmed. Not a verdict: it judges nothing, so it is neither audited nor told to the
    sender (a trailing space from a phone keyboard is not moderation)."""
    if _printable(text):
        return text.strip()  # one line without control characters: only the ends
    newlines = text.replace("\r\n", "\n").replace("\r", "\n")
    return _BLANK_RUN.sub(_TWO_BLANK_LINES, newlines).strip()


class ShapeStage:
    """Judges tidied text (see `tidy`): control characters removed (MODIFY), empty,
    too long or too many lines (BLOCK)."""

    name = "shape"

    def check(self, ctx: MessageContext) -> Verdict:
        text = ctx.text
        if not _printable(text):
            cleaned = _UNWANTED.sub("", text)
            if cleaned != text:
                # Removing them can leave new blank runs or ends to tidy.
                tidied = tidy(cleaned)
                refused = _judge(tidied, ctx.policy)
                return refused if refused is not ALLOW else modify("shape.control_chars", tidied)
        return _judge(text, ctx.policy)


@lru_cache(maxsize=1)
def _printable(text: str) -> bool:
    """`text.isprintable()`, remembered for the last text: the pipeline's `tidy` asks first
    and the shape stage asks again about the same string (tidying rarely changes it). A
    check walks every character; the look-up hashes the text once (a string keeps its hash)."""
    return text.isprintable()


def _judge(text: str, policy: ModerationPolicy) -> Verdict:
    if _looks_empty(text):
        return block("shape.empty", "invalid_payload", "Your message is empty.")
    if len(text) > policy.max_chars:
        return block(
            "shape.too_long",
            "too_long",
            f"Your message has {len(text):,} characters; the limit is "
            f"{policy.max_chars:,}. Please shorten it or send it in parts.",
        )
    lines = text.count("\n") + 1
    if lines > policy.max_lines:
        return block(
            "shape.too_many_lines",
            "too_long",
            f"Your message has {lines:,} lines; the limit is {policy.max_lines:,}. "
            "Please shorten it or send it in parts.",
        )
    return ALLOW


def _looks_empty(text: str) -> bool:
    # `text` is already stripped, so for ordinary messages the first character decides and
    # this stops at once. Format characters (Cf: zero-width spaces, bidi marks, BOM) and
    # blank-looking letters alone would deliver an empty-looking bubble.
    first = text[:1]
    if first.isalnum() and first not in _BLANK_LOOKING:
        return False  # the usual case, without building a generator
    return all(
        ch.isspace() or ch in _BLANK_LOOKING or unicodedata.category(ch) == "Cf" for ch in text
    )
