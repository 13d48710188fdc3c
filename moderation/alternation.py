"""An alternation of many words rewritten so that `re` picks its branches by their first
character: `\\b(?:once|not now|(?:he|she) said|…)` becomes `\\b(?:o(?:nce)|n(?:ot now)|h(?:e)
said|s(?:he) said|…)`.

`re` tries a plain alternation's branches one by one, entering each, at every place the
search tries; a branch that starts with one character or one character class is skipped on
that character alone. Grouped by first character, a word start costs one cheap test per
distinct first character instead of a full attempt per alternative. The grouped pattern
matches the same texts at the same places (an alternation is the union of its branches,
whatever their order); which branch matches first may differ, so it suits patterns whose
callers ask only whether, or where, a match starts. Only the pattern's top level is
regrouped: each alternative is a run of literal characters or an escape class at its start,
or a `(?:…)` group of such heads followed by a tail.
"""

from collections.abc import Iterator
from contextlib import suppress

_QUANTIFIERS = "?*+{"


def _outside_classes(pattern: str) -> Iterator[tuple[int, str, int]]:
    """(index, character, group depth before it) of each character outside escapes and
    character classes: what both splitting and finding a group's end need."""
    depth = 0
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        else:
            yield i, char, depth
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
        i += 1
    if depth or in_class:
        raise ValueError(f"unbalanced pattern: {pattern!r}")


def split_top_level(pattern: str) -> list[str]:
    """The pattern's alternatives at its top level (not inside a group or a class)."""
    parts: list[str] = []
    start = 0
    for i, char, depth in _outside_classes(pattern):
        if char == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return parts


def _first_token(head: str) -> tuple[str, str]:
    """(the head's first character or class, the rest of the head)."""
    if head.startswith("\\"):
        key = head[:2]
        if key[1].isalpha() and key[1] not in "dDwWsS":
            raise ValueError(f"unsupported escape at the start of {head!r}")
    elif head.startswith("["):
        end = head.index("]", 2 if head[1:2] in ("]", "^") else 1)
        key = head[: end + 1]
    elif head and (head[0].isalnum() or head[0] in " '.,"):
        key = head[0]
    else:
        raise ValueError(f"unsupported start of {head!r}")
    rest = head[len(key) :]
    if rest[:1] == "+":
        # "\d+": one, then any more
        rest = key + "*" + rest[1:]
    elif rest[:1] in _QUANTIFIERS and rest:
        raise ValueError(f"quantified first character in {head!r}")
    return key, rest


def _heads_and_tail(alternative: str) -> tuple[list[str], str]:
    """A leading `(?:a|b|c)` group's alternatives and what follows it; else the alternative."""
    if not alternative.startswith("(?:"):
        return [alternative], ""
    i = next(
        (at for at, char, depth in _outside_classes(alternative) if char == ")" and depth == 1),
        None,
    )
    if i is None:
        raise ValueError(f"unbalanced pattern: {alternative!r}")
    tail = alternative[i + 1 :]
    if tail[:1] in _QUANTIFIERS and tail:
        raise ValueError(f"quantified leading group in {alternative!r}")
    heads: list[str] = []
    for head in split_top_level(alternative[3:i]):
        if head.startswith("(?:"):
            # a nested leading group: its own heads, each followed by the rest
            inner, inner_tail = _heads_and_tail(head)
            heads.extend(inner_head + inner_tail for inner_head in inner)
        else:
            heads.append(head)
    return heads, tail


def by_first_character(words: str, depth: int = 1) -> str:
    """`words` (an alternation) regrouped by first character, as a non-capturing group;
    with `depth` 2, each group's alternatives regrouped by their next character too (where
    they all have one)."""
    grouped: dict[str, list[str]] = {}
    for alternative in split_top_level(words):
        heads, tail = _heads_and_tail(alternative)
        rests: dict[str, list[str]] = {}
        for head in heads:
            key, rest = _first_token(head)
            rests.setdefault(key, []).append(rest)
        for key, key_rests in rests.items():
            body = key_rests[0] if len(key_rests) == 1 else "(?:" + "|".join(key_rests) + ")"
            grouped.setdefault(key, []).append(body + tail)
    branches: list[str] = []
    for key, pieces in grouped.items():
        if len(pieces) == 1:
            branches.append(key + pieces[0])
            continue
        rest = "(?:" + "|".join(pieces) + ")"
        if depth > 1:
            # (kept as it is when an alternative has no next character: "a" in "a few")
            with suppress(ValueError):
                rest = by_first_character("|".join(pieces), depth - 1)
        branches.append(key + rest)
    return "(?:" + "|".join(branches) + ")"
