"""The word-list file format: variables, sections with options, alternatives and near
rules, expanded into plain phrases for moderation/lexicon.py to compile.

List file format (docs/moderation.md has the full description):

    # a comment
    @drug = oxy|oxycodone|{hydro|hydrocodone}     a variable, used as @drug
    [section option ...]                          phrases below belong to this section
    {i|i really} {want|wanna} to die              a phrase; {a|b|} alternatives
    ?attempted suicide                            ? : the crisis stage looks back for
                                                      who it is about (I / my friend)
    suicid*                                       * : no word boundary on that side
    selling && @drug                              (near=N sections) sides within N words

Section options:
- suppress: a hit of this list overlapping one of these phrases is dropped (negations,
  idioms), unless the hit contains the whole suppress phrase;
- before: (with suppress) instead, a hit right after one of these phrases is dropped
  (reported speech: "told me to"); looked up from the words in front of a hit, so common
  words cost nothing;
- for=SECTION: (with suppress) only hits of that section are dropped;
- near=N: lines are "A && B [&& C]"; the rule fires when the sides occur within N words
  (two sides in either order, more in the order written);
- subject: every phrase is "?";
- star: single words also match with one vowel, or all vowels, masked ("n*gger");
- doubles: single words also match with one letter doubled ("fuuck");
- joined: multi-word phrases also match written as one word ("killyourself").

Phrases are folded exactly like the views (canonical.py), so "kill" is stored as "kiii".
Runs of a repeated letter are handled by the views, not by extra keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NEAR = re.compile(r"^near=(\d+)$")
_FOR = re.compile(r"^for=([a-z][a-z0-9_]*)$")
_SECTION = re.compile(r"^\[([a-z][a-z0-9_]*)((?:\s+[a-z]+(?:=[a-z0-9_]+)?)*)\s*\]$")
_VARIABLE = re.compile(r"^@([a-z][a-z0-9_]*)\s*=\s*(.+)$")
_REFERENCE = re.compile(r"@([a-z][a-z0-9_]*)")
_OPTIONS = frozenset({"suppress", "before", "star", "doubles", "subject", "joined"})


def expand(pattern: str) -> list[str]:
    """All phrases a pattern stands for: "{a|b|} c" → ["a c", "b c", "c"]."""
    open_at = pattern.find("{")
    if open_at < 0:
        if "}" in pattern or "|" in pattern:
            raise ValueError(f"unbalanced braces in {pattern!r}")
        return [" ".join(pattern.split())]
    depth = 0
    parts: list[str] = []
    last = open_at + 1
    close_at = -1
    for i in range(open_at, len(pattern)):
        ch = pattern[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                close_at = i
                break
        elif ch == "|" and depth == 1:
            parts.append(pattern[last:i])
            last = i + 1
    if close_at < 0:
        raise ValueError(f"unbalanced braces in {pattern!r}")
    parts.append(pattern[last:close_at])
    head, tail = pattern[:open_at], pattern[close_at + 1 :]
    out: list[str] = []
    for part in parts:
        out.extend(expand(head + part + tail))
    return [phrase for phrase in out if phrase]


@dataclass(frozen=True, slots=True)
class _Line:
    section: str
    options: frozenset[str]
    scope: str | None
    near: int | None  # N for a near=N section
    text: str
    subject: bool


def parse_list(name: str, source: str) -> list[_Line]:
    """Parse a list file into phrase lines (variables substituted, not yet expanded)."""
    variables: dict[str, str] = {}
    section: str | None = None
    options: frozenset[str] = frozenset()
    near: int | None = None
    scope: str | None = None
    lines: list[_Line] = []

    def substitute(text: str, number: int) -> str:
        def lookup(match: re.Match[str]) -> str:
            if match.group(1) not in variables:
                raise ValueError(f"{name}.txt line {number}: unknown variable @{match.group(1)}")
            return variables[match.group(1)]

        return _REFERENCE.sub(lookup, text)

    for number, raw in enumerate(source.splitlines(), 1):
        line = raw.split(" # ", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if variable := _VARIABLE.match(line):
            variables[variable.group(1)] = "{" + substitute(variable.group(2), number) + "}"
            continue
        if header := _SECTION.match(line):
            section = header.group(1)
            near = None
            scope = None
            plain_options = set()
            for word in header.group(2).split():
                if match := _NEAR.match(word):
                    near = int(match.group(1))
                elif match := _FOR.match(word):
                    scope = match.group(1)
                elif word in _OPTIONS:
                    plain_options.add(word)
                else:
                    raise ValueError(f"{name}.txt line {number}: unknown section option {word}")
            options = frozenset(plain_options)
            continue
        if section is None:
            raise ValueError(f"{name}.txt line {number}: phrase before any [section]")
        subject = "subject" in options
        if line.startswith("?"):
            subject = True
            line = line[1:].lstrip()
        if near is not None and "&&" not in line:
            raise ValueError(f"{name}.txt line {number}: near sections need 'A && B' lines")
        lines.append(_Line(section, options, scope, near, substitute(line, number), subject))
    return lines
