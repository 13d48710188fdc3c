"""Email addresses in a message, as the contact stage finds them: name@domain.tld (also
with spaces around the "@" and the dots, or letters spaced out), and spelled out ("jane at
gmail dot com", "jess(at)hotmail(dot)co(dot)uk", "sarah.m at yahoo", "hettie at
hettiecraft dot studio"). Functions take the stage's view: normalised, lower case."""

import re

from moderation.lexicon import has_any

_EMAIL_DOMAIN = re.compile(r"[\w\-]{1,63}(?:\.[\w\-]{1,63})+")
# "priya n at the rate example dot in": how "@" is read out in Indian English
_AT = r"(?:\s*[\(\[\{<]\s*at\s*[\)\]\}>]\s*|\s+at\s+(?:the\s+rate\s+(?:of\s+)?)?)"
_DOT = r"(?:\s*[\(\[\{<]\s*(?:dot|\.)\s*[\)\]\}>]\s*|\s+dot\s+|\s*\.\s*)"
_PROVIDERS = (
    r"gmail|googlemail|hotmail|outlook|yahoo|icloud|aol|protonmail|proton|btinternet|msn|"
    r"gmx|ymail|live|sky|virginmedia|talktalk|mail"
)
# Words after a spelled "dot" that end a sentence rather than an address.
_NOT_TLDS = r"(?:the|and|but|then|so|to|a|an|i|im|it|is|dot|for|or|if|my|me|you|lol|haha)"
# "femi underscore dada at …": a separator inside the name spelled out.
_NAME_JOIN = r"(?:\s+(?:underscore|dash|hyphen)\s+)"
# The last dot spelled out or in brackets ("at example dot studio") says it is an
# address, whatever the top-level domain (made-up and new ones included); a plain "."
# needs a known one, or "at home. so tired" would read as an address.
_SPELLED_DOT = r"(?:\s*[\(\[\{<]\s*(?:dot|\.)\s*[\)\]\}>]\s*|\s+dot\s+)"
_KNOWN_TLDS = (
    r"com|net|org|co" + _DOT + r"uk|org" + _DOT + r"uk|uk|io|me|ie|ca|au|nz|za|ng|ke|gh|ph|"
    r"edu|info|de|fr|pl|es|nl|se|dk|fi|pt|ch|eu|ua|ru|br|mx|jp|xyz|app|dev"
)
_SPELLED_EMAIL = re.compile(
    r"(?<![\w.+\-])[\w+\-]{1,64}+(?:(?:"
    + _DOT
    + "|"
    + _NAME_JOIN
    + r")[\w+\-]{1,64}+)*"
    + _AT
    + r"[\w\-]{2,63}+(?:"
    + _DOT
    + r"[\w\-]{2,63}+)*"
    r"(?:" + _DOT + r"(?:" + _KNOWN_TLDS + r")\b|" + _SPELLED_DOT + r"(?!" + _NOT_TLDS + r"\b)"
    r"[a-z]{2,12}\b)"
)
# What every spelled-out "at" looks like: " at ", "(at)", "[ at ]". Both patterns above
# need one (or an "@"), and a failed search for this costs far less than either of them.
_AT_WORD = re.compile(r"[\s\(\[\{<]at[\s\)\]\}>]")
_PROVIDER_EMAIL = re.compile(
    r"(?<![\w.+\-])[\w.+\-]{2,64}+(?:\s*@\s*|" + _AT + r")(?:" + _PROVIDERS + r")\b"
)


# "chris_d (at) example (.) com": an "at" or a dot in brackets is no sentence.
_BRACKETED_AT_OR_DOT = re.compile(r"[\(\[\{<]\s*(?:at|dot|\.)\s*[\)\]\}>]", re.IGNORECASE)
# What the pattern starts with, looked for first: a few C-level substring scans instead of
# the pattern tried at every character (most messages have no bracket at all).
_OPENING_BRACKETS = ("(", "[", "{", "<")


def _emails(text: str) -> list[tuple[int, int]]:
    """name@domain.tld, found from each "@" (much cheaper than a pattern tried at every
    position of the text); also written with spaces ("t.morris @ example . com", "d e b b
    i e h @ example . com") when it ends in a common top-level domain."""
    found: list[tuple[int, int]] = []
    at = text.find("@")
    while at >= 0:
        domain = _EMAIL_DOMAIN.match(text, at + 1) or _SPACED_DOMAIN.match(text, at + 1)
        start = _local_part_start(text, at)
        if domain and start < at:
            found.append((start, domain.end()))
        at = text.find("@", at + 1)
    return found


_SPACED_DOMAIN = re.compile(
    r" {0,2}[\w\-]{1,63}(?: {0,2}\. {0,2}[\w\-]{1,63})* {0,2}\. {0,2}"
    r"(?:com|net|org|co|uk|io|me|ie|ca|au|nz|za|in|ng|ke|edu|info|de|fr|example)\b"
)
# Letters spaced out before an "@": "d e b b i e h @".
_SPACED_LETTERS_BEFORE = re.compile(r"(?:(?<![\w.])[\w.] ){2,}$")


_SPACED_NAME_PARTS = re.compile(r"(?:(?<![\w.+\-])[\w+\-]+ {0,2}[._] {0,2})+$")


def _local_part_start(text: str, at: int) -> int:
    start = at
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "._+-"):
        start -= 1
    if start < at:
        return start
    # "t.morris @ example . com": a space or two before the "@"
    before = text[max(0, at - 130) : at]
    trimmed = before.rstrip(" ")
    if len(before) - len(trimmed) > 2 or not trimmed:
        return at
    spaced = _SPACED_LETTERS_BEFORE.search(trimmed + " ")
    if spaced is not None:
        return at - len(before) + spaced.start()
    end = len(trimmed)
    first = end
    while first > 0 and (trimmed[first - 1].isalnum() or trimmed[first - 1] in "._+-"):
        first -= 1
    if first == end:
        return at
    # "jo . fennick @ …": earlier parts of the name joined by a spaced dot
    joined = _SPACED_NAME_PARTS.search(trimmed, 0, first)
    if joined is not None:
        first = joined.start()
    return at - len(before) + first


def may_spell_email(plain: str) -> bool:
    """Whether the text has an "at" or a dot in brackets (an email spelled with them)."""
    return has_any(plain, _OPENING_BRACKETS) and _BRACKETED_AT_OR_DOT.search(plain) is not None


def find_emails(view: str) -> list[tuple[int, int]]:
    """Addresses written with an "@"."""
    return _emails(view)


def find_spelled_emails(view: str) -> list[tuple[int, int]]:
    """Addresses with the "at" spelled out or in brackets, or at a known provider."""
    found: list[tuple[int, int]] = []
    spelled_at = _AT_WORD.search(view) is not None
    if spelled_at:
        found.extend(m.span() for m in _SPELLED_EMAIL.finditer(view))
    if spelled_at or "@" in view:
        found.extend(m.span() for m in _PROVIDER_EMAIL.finditer(view))
    return found


__all__ = ["find_emails", "find_spelled_emails", "may_spell_email"]
