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
contact.handle, contact.invite.
"""

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

from moderation.context import MessageContext
from moderation.lexicon import Scanner, near_rules
from moderation.links import CONTACT_HOSTS, find_links, has_link_hint, host_in, normalise
from moderation.policy import ModerationPolicy
from moderation.verdict import ALLOW, Verdict, modify

_LABELS = {
    "phone": "[phone number hidden]",
    "email": "[email hidden]",
    "handle": "[contact details hidden]",
    "invite": "[contact details hidden]",
}
_ORDER = ("phone", "email", "handle", "invite")

NOTICE = (
    "To keep everyone safe, phone numbers, email addresses, social media handles and "
    "invitations to talk somewhere else aren't shared in the group, so we've hidden that "
    "part of your message. The rest was delivered. If you'd like to stay in touch with "
    "someone, a facilitator can help."
)

# A run that may be a phone number: digits with the separators people use, an optional
# "+" in front. Letters O and l/I inside digit runs are read as 0 and 1 first.
_CANDIDATE = re.compile(r"(?<![\w+])(?:\+\s*)?\(?\d[\d \t().\-\u2013\u2014]{5,24}\d(?![\w])")
_DIGITISH = re.compile(r"[\dOoIl|][\dOoIl| ().\-]{6,}[\dOoIl|]")
_LOOK_ALIKE_DIGITS = str.maketrans("OoIl|", "00111")
_DATE = re.compile(r"^\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}$")
_RANGE = re.compile(r"^\d{1,5}\s*[-\u2013\u2014]\s*\d{1,5}$")
_CUE = re.compile(
    r"(?i)\b(?:number|no\.?|num|phone|mobile|mob|cell|tel|telephone|landline|call|"
    r"text|txt|ring|sms|whats\s?app|signal|telegram|contact|reach|digits|dial)\b"
)
_NUMBER_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_WORD_RUN = re.compile(
    r"(?i)\b(?:(?:zero|oh|o|nought|one|two|three|four|five|six|seven|eight|nine|double|"
    r"triple|\d)(?:[\s,.\-]+|$)){7,}"
)

_EMAIL = re.compile(r"(?i)(?<![\w.+\-])[\w.+\-]{1,64}@[\w\-]{1,63}(?:\.[\w\-]{1,63})+")
_AT = r"(?:\s*[\(\[\{<]\s*at\s*[\)\]\}>]\s*|\s+at\s+)"
_DOT = r"(?:\s*[\(\[\{<]\s*dot\s*[\)\]\}>]\s*|\s+dot\s+|\s*\.\s*)"
_PROVIDERS = (
    r"gmail|googlemail|hotmail|outlook|yahoo|icloud|aol|protonmail|proton|btinternet|msn|"
    r"gmx|ymail|live|sky|virginmedia|talktalk|mail"
)
_SPELLED_EMAIL = re.compile(
    r"(?i)(?<![\w.+\-])[\w+\-]{1,64}(?:"
    + _DOT
    + r"[\w+\-]{1,64})*"
    + _AT
    + r"[\w\-]{2,63}(?:"
    + _DOT
    + r"[\w\-]{2,63})*"
    r"" + _DOT + r"(?:com|net|org|co" + _DOT + r"uk|org" + _DOT + r"uk|uk|io|me|ie|ca|au|edu|"
    r"info|de|fr)\b"
)
_PROVIDER_EMAIL = re.compile(
    r"(?i)(?<![\w.+\-])[\w.+\-]{2,64}(?:\s*@\s*|" + _AT + r")(?:" + _PROVIDERS + r")\b"
)

_PLATFORM = (
    r"(?:whats\s?app|watsapp|whatsap|wa|insta(?:gram)?|instgram|ig|snap(?:chat)?|sc|"
    r"tik\s?tok|twitter|facebook|fb|messenger|discord|telegram|tg|signal|kik|reddit|"
    r"tumblr|threads|bluesky|bsky|youtube|onlyfans|linkedin|skype|viber|wechat|wickr)"
)
_HANDLE = r"(?P<handle>@?[A-Za-z0-9_][A-Za-z0-9_.]{1,29}(?:#\d{4})?)"
_KIND = r"(?:\s+(?:handle|username|user\s?name|name|id|account|acc|tag))?"
# Each pattern: the whole match is masked; `cue` (when present) tells how sure it is.
_HANDLE_PATTERNS = (
    # "my insta is jane_doe88", "my snap: xyz", "my discord name is abc#1234"
    re.compile(
        r"(?i)\bmy\s+" + _PLATFORM + _KIND + r"\s*(?P<cue>is|:|=|-|\u2013)\s*(?:@\s*)?" + _HANDLE
    ),
    # "insta: jane_doe", "snapchat - xyz", "ig @jane"
    re.compile(r"(?i)\b" + _PLATFORM + _KIND + r"\s*(?P<cue>:|=|-|\u2013|@)\s*(?:@\s*)?" + _HANDLE),
    # "@jane_doe on insta", "jane.doe88 on snapchat"
    re.compile(r"(?i)(?<![\w@])" + _HANDLE + r"\s+(?:on|at)\s+" + _PLATFORM + r"\b"),
    # "add me on insta jane_doe88", "follow me on tiktok @painwarrior"
    re.compile(
        r"(?i)\b(?:add|follow|find|message|msg|dm|pm|hmu|text|snap|whatsapp|contact|friend)"
        r"\s+me\s+(?:on|at|@|via)\s+"
        + _PLATFORM
        + r"\s*(?P<cue>:|-|,|\u2013|@)?\s*(?:@\s*)?"
        + _HANDLE
    ),
    # reddit users and discord tags
    re.compile(r"(?i)(?<![\w/])(?P<handle>u/[A-Za-z0-9_\-]{3,20})\b"),
    re.compile(r"(?<![\w#])(?P<handle>[A-Za-z0-9_.]{2,32}#\d{4})\b"),
)
# Words that follow "my insta is" without being a handle.
_NOT_HANDLES = frozenset(
    str.split(
        "private public down dead deleted gone new old same broken hacked full boring awful "
        "great the a an not just so very really my your locked blocked banned empty there "
        "here on off toxic closed open and but or if when it its is was been being too also "
        "mostly only all of no yes hidden suspended disabled inactive quiet fine ok okay "
        "good bad how what where why who which me you him her them us linked"
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

    def __init__(self, scanner: Scanner | None = None) -> None:
        self._scanner = scanner if scanner is not None else Scanner()

    def check(self, ctx: MessageContext) -> Verdict:
        if ctx.is_facilitator:
            return ALLOW
        text = ctx.text
        scan = self._scanner.scan(text)
        hits = scan.hits_for(("contact",))
        sections = {hit.entry.section for hit in hits}
        masks: list[_Mask] = []
        invites = [hit for hit in hits if hit.entry.section == "invite"]
        invites = [hit for hit in invites if hit.entry.near is None] + near_rules(scan, invites)
        if invites:
            masks.extend(_Mask(a, b, "invite") for a, b in scan.original_spans(invites))

        digits = sum(map(text.count, "0123456789"))
        number_words = sum(1 for hit in hits if hit.entry.section == "number_word")
        wants_phone = digits >= 7 or number_words >= 5 or not text.isascii()
        wants_email = "@" in text or bool(sections & {"provider", "dot"}) or not text.isascii()
        wants_handle = "@" in text or "#" in text or "u/" in text or "platform" in sections
        wants_links = has_link_hint(text)
        if not (wants_phone or wants_email or wants_handle or wants_links or masks):
            return ALLOW

        view, origin = normalise(text)

        def keep(start: int, end: int, kind: str) -> None:
            a, b = (start, end) if origin is None else (origin[start], origin[end - 1] + 1)
            masks.append(_Mask(a, b, kind))

        if wants_phone:
            for start, end in _phones(view, ctx.policy):
                keep(start, end, "phone")
        if wants_email:
            for pattern in (_EMAIL, _SPELLED_EMAIL, _PROVIDER_EMAIL):
                for match in pattern.finditer(view):
                    keep(match.start(), match.end(), "email")
        if wants_handle:
            for start, end in _handles(view):
                keep(start, end, "handle")
        if wants_links:
            for link in find_links(view):
                if host_in(link.host, CONTACT_HOSTS):
                    keep(link.start, link.end, "handle")
        if not masks:
            return ALLOW
        masked, kinds = _apply(text, masks)
        rule = next(kind for kind in _ORDER if kind in kinds)
        return modify(
            f"contact.{rule}",
            masked,
            "Contact details were hidden from the group.",
            notice=NOTICE,
            alert="contact",
        )


def _phones(view: str, policy: ModerationPolicy) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    # Letters standing in for digits ("O7911 l23456"): same length, so spans still hold.
    text = _DIGITISH.sub(
        lambda m: (
            m.group(0).translate(_LOOK_ALIKE_DIGITS)
            if sum(ch.isdigit() for ch in m.group(0)) >= 5
            else m.group(0)
        ),
        view,
    )
    for match in _CANDIDATE.finditer(text):
        candidate = match.group(0)
        if _is_phone(candidate, text, match.start(), policy):
            found.append(match.span())
    for match in _WORD_RUN.finditer(text):
        digits = _spelled_digits(match.group(0))
        if len(digits) >= 7 and _is_phone(digits, text, match.start(), policy, spelled=True):
            run = match.group(0)
            found.append((match.start(), match.start() + len(run.rstrip(" ,.-"))))
    return found


def _spelled_digits(words: str) -> str:
    out: list[str] = []
    repeat = 1
    for word in re.split(r"[\s,.\-]+", words.lower()):
        if not word:
            continue
        if word == "double":
            repeat = 2
        elif word == "triple":
            repeat = 3
        else:
            digit = word if word.isdigit() else _NUMBER_WORDS.get(word, "")
            out.append(digit * repeat)
            repeat = 1
    return "".join(out)


def _is_phone(
    candidate: str, text: str, start: int, policy: ModerationPolicy, *, spelled: bool = False
) -> bool:
    stripped = candidate.strip()
    digits = re.sub(r"\D", "", stripped)
    if len(digits) < 7 or len(digits) > 15:
        return False
    if not spelled and (_DATE.match(stripped) or _RANGE.match(stripped)):
        return False
    if _allowlisted(digits, policy.phone_allowlist):
        return False
    international = stripped.startswith("+")
    cue = _CUE.search(text, max(0, start - 40), start) is not None
    if len(digits) < 10 and not international and not cue:
        return False  # 7-9 digits with nothing saying it is a number: a reference, a code
    number = ("+" + digits) if international else digits
    if international:
        regions: tuple[str, ...] = ("ZZ",)
    elif digits.startswith("0"):
        # A trunk 0: not a US number; try the other regions first.
        regions = tuple(r for r in policy.phone_regions if r != "US") + (
            ("US",) if "US" in policy.phone_regions else ()
        )
    else:
        regions = policy.phone_regions
    for region in regions:
        for _ in PhoneNumberMatcher(number, region, leniency=Leniency.POSSIBLE):
            return True
    # Shaped like a number and introduced as one ("call me on …"): mask it anyway.
    return cue and len(digits) >= 10


def _allowlisted(digits: str, allowlist: tuple[str, ...]) -> bool:
    for allowed in allowlist:
        if digits == allowed:
            return True
        for prefix in ("1", "44", "353", "0"):
            if digits == prefix + allowed or prefix + digits == allowed:
                return True
    return False


def _handles(view: str) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for pattern in _HANDLE_PATTERNS:
        for match in pattern.finditer(view):
            handle = match.group("handle")
            bare = handle.lstrip("@").lower().rstrip(".")
            if bare in _NOT_HANDLES or len(bare) < 2:
                continue
            cue = match.groupdict().get("cue")
            # A plain word counts as a handle only after "is", ":", "=" or "@"; otherwise
            # it must look like one (@, digits, _ or .), or "on insta" could mask any word.
            if cue not in ("is", ":", "=", "@") and not _HANDLE_LIKE.search(handle):
                continue
            found.append(match.span())
    return found


def _apply(text: str, masks: list[_Mask]) -> tuple[str, set[str]]:
    """Replace the masked spans (merged when they touch) with their labels."""
    masks = sorted(masks, key=lambda m: (m.start, -m.end))
    merged: list[list[object]] = []
    for mask in masks:
        if merged:
            last_end = merged[-1][1]
            assert isinstance(last_end, int)
            gap = text[last_end : mask.start] if mask.start > last_end else ""
            if mask.start <= last_end or (len(gap) <= 3 and not gap.strip(" :,-\u2013.")):
                merged[-1][1] = max(last_end, mask.end)
                kinds = merged[-1][2]
                assert isinstance(kinds, set)
                kinds.add(mask.kind)
                continue
        merged.append([mask.start, mask.end, {mask.kind}])
    out: list[str] = []
    last = 0
    kinds_seen: set[str] = set()
    for start, end, kinds in merged:
        assert isinstance(start, int) and isinstance(end, int) and isinstance(kinds, set)
        kinds_seen |= kinds
        label = _LABELS[next(kind for kind in _ORDER if kind in kinds)]
        out.append(text[last:start])
        out.append(label)
        last = end
    out.append(text[last:])
    return "".join(out), kinds_seen


__all__ = ["NOTICE", "ContactStage", "phonenumbers"]
