"""Handles next to a platform word, as the contact stage finds them: "my insta is …",
"snap: …", "@jo on tiktok", "i'm on tiktok as …", "snapchat is quillowbee" (a plain word
only when it does not read like English), reddit users and discord tags. Functions take
the stage's view: normalised, lower case."""

import re

from moderation.platforms import PLATFORM

_PLATFORM = PLATFORM
# "spoonie dot sam", "hazel underscore hurts": a handle's dots and underscores spelled;
# a dash inside ("d-o-t-t-i-e-7-1", reddit names)
_HANDLE = (
    r"(?P<handle>@?[A-Za-z0-9_][A-Za-z0-9_.\-]{1,29}"
    r"(?: (?:dot|underscore) [A-Za-z0-9_][A-Za-z0-9_.]{0,29}){0,3}(?:#\d{4})?)"
)
# Words that point at the name coming next ("on tiktok as …", "under the name …").
_POINTER = (
    r"as|under(?:\s+the)?\s+(?:name|handle|username|user\s?name)(?:\s+of)?|under|called|"
    r"named|by\s+the\s+name(?:\s+of)?|known\s+as|it'?s|its|name\s+is|(?:user)?name|handle"
)
# After "i'm on tiktok": the pointers that need no handle shape after them.
_PLATFORM_POINTER = (
    r"as|under(?:\s+the)?\s+(?:name|handle|username|user\s?name)(?:\s+of)?|under|called|"
    r"named|by\s+the\s+name(?:\s+of)?"
)
_KIND = r"(?:\s+(?:handle|username|user\s?name|name|id|account|acc|tag))?"
# Each pattern: the whole match is masked; `cue` (when present) tells how sure it is.
_HANDLE_PATTERNS = (
    # "my insta is jane_doe88", "my snap: xyz", "my discord name is abc#1234"
    re.compile(
        r"\bmy\s+"
        + _PLATFORM
        + _KIND
        + r"\s*(?P<cue>is|na|'s|\u2019s|:|=|-|\u2013)\s*(?:@\s*)?"
        + _HANDLE
    ),
    # "insta: jane_doe", "snapchat - xyz", "ig @jane"
    re.compile(r"\b" + _PLATFORM + _KIND + r"\s*(?P<cue>:|=|-|\u2013|@)\s*(?:@\s*)?" + _HANDLE),
    # "@jane_doe on insta", "jane.doe88 on snapchat"
    re.compile(r"(?<![\w@])" + _HANDLE + r"\s+(?:on|at)\s+" + _PLATFORM + r"\b"),
    # "i'm on tiktok as jane_doe", "me on insta under the name velvetknees"
    re.compile(
        r"\b(?:i'?m|im|i\s+am|me|i\s+post|i\s+go)\s+(?:on|over\s+on)\s+"
        + _PLATFORM
        + r" (?P<pointer>"
        + _PLATFORM_POINTER
        + r")\s+(?:@\s*)?"
        + _HANDLE
    ),
    # "add me on insta jane_doe88", "follow me on tiktok @painwarrior"
    re.compile(
        r"\b(?:add|follow|find|message|msg|dm|pm|hmu|text|snap|whatsapp|contact|friend)"
        r"\s+me\s+(?:on|at|@|via)\s+"
        + _PLATFORM
        + r"\s*(?P<cue>:|-|,|\u2013|@)?\s*(?:@\s*)?"
        + _HANDLE
    ),
)
# What each handle pattern cannot match without (its literal words and cues), tested on
# the window first: a failed substring test costs far less than a failed pattern.
_HANDLE_NEEDS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (_HANDLE_PATTERNS[0], ("my",)),
    (_HANDLE_PATTERNS[1], (":", "=", "-", "\u2013", "@")),
    (_HANDLE_PATTERNS[2], ("on", "at")),
    (_HANDLE_PATTERNS[3], (" as", "under", "called", "named", "name")),
    (_HANDLE_PATTERNS[4], ("me",)),
)
# "snapchat is quillowbee", "insta, moth_and_mend", "telegram, it's @crookedspine", "on IG
# im lupinlegs": a plain word counts when it does not read like English (is_handle).
# Matched from a platform word on.
_SOFT_AFTER = re.compile(
    r"\b"
    + _PLATFORM
    + _KIND
    + r"(?P<soft>\s*,\s*(?:it'?s|its|is|i'?m|im)?|\s+(?:is|it'?s|its|na|i'?m|im|i\s+am))"
    r"\s+(?:@\s*)?" + _HANDLE
)
# "I'm kettlecrow on discord", "i go by fernhollow on snap": searched up to a platform word.
_SOFT_BEFORE = re.compile(
    r"\b(?P<soft>i'?m|im|i\s+am|i\s+go\s+by|i'?m\s+known\s+as)\s+(?:@\s*)?"
    + _HANDLE
    + r"\s+(?:on|over\s+on)\s+"
    + _PLATFORM
    + r"\b"
)
_PLATFORM_WORD = re.compile(r"(?<![a-z0-9_])" + _PLATFORM + r"(?![a-z0-9_])")
_REDDIT_USER = re.compile(r"(?<![\w/])(?P<handle>u/[A-Za-z0-9_\-]{3,20})\b")
_DISCORD_TAG = re.compile(r"(?<![\w#])(?P<handle>[A-Za-z0-9_.]{2,32}#\d{4})\b")
# Words that follow "my insta is" without being a handle.
_NOT_HANDLES = frozenset(
    str.split(
        "private public down dead deleted gone new old same broken hacked full boring awful "
        "great the a an not just so very really my your locked blocked banned empty there "
        "here on off toxic closed open and but or if when it its is was been being too also "
        "mostly only all of no yes hidden suspended disabled inactive quiet fine ok okay "
        "good bad how what where why who which me you him her them us linked well usual "
        "always ever much long soon normal"
    )
)
# Plain-word handles after a cue are accepted; otherwise a handle needs @, a digit, _ or .
_HANDLE_LIKE = re.compile(r"^@|^u/|[0-9_.]|#\d{4}$| (?:dot|underscore) ")


# Words of an ordinary sentence going on after "dm me" ("dm me if you want to talk").
_SENTENCE_WORDS = frozenset(
    str.split(
        "if and or but so then when because cos cause coz as for to with without about "
        "after before later soon now tonight today tomorrow sometime anytime whenever "
        "please pls plz thanks thank ty x xx xxx lol haha cheers hun hon babe love mate "
        "i i'm im i'll ill i've ive i'd we we'll you you're your yours u ur they he she it "
        "it's its this that these those there here the a an my our his her their me us "
        "is are was were be been am do does did can could would should will won't want "
        "need like just only also too not no yes any some all every more most what who "
        "how why where which let's lets talk chat chatting speak hang catch meet see send "
        "sent know get got go going come coming back again instead in at of from by up "
        "down out over off into than very really much many one"
    )
)


def _coined(word: str) -> bool:
    """Whether a plain word after "snapchat is" or before "on discord" reads like a coined
    username ("quillowbee", "kettlecrow") rather than English ("addictive", "rubbish",
    "everywhere"): long enough, in none of the word lists, without an English ending."""
    return (
        len(word) >= 6
        and word not in _NOT_HANDLES
        and word not in _SENTENCE_WORDS
        and word not in _NOT_COINED
        and not word.endswith(_ENGLISH_ENDINGS)
    )


_ENGLISH_ENDINGS = (
    "ing", "ly", "ful", "ive", "ous", "able", "ible", "ed", "less", "ish", "ant", "ent",
    "ic", "al", "ness", "ment", "ies", "ise", "ize", "est", "er", "ary", "ory", "ty",
)  # fmt: skip
_NOT_COINED = frozenset(
    str.split(
        "everything nothing something anything everywhere nowhere somewhere anyway "
        "sometimes nonsense garbage rubbish horrible terrible awesome amazing brilliant "
        "absolute literally honestly actually basically probably definitely constantly "
        "better worse hopeless pointless useless overwhelming exhausting draining because "
        "though through enough rather already another myself yourself online offline "
        "obsessed addicted hooked banned blocked weird strange stupid pretty little "
        "trouble problem people friends family support groups group pages videos posts "
        "photos pictures reels stories content memes feed timeline account accounts "
        "instead either whatever wherever whenever forever"
    )
)


# Cues after which a plain word is taken for a handle (so is any word after a pointer).
_SURE_CUES = frozenset(("is", "'s", "\u2019s", "na", ":", "=", "@"))


def find_handles(view: str, hints: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """Handles next to a platform name, reddit users and discord tags. The platform
    patterns run only in a window around each platform name, looked for only around
    `hints` (where the contact list found platform words) when given: the platform
    pattern tried at every position of a message costs ~7-20 us."""
    found: list[tuple[int, int]] = []
    windows: list[tuple[re.Pattern[str], int, int]] = []
    for platform in _platform_words(view, hints):
        start, end = max(0, platform.start() - 48), min(len(view), platform.end() + 48)
        window = view[start:end]
        for pattern, needles in _HANDLE_NEEDS:
            # A match lies inside the window, so the pattern's literal words must too.
            for needle in needles:
                if needle in window:
                    windows.append((pattern, start, end))
                    break
        # The soft patterns are tried only from this platform word on, or up to it: a
        # pattern run over a window whose cue words are common ("," "is" "im") costs more.
        for match in soft_matches(view, platform.start(), platform.end()):
            if is_handle(match) and match.span() not in found:
                found.append(match.span())
    if "u/" in view:
        windows.append((_REDDIT_USER, 0, len(view)))
    if "#" in view:
        windows.append((_DISCORD_TAG, 0, len(view)))
    for pattern, start, end in windows:
        for match in pattern.finditer(view, start, end):
            if not is_handle(match):
                continue
            if match.span() not in found:
                found.append(match.span())
    return found


def _platform_words(view: str, hints: list[tuple[int, int]] | None) -> list[re.Match[str]]:
    if hints is None:
        return list(_PLATFORM_WORD.finditer(view))
    found: list[re.Match[str]] = []
    for start, end in hints:
        for match in _PLATFORM_WORD.finditer(view, max(0, start - 1), min(len(view), end + 1)):
            if not found or match.start() >= found[-1].end():
                found.append(match)
    return found


def soft_matches(view: str, start: int, end: int) -> list[re.Match[str]]:
    """The soft patterns' matches for the platform word at start:end: from it on
    ("snapchat is quillowbee") and up to it ("I'm kettlecrow on discord")."""
    found: list[re.Match[str]] = []
    after = _SOFT_AFTER.match(view, start, min(len(view), end + 48))
    if after is not None:
        found.append(after)
    before = _SOFT_BEFORE.search(view, max(0, start - 48), end)
    if before is not None:
        found.append(before)
    return found


def is_handle(match: re.Match[str]) -> bool:
    """Whether a handle pattern's match names a handle. A plain word counts only after
    "is", ":", "=", "@" or a pointer ("as", "under the name"); after a softer cue ("snapchat
    is …", "I'm … on discord") only when it does not read like English; otherwise it must
    look like one (@, digits, _ or .), or "on insta" could mask any word."""
    handle = match.group("handle")
    bare = handle.lstrip("@").lower().rstrip(".")
    if bare in _NOT_HANDLES or len(bare) < 2:
        return False
    if _HANDLE_LIKE.search(handle):
        return True
    groups = match.groupdict()
    soft = groups.get("soft")
    if soft is not None:
        # a bare comma says least ("Snap, crackle and pop"): only a handle's shape
        return soft.strip() != "," and _coined(bare)
    return groups.get("cue") in _SURE_CUES or groups.get("pointer") is not None


# What the contact stage uses too: words that are no handle, words that point at the
# name coming next, and the words of an ordinary sentence going on after an invitation.
NOT_HANDLES = _NOT_HANDLES
POINTER = _POINTER
SENTENCE_WORDS = _SENTENCE_WORDS


__all__ = ["NOT_HANDLES", "POINTER", "SENTENCE_WORDS", "find_handles", "is_handle", "soft_matches"]
