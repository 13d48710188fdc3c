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
from moderation.emails import find_emails, find_spelled_emails, may_spell_email
from moderation.findable import (
    find_addresses,
    find_platform_names,
    find_search_names,
    might_hold_postcode,
)
from moderation.handles import NOT_HANDLES, POINTER, SENTENCE_WORDS, find_handles
from moderation.learned import Scorer
from moderation.lexicon import Hit
from moderation.links import find_links, has_link_hint, normalise
from moderation.phones import find_phones
from moderation.platforms import PLATFORM
from moderation.policy import ModerationPolicy
from moderation.scanning import Scan, Scanner
from moderation.verdict import ALLOW, Verdict, hold, modify

_LISTS = ("contact",)
_PLATFORM = PLATFORM
_LABELS = {
    "phone": "[phone number hidden]",
    "email": "[email hidden]",
    "address": "[address hidden]",
    "handle": "[contact details hidden]",
    "invite": "[contact details hidden]",
}
_ORDER = ("phone", "email", "address", "handle", "invite")
# What a masked number, email or address reads as in the delivered text (the medication
# stage looks for them: a medicine named next to one is an offer with a way to reach the
# sender; a masked "pm me" alone is not: "pm me your experience with tramadol").
DETAIL_LABELS = (_LABELS["phone"], _LABELS["email"], _LABELS["address"])

# Said whatever else happens to the message (it may also be held for review), so it speaks
# only of the hidden part, never of whether the rest was delivered.
NOTICE = (
    "To keep everyone safe, phone numbers, email addresses, social media handles and "
    "invitations to talk somewhere else aren't shared in the group, so we've hidden that "
    "part of your message. If you'd like to stay in touch with someone, a facilitator can "
    "help."
)


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
        spelled_email = "provider" in sections or "dot" in sections or may_spell_email(plain)
        handle = "platform" in sections or "u/" in plain or "#" in plain
        # "t dot me": a hint phrase may hold the "dot" itself
        links = has_link_hint(plain, sections) or ("link_hint" in sections and "dot" in plain)
        # Where the list found platform words (hints for the handle search, the names after
        # them, the platform word before a masked handle): mapped to the text once.
        platforms = _spans_of(scan, hits, "platform") if "platform" in sections else []
        if phone or email or spelled_email or handle or links:
            wanted = _Wanted(phone, email, spelled_email, handle, links)
            masks.extend(_detect(text, wanted, ctx.policy, invited=invited, platforms=platforms))
        # Ways to be found that are no handle: an address, a postcode, a name to search.
        postcodes = digits >= 2 and might_hold_postcode(encoded)  # "NE4 7PT": two digits
        if postcodes or "street" in sections:
            # a street needs a number, or a word saying someone is there or to come
            near_street = digits or "where" in sections
            streets = (
                _spans_of(scan, hits, "street") if "street" in sections and near_street else []
            )
            found = find_addresses(text, streets, postcodes=postcodes)
            masks.extend(_Mask(a, b, "address") for a, b in found)
        if "search" in sections:
            searches = _spans_of(scan, hits, "search")
            found = find_search_names(text, searches, platform="platform" in sections)
            masks.extend(_Mask(a, b, "handle") for a, b in found)
        if platforms:
            named = find_platform_names(text, platforms)
            masks.extend(_Mask(a, b, "handle") for a, b in named)
        if not masks:
            scorer = self._scorer
            # A link is held by the link stage anyway; its review says why.
            if scorer is not None and not links and scorer.says(ctx, "contact"):
                return _ELSEWHERE
            return ALLOW
        masked, kinds = _apply(text, _with_identifiers(text, masks, platforms))
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
# The same, for lower-cased ASCII text: on ASCII, lower() is exactly what IGNORECASE
# compares (its other equivalences, the long s U+017F for "s" or the Kelvin sign for "k",
# are not ASCII), and without the flag `re` skips an alternative on its first letter.
_PLATFORM_END_LOWER = re.compile(_PLATFORM + r"(?:\s+me)?\s*$")
# Once a message is caught inviting someone elsewhere, what else in it names the sender
# there: handle-shaped words (a dot or underscore inside, letters then digits, @name,
# u/name) and a personal name (two to four capitalised words: "add me on fb, Sandra
# Pikesley"). Masked with the invitation, so the identifier never reaches the room.
# Possessive runs ("++", "{2,}+") where what may follow a run can never be a character
# the run gave back (a run of letters before a digit, a dot or an underscore; a run that
# ends the match, before "(?![\w@])"): the same matches, without retrying every shorter
# run at every word (-39 % instructions; tests/unit/test_moderation_pattern_rewrites.py).
_HANDLE_SHAPED = re.compile(
    r"(?<![\w@/.])(?:@[A-Za-z0-9_.]{2,30}|u/[A-Za-z0-9_\-]{3,20}|"
    r"[A-Za-z][A-Za-z0-9]++(?:\.[A-Za-z0-9]{2,}+|_[A-Za-z0-9]++)+_?|[A-Za-z]{3,}+[0-9]{2,}+|"
    # run-together capitals ("BadBackBrandon"), letters spaced out ("K e v i n")
    r"[A-Z]?+[a-z]++(?:[A-Z][a-z0-9]++){2,}|(?:[A-Za-z0-9@.] {1,2}){4,}[A-Za-z0-9])(?![\w@])"
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
# Both matched on the lower-cased text (a case-blind pattern costs ~3 times as much).
_PLATFORM_NEXT = re.compile(r"[\s:;,\-]*(?:(?:the|my)\s+)?" + PLATFORM + r"\b")
_POINTER_AFTER = re.compile(r"[\s:;,=\-\u2013\u2014>]*(?:" + POINTER + r")(?=[\s:,@\-])")


def _with_leading_platforms(
    text: str, masks: list[_Mask], platforms: list[tuple[int, int]]
) -> list[_Mask]:
    """A handle's mask widened back over the platform word right before it ("reddit
    u/…", "WA — …"): the platform word, separators and handle are hidden together.
    `platforms`: where the contact list found platform words."""
    if not platforms:
        return masks
    out: list[_Mask] = []
    for mask in masks:
        if mask.kind == "handle":
            for start, end in platforms:
                if end <= mask.start and _BETWEEN_PLATFORM_AND_HANDLE.fullmatch(
                    text, end, mask.start
                ):
                    mask = _Mask(start, mask.end, mask.kind)
                    break
        out.append(mask)
    return out


# What may stand between a platform word and its handle: "reddit u/…", "WA — …",
# "insta name: …".
_BETWEEN_PLATFORM_AND_HANDLE = re.compile(
    r"(?:\s+(?:is|name|handle|id))?[\s:;,=@\-\u2013\u2014]*", re.IGNORECASE
)


def _with_identifiers(
    text: str, masks: list[_Mask], platforms: list[tuple[int, int]] | None = None
) -> list[_Mask]:
    """The masks, plus a handle after a masked platform word and, in a message caught
    inviting someone elsewhere, every handle-shaped word and personal name in it.
    `platforms`: where the contact list found platform words."""
    out = _with_trailing_handles(text, _with_leading_platforms(text, masks, platforms or []))
    if not any(mask.kind in _JOINABLE for mask in masks):
        return out
    caught = list(out)
    lowered = text.lower()
    if len(lowered) != len(text):  # a few letters lower-case to two ("İ")
        lowered = text
    for mask in caught:
        if mask.kind in _JOINABLE:
            out.extend(_trailing_words(text, lowered, mask))
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


def _trailing_words(text: str, lowered: str, mask: _Mask) -> list[_Mask]:
    """Up to _TRAILING_WORDS words after an invitation that go on naming where or who:
    masked with it, up to a word of an ordinary sentence or the sentence's end."""
    out: list[_Mask] = []
    position = mask.end
    pointed = False
    # "add me on the gram, hazel underscore hurts": the platform goes with the invitation
    platform = _PLATFORM_NEXT.match(lowered, position)
    if platform is not None:
        position = platform.end()
        out.append(_Mask(mask.start, position, mask.kind))
    for _ in range(_TRAILING_WORDS):
        if text[mask.end : position].rstrip().endswith((".", "!", "?")):
            break
        if not pointed:
            # "find me on insta under the name velvetknees": the pointer and the name.
            pointer = _POINTER_AFTER.match(lowered, position)
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
        if not word or word in SENTENCE_WORDS:
            break
        out.append(_Mask(mask.start, match.end(1), mask.kind))
        position = match.end(1)
    return out


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
    lowered = text.lower() if text.isascii() else None
    for mask in masks:
        if mask.kind not in _JOINABLE:
            continue
        if lowered is not None:
            platform_end = _PLATFORM_END_LOWER.search(lowered, mask.start, mask.end)
        else:
            platform_end = _PLATFORM_END.search(text, mask.start, mask.end)
        if platform_end is None:
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
_NOT_TRAILING = NOT_HANDLES | _NOT_AFTER_PLATFORM


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
        found.extend((start, end, "email") for start, end in find_emails(low))
    if wanted.spelled_email:
        found.extend((start, end, "email") for start, end in find_spelled_emails(low))
    if wanted.handle:
        # the platform words the list found, where the view has the text's positions
        hints = platforms if origin is None else None
        found.extend((start, end, "handle") for start, end in find_handles(low, hints))
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


__all__ = ["DETAIL_LABELS", "NOTICE", "ContactStage"]
