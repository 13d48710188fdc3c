"""Contact details: no phone numbers, emails or handles in the room.

Members of these groups are vulnerable, and moving a conversation somewhere private is how
grooming and scams start. Phone numbers (found with the phonenumbers matcher), email
addresses (also "name at domain dot com"), social handles ("my insta is …", "snap: …"),
links to profiles and chat invitations (wa.me, t.me, discord.gg) and invitations such as
"DM me on WhatsApp" are masked in the delivered text (MODIFY), and the sender is told why
privately (notice). Ordinary numbers are left alone: doses (20mg), times (3pm), years,
dates, pain scores (7/10), blood pressure (120/80).

Facilitators are exempt: they share service numbers and resources.

Rules (the most telling one names the verdict): contact.phone, contact.email,
contact.address (a street address or postcode, moderation/findable.py), contact.handle
(also a name given to search for or after a platform word), contact.invite. A handle
right after a masked platform word or invitation ("add me on insta — jo smith88") is
masked with it: platform word, separators and handle.
contact.elsewhere (HOLD, alert contact): nothing above matched, but the learned model
(moderation/learned.py) reads a member's message as taking the conversation elsewhere or
giving a way to be found (a name to search for, an address); it waits for a facilitator,
so no identifier of an unforeseen shape reaches the room.
"""

import re
from dataclasses import dataclass
from typing import NamedTuple

from moderation.canonical import decompose
from moderation.context import MessageContext
from moderation.findable import (
    find_addresses,
    find_platform_names,
    find_search_names,
    might_hold_postcode,
)
from moderation.learned import Scorer
from moderation.lexicon import Hit, has_any
from moderation.links import find_links, has_link_hint, normalise
from moderation.phones import find_phones
from moderation.platforms import PLATFORM
from moderation.policy import ModerationPolicy
from moderation.scanning import Scan, Scanner
from moderation.verdict import ALLOW, Verdict, hold, modify

_LISTS = ("contact",)
_LABELS = {
    "phone": "[phone number hidden]",
    "email": "[email hidden]",
    "address": "[address hidden]",
    "handle": "[contact details hidden]",
    "invite": "[contact details hidden]",
}
_ORDER = ("phone", "email", "address", "handle", "invite")

# Said whatever else happens to the message (it may also be held for review), so it speaks
# only of the hidden part, never of whether the rest was delivered.
NOTICE = (
    "To keep everyone safe, phone numbers, email addresses, social media handles and "
    "invitations to talk somewhere else aren't shared in the group, so we've hidden that "
    "part of your message. If you'd like to stay in touch with someone, a facilitator can "
    "help."
)

# A run that may be a phone number: digits with the separators people use, an optional
# "+" in front. Letters O and l/I inside digit runs are read as 0 and 1 first (_DIGITISH
# runs with five digits or more; _read_look_alikes applies it).
_EMAIL_DOMAIN = re.compile(r"[\w\-]{1,63}(?:\.[\w\-]{1,63})+")
_AT = r"(?:\s*[\(\[\{<]\s*at\s*[\)\]\}>]\s*|\s+at\s+)"
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

_PLATFORM = PLATFORM
_HANDLE = r"(?P<handle>@?[A-Za-z0-9_][A-Za-z0-9_.]{1,29}(?:#\d{4})?)"
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
_HANDLE_LIKE = re.compile(r"^@|[0-9_.]|#\d{4}$")


@dataclass(frozen=True, slots=True)
class _Mask:
    start: int
    end: int
    kind: str


class ContactStage:
    name = "contact"

    def __init__(self, scanner: Scanner | None = None, scorer: Scorer | None = None) -> None:
        self._scanner = scanner if scanner is not None else Scanner()
        self._scorer = scorer

    def check(self, ctx: MessageContext) -> Verdict:
        if ctx.is_facilitator:
            return ALLOW
        text = ctx.text
        scan = self._scanner.scan(text)
        hits = scan.effective(_LISTS)
        masks: list[_Mask] = []
        sections: frozenset[str] | set[str] = _NO_SECTIONS
        number_words = 0
        invited = False
        if hits:
            sections = {hit.entry.section for hit in hits}
            invites = [hit for hit in hits if hit.entry.section == "invite"]
            if invites:
                invited = True
                masks.extend(_Mask(a, b, "invite") for a, b in scan.original_spans(invites))
            number_words = sum(1 for hit in hits if hit.entry.section == "number_word")

        # Cheap tests first (C-level scans), on the text with fullwidth and styled
        # characters unfolded; the patterns only run when they could match.
        plain = decompose(text)
        encoded = plain.encode("utf-8", "surrogatepass")
        digits = len(encoded) - len(encoded.translate(None, b"0123456789"))
        # digits and number words mixed ("07700 nine hundred and twelve"); once the
        # message invites someone elsewhere, a few are enough ("mine is 555 oh one")
        phone = (
            digits + number_words >= 7
            or number_words >= 3
            or (invited and digits + number_words >= 3)
        )
        email = "@" in plain
        spelled_email = (
            "provider" in sections
            or "dot" in sections
            or (
                has_any(plain, _OPENING_BRACKETS) and _BRACKETED_AT_OR_DOT.search(plain) is not None
            )
        )
        handle = "platform" in sections or "u/" in plain or "#" in plain
        # "t dot me": a hint phrase may hold the "dot" itself
        links = has_link_hint(plain, sections) or ("link_hint" in sections and "dot" in plain)
        if phone or email or spelled_email or handle or links:
            wanted = _Wanted(phone, email, spelled_email, handle, links)
            platforms = _spans_of(scan, hits, "platform") if handle else None
            masks.extend(_detect(text, wanted, ctx.policy, invited=invited, platforms=platforms))
        # Ways to be found that are no handle: an address, a postcode, a name to search.
        postcodes = digits >= 2 and might_hold_postcode(encoded)  # "NE4 7PT": two digits
        if postcodes or "street" in sections:
            streets = _spans_of(scan, hits, "street")
            found = find_addresses(text, streets, postcodes=postcodes)
            masks.extend(_Mask(a, b, "address") for a, b in found)
        if "search" in sections:
            searches = _spans_of(scan, hits, "search")
            found = find_search_names(text, searches, platform="platform" in sections)
            masks.extend(_Mask(a, b, "handle") for a, b in found)
        if "platform" in sections:
            named = find_platform_names(text, _spans_of(scan, hits, "platform"))
            masks.extend(_Mask(a, b, "handle") for a, b in named)
        if not masks:
            scorer = self._scorer
            # A link is held by the link stage anyway; its review says why.
            if scorer is not None and not links and scorer.says(ctx, "contact"):
                return _ELSEWHERE
            return ALLOW
        masked, kinds = _apply(text, _with_identifiers(text, masks))
        rule = next(kind for kind in _ORDER if kind in kinds)
        return modify(
            f"contact.{rule}",
            masked,
            "Contact details were hidden from the group.",
            notice=NOTICE,
            alert="contact",
        )


_NO_SECTIONS: frozenset[str] = frozenset()


def _spans_of(scan: Scan, hits: list[Hit], section: str) -> list[tuple[int, int]]:
    """Where the hits of one section of the contact list are in the text."""
    wanted = [hit for hit in hits if hit.entry.section == section]
    return scan.original_spans(wanted) if wanted else []


# "chris_d (at) example (.) com": an "at" or a dot in brackets is no sentence.
_BRACKETED_AT_OR_DOT = re.compile(r"[\(\[\{<]\s*(?:at|dot|\.)\s*[\)\]\}>]", re.IGNORECASE)
# What the pattern starts with, looked for first: a few C-level substring scans instead of
# the pattern tried at every character (most messages have no bracket at all).
_OPENING_BRACKETS = ("(", "[", "{", "<")
_ELSEWHERE = hold(
    "contact.elsewhere",
    "This message may invite someone to talk outside the group or say how to find the sender.",
    notice=(
        "Your message looks like a way to reach you outside the group, so a facilitator will "
        "look at it before the group sees it. To keep everyone safe, contact details and "
        "invitations to talk elsewhere aren't shared here; a facilitator can help if you'd "
        "like to stay in touch with someone."
    ),
    alert="contact",
)
# A handle-shaped word right after a masked platform word or invitation, across
# separators ("add me on insta - jo_smith", "snap: @jo"): masked with it.
_TRAILING_HANDLE = re.compile(r"[\s:;,=@\-\u2013\u2014>]{0,4}(@?[A-Za-z0-9_][A-Za-z0-9_.]{1,29})")
_PLATFORM_END = re.compile(_PLATFORM + r"(?:\s+me)?\s*$", re.IGNORECASE)
# Once a message is caught inviting someone elsewhere, what else in it names the sender
# there: handle-shaped words (a dot or underscore inside, letters then digits, @name,
# u/name) and a personal name (two to four capitalised words: "add me on fb, Sandra
# Pikesley"). Masked with the invitation, so the identifier never reaches the room.
_HANDLE_SHAPED = re.compile(
    r"(?<![\w@/.])(?:@[A-Za-z0-9_.]{2,30}|u/[A-Za-z0-9_\-]{3,20}|"
    r"[A-Za-z][A-Za-z0-9]+(?:\.[A-Za-z0-9]{2,}|_[A-Za-z0-9]+)+_?|[A-Za-z]{3,}[0-9]{2,}|"
    # run-together capitals ("BadBackBrandon"), letters spaced out ("K e v i n")
    r"[A-Z]?[a-z]+(?:[A-Z][a-z0-9]+){2,}|(?:[A-Za-z0-9@.] {1,2}){4,}[A-Za-z0-9])(?![\w@])"
)
_NAME = re.compile(
    r"(?<![\w'])(?:[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?|[A-Z]{2}|[A-Z]\.)"
    r"(?:\s+(?:[A-Z][a-z\u00e0-\u00ff]+(?:[-'][A-Z]?[a-z]+)?|[A-Z]\.|[A-Z\u00c0-\u00de]"
    r"[a-z\u00e0-\u00ff]+|and|with|of)){1,3}(?![\w'])"
)
# A name in quotes next to an invitation ("our gc \"Spoonie Squad 2.0\" on insta").
_QUOTED = re.compile(r"[\"\u201c][^\"\u201c\u201d\n]{2,40}[\"\u201d]")
# After an invitation, the words that go on naming where ("add me on ins*a, crpscarly",
# "add me on Xbox, gamertag BadBackBrandon"), up to the first word of an ordinary
# sentence going on ("dm me on insta if you want") or the end of the sentence.
_NEXT_WORD = re.compile(r"[\s:;,=\-\u2013\u2014>|/]*(?:[^\w\s\\.,!?;:'\"(]*\s*)?([^\s,;]+)")
_TRAILING_WORDS = 3
_PLATFORM_NEXT = re.compile(r"[\s:;,\-]*(?:(?:the|my)\s+)?" + PLATFORM + r"\b", re.IGNORECASE)
_POINTER_AFTER = re.compile(
    r"[\s:;,=\-\u2013\u2014>]*(?:" + _POINTER + r")(?=[\s:,@\-])", re.IGNORECASE
)


def _with_identifiers(text: str, masks: list[_Mask]) -> list[_Mask]:
    """The masks, plus a handle after a masked platform word and, in a message caught
    inviting someone elsewhere, every handle-shaped word and personal name in it."""
    out = _with_trailing_handles(text, masks)
    if not any(mask.kind in _JOINABLE for mask in masks):
        return out
    caught = list(out)
    for mask in caught:
        if mask.kind in _JOINABLE:
            out.extend(_trailing_words(text, mask))
    for pattern in (_HANDLE_SHAPED, _NAME, _QUOTED):
        for match in pattern.finditer(text):
            start, end = match.span()
            if match.group().split()[-1].lower() in _NOT_NAMES:
                continue
            if any(m.start <= start and end <= m.end for m in out):
                continue
            # A name counts only next to the invitation (within _NAME_REACH characters):
            # "Mary Jones said hi" later in the message is someone else.
            reach = _QUOTE_REACH if pattern is _QUOTED else _NAME_REACH
            if pattern is not _HANDLE_SHAPED and not any(
                start - reach <= m.end and m.start <= end + reach for m in caught
            ):
                continue
            out.append(_Mask(start, end, "handle"))
    return out


_NAME_REACH = 24
_QUOTE_REACH = 40


def _trailing_words(text: str, mask: _Mask) -> list[_Mask]:
    """Up to _TRAILING_WORDS words after an invitation that go on naming where or who:
    masked with it, up to a word of an ordinary sentence or the sentence's end."""
    out: list[_Mask] = []
    position = mask.end
    pointed = False
    # "add me on the gram, hazel underscore hurts": the platform goes with the invitation
    platform = _PLATFORM_NEXT.match(text, position)
    if platform is not None:
        position = platform.end()
        out.append(_Mask(mask.start, position, mask.kind))
    for _ in range(_TRAILING_WORDS):
        if text[mask.end : position].rstrip().endswith((".", "!", "?")):
            break
        if not pointed:
            # "find me on insta under the name velvetknees": the pointer and the name.
            pointer = _POINTER_AFTER.match(text, position)
            if pointer is not None:
                pointed = True
                position = pointer.end()
                match = _NEXT_WORD.match(text, position)
                word = "" if match is None else match.group(1).strip(".!?)\"'").lower()
                if match is None or not word or word in _NOT_TRAILING:
                    break
                out.append(_Mask(mask.start, match.end(1), mask.kind))
                position = match.end(1)
                continue
        match = _NEXT_WORD.match(text, position)
        if match is None:
            break
        word = match.group(1).strip(".!?)\"'").lower()
        if not word or word in _SENTENCE_WORDS:
            break
        out.append(_Mask(mask.start, match.end(1), mask.kind))
        position = match.end(1)
    return out


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


# Capitalised words that end a phrase without naming anyone.
_NOT_NAMES = frozenset(
    str.split(
        "facebook fb instagram insta snapchat snap whatsapp telegram discord reddit twitter "
        "tiktok youtube linkedin xbox signal messenger monday tuesday wednesday thursday "
        "friday saturday sunday january february march april may june july august "
        "september october november december i im nhs gp"
    )
)


def _with_trailing_handles(text: str, masks: list[_Mask]) -> list[_Mask]:
    out = list(masks)
    for mask in masks:
        if mask.kind not in _JOINABLE or not _PLATFORM_END.search(text, mask.start, mask.end):
            continue
        match = _TRAILING_HANDLE.match(text, mask.end)
        if match is None:
            continue
        word = match.group(1)
        if word.lstrip("@").lower().rstrip(".") in _NOT_TRAILING:
            continue
        out.append(_Mask(mask.start, match.end(), mask.kind))
    return out


# Words after "dm me on insta" that are the sentence going on, not a username.
_NOT_AFTER_PLATFORM = frozenset(
    str.split(
        "if x xx xxx please pls plz lol haha thanks thank ty tonight today tomorrow later "
        "sometime anytime whenever then instead too as for to with because cos cause coz "
        "hun hon babe love lovely mate guys everyone anyone cheers soon now"
    )
)
_NOT_TRAILING = _NOT_HANDLES | _NOT_AFTER_PLATFORM


class _Wanted(NamedTuple):
    """Which detectors could find something in this message."""

    phone: bool
    email: bool
    spelled_email: bool
    handle: bool
    links: bool


def _detect(
    text: str,
    wanted: _Wanted,
    policy: ModerationPolicy,
    *,
    invited: bool = False,
    platforms: list[tuple[int, int]] | None = None,
) -> list[_Mask]:
    """Phone numbers, emails, handles and contact links, as spans of `text`. `invited`:
    the message invites someone elsewhere, so a shorter number is a phone number too.
    `platforms`: where the contact list found platform words in `text`."""
    view, origin = normalise(text)
    if _KEYCAP in view:
        view, origin = _without_keycaps(view, origin)
    low = view.lower()
    if len(low) != len(view):  # a few letters lower-case to two ("İ")
        low = view
    found: list[tuple[int, int, str]] = []
    if wanted.phone:
        found.extend((start, end, "phone") for start, end in find_phones(low, policy, cued=invited))
    if wanted.email:
        found.extend((start, end, "email") for start, end in _emails(low))
    if wanted.spelled_email:
        spelled_at = _AT_WORD.search(low) is not None
        if spelled_at:
            found.extend((m.start(), m.end(), "email") for m in _SPELLED_EMAIL.finditer(low))
        if spelled_at or "@" in low:
            found.extend((m.start(), m.end(), "email") for m in _PROVIDER_EMAIL.finditer(low))
    if wanted.handle:
        # the platform words the list found, where the view has the text's positions
        hints = platforms if origin is None else None
        found.extend((start, end, "handle") for start, end in _handles(low, hints))
    if wanted.links:
        found.extend(
            (link.start, link.end, "handle") for link in find_links(low) if link.is_contact
        )
        if "slash" in low or "/" in low:
            found.extend((m.start(), m.end(), "handle") for m in _SPELLED_CHAT_LINK.finditer(low))
    if origin is None:
        return [_Mask(start, end, kind) for start, end, kind in found]
    return [
        _Mask(origin[start], _past_keycaps(text, origin[end - 1] + 1), kind)
        for start, end, kind in found
    ]


def _past_keycaps(text: str, end: int) -> int:
    """The end of a span, past the keycap marks of its last digit ("…6️⃣")."""
    while end < len(text) and text[end] in _KEYCAP_MARKS:
        end += 1
    return end


# A chat invitation spelled out: "discord dot gg slash spoonhaven", "t dot me / name",
# "chat dot whatsapp dot com slash Fq9…", "dsc gg slash …".
_LINK_DOT = r"\s*(?:\.|[\(\[]\s*(?:dot|\.)\s*[\)\]]|\bdot\b|\s)\s*"
_SPELLED_CHAT_LINK = re.compile(
    r"(?<![\w.])(?:chat"
    + _LINK_DOT
    + r")?(?:discord|dsc|t|wa|kik|signal|telegram|whatsapp|m)"
    + _LINK_DOT
    + r"(?:gg|me|group|com)(?:"
    + _LINK_DOT
    + r"com)?\s*(?:/|\bslash\b|\bforward\s+slash\b)\s*(?:(?:invite|join)\s*(?:/|\bslash\b)\s*)?"
    r"[\w+#\-]{2,}"
)


# Keycap emoji ("5️⃣"): a digit, a variation selector and the enclosing keycap.
_KEYCAP = "\u20e3"
_KEYCAP_MARKS = frozenset(("\ufe0f", _KEYCAP))


def _without_keycaps(view: str, origin: list[int] | None) -> tuple[str, list[int]]:
    """The view with keycap marks dropped ("5️⃣5️⃣5️⃣" reads "555"), each character still
    mapped to the original one it came from."""
    chars: list[str] = []
    kept: list[int] = []
    for index, char in enumerate(view):
        if char not in _KEYCAP_MARKS:
            chars.append(char)
            kept.append(index if origin is None else origin[index])
    return "".join(chars), kept


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


def _handles(view: str, hints: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
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


@dataclass(slots=True)
class _Run:
    start: int
    end: int
    kinds: set[str]


_JOINABLE = frozenset({"handle", "invite"})


def _apply(text: str, masks: list[_Mask]) -> tuple[str, set[str]]:
    """Replace the masked spans with their labels. Overlapping spans merge; so do a
    handle and an invitation separated only by punctuation ("add me on insta: jo")."""
    runs: list[_Run] = []
    for mask in sorted(masks, key=lambda m: (m.start, -m.end)):
        if runs:
            last = runs[-1]
            gap = text[last.end : mask.start] if mask.start > last.end else ""
            touching = len(gap) <= 3 and not gap.strip(" :,-\u2013.")
            if mask.start < last.end or (
                touching and mask.kind in _JOINABLE and last.kinds <= _JOINABLE
            ):
                last.end = max(last.end, mask.end)
                last.kinds.add(mask.kind)
                continue
        runs.append(_Run(mask.start, mask.end, {mask.kind}))
    out: list[str] = []
    position = 0
    kinds_seen: set[str] = set()
    for run in runs:
        kinds_seen |= run.kinds
        out.append(text[position : run.start])
        out.append(_LABELS[next(kind for kind in _ORDER if kind in run.kinds)])
        position = run.end
    out.append(text[position:])
    return "".join(out), kinds_seen


__all__ = ["NOTICE", "ContactStage"]
