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
contact.handle, contact.invite. A handle right after a masked platform word or invitation
("add me on insta — jo smith88") is masked with it: platform word, separators and handle.
contact.elsewhere (HOLD, alert contact): nothing above matched, but the learned model
(moderation/learned.py) reads a member's message as taking the conversation elsewhere or
giving a way to be found (a name to search for, an address); it waits for a facilitator,
so no identifier of an unforeseen shape reaches the room.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from phonenumbers import NumberParseException, is_possible_number, parse

from moderation.canonical import decompose
from moderation.context import MessageContext
from moderation.learned import Scorer
from moderation.links import find_links, has_link_hint, normalise
from moderation.policy import ModerationPolicy
from moderation.scanning import Scanner
from moderation.verdict import ALLOW, Verdict, hold, modify

_LISTS = ("contact",)
_LABELS = {
    "phone": "[phone number hidden]",
    "email": "[email hidden]",
    "handle": "[contact details hidden]",
    "invite": "[contact details hidden]",
}
_ORDER = ("phone", "email", "handle", "invite")

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
_CANDIDATE = re.compile(r"(?<![\w+])(?:\+\s*)?\(?\d[\d \t().\-\u2013\u2014]{5,24}\d(?![\w])")
_DIGITISH = re.compile(r"[\doil|][\doil| ().\-]{6,}[\doil|]")
_LOOK_ALIKE_DIGITS = str.maketrans("oil|", "0111")
_DATE = re.compile(r"^\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}$")
_RANGE = re.compile(r"^\d{1,5}\s*[-\u2013\u2014]\s*\d{1,5}$")
_NON_DIGIT = re.compile(r"\D")
_CUE = re.compile(
    r"\b(?:number|no\.?|num|phone|mobile|mob|cell|tel|telephone|landline|call|"
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
# Possessive separators ("++"): a separator run is never given back, so a failed attempt
# ends at once instead of retrying every shorter split (same matches, less backtracking).
_WORD_RUN = re.compile(
    r"\b(?:(?:\d|zero|oh|o|nought|one|two|three|four|five|six|seven|eight|nine|double|"
    r"triple)(?:[\s,.\-]++|$)){7,}"
)
_SPELLED_SEPARATOR = re.compile(r"[\s,.\-]+")

# After an "@": the domain of an email address.
_EMAIL_DOMAIN = re.compile(r"[\w\-]{1,63}(?:\.[\w\-]{1,63})+")
_AT = r"(?:\s*[\(\[\{<]\s*at\s*[\)\]\}>]\s*|\s+at\s+)"
_DOT = r"(?:\s*[\(\[\{<]\s*dot\s*[\)\]\}>]\s*|\s+dot\s+|\s*\.\s*)"
_PROVIDERS = (
    r"gmail|googlemail|hotmail|outlook|yahoo|icloud|aol|protonmail|proton|btinternet|msn|"
    r"gmx|ymail|live|sky|virginmedia|talktalk|mail"
)
_SPELLED_EMAIL = re.compile(
    r"(?<![\w.+\-])[\w+\-]{1,64}+(?:"
    + _DOT
    + r"[\w+\-]{1,64}+)*"
    + _AT
    + r"[\w\-]{2,63}+(?:"
    + _DOT
    + r"[\w\-]{2,63}+)*"
    r"" + _DOT + r"(?:com|net|org|co" + _DOT + r"uk|org" + _DOT + r"uk|uk|io|me|ie|ca|au|edu|"
    r"info|de|fr)\b"
)
# What every spelled-out "at" looks like: " at ", "(at)", "[ at ]". Both patterns above
# need one (or an "@"), and a failed search for this costs far less than either of them.
_AT_WORD = re.compile(r"[\s\(\[\{<]at[\s\)\]\}>]")
_PROVIDER_EMAIL = re.compile(
    r"(?<![\w.+\-])[\w.+\-]{2,64}+(?:\s*@\s*|" + _AT + r")(?:" + _PROVIDERS + r")\b"
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
        r"\bmy\s+" + _PLATFORM + _KIND + r"\s*(?P<cue>is|:|=|-|\u2013)\s*(?:@\s*)?" + _HANDLE
    ),
    # "insta: jane_doe", "snapchat - xyz", "ig @jane"
    re.compile(r"\b" + _PLATFORM + _KIND + r"\s*(?P<cue>:|=|-|\u2013|@)\s*(?:@\s*)?" + _HANDLE),
    # "@jane_doe on insta", "jane.doe88 on snapchat"
    re.compile(r"(?<![\w@])" + _HANDLE + r"\s+(?:on|at)\s+" + _PLATFORM + r"\b"),
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
    (_HANDLE_PATTERNS[3], ("me",)),
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
        if hits:
            sections = {hit.entry.section for hit in hits}
            invites = [hit for hit in hits if hit.entry.section == "invite"]
            if invites:
                masks.extend(_Mask(a, b, "invite") for a, b in scan.original_spans(invites))
            number_words = sum(1 for hit in hits if hit.entry.section == "number_word")

        # Cheap tests first (C-level scans), on the text with fullwidth and styled
        # characters unfolded; the patterns only run when they could match.
        plain = decompose(text)
        encoded = plain.encode("utf-8", "surrogatepass")
        digits = len(encoded) - len(encoded.translate(None, b"0123456789"))
        wanted = _Wanted(
            phone=digits >= 7 or number_words >= 3,
            email="@" in plain,
            spelled_email="provider" in sections or "dot" in sections,
            handle="platform" in sections or "u/" in plain or "#" in plain,
            links=has_link_hint(plain, sections),
        )
        if wanted.any():
            masks.extend(_detect(text, wanted, ctx.policy))
        if not masks:
            scorer = self._scorer
            if scorer is not None and scorer.says(ctx, "contact"):
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
    r"[A-Za-z][A-Za-z0-9]+(?:[._][A-Za-z0-9]{2,})+|[A-Za-z]{3,}[0-9]{2,})(?![\w@])"
)
_NAME = re.compile(
    r"(?<![\w'])[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?(?:\s+(?:[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?|"
    r"and|with|of)){1,3}(?![\w'])"
)


def _with_identifiers(text: str, masks: list[_Mask]) -> list[_Mask]:
    """The masks, plus a handle after a masked platform word and, in a message caught
    inviting someone elsewhere, every handle-shaped word and personal name in it."""
    out = _with_trailing_handles(text, masks)
    if not any(mask.kind in _JOINABLE for mask in masks):
        return out
    caught = list(out)
    for pattern in (_HANDLE_SHAPED, _NAME):
        for match in pattern.finditer(text):
            start, end = match.span()
            if match.group().split()[-1].lower() in _NOT_NAMES:
                continue
            if any(m.start <= start and end <= m.end for m in out):
                continue
            # A name counts only next to the invitation (within _NAME_REACH characters):
            # "Mary Jones said hi" later in the message is someone else.
            if pattern is _NAME and not any(
                start - _NAME_REACH <= m.end and m.start <= end + _NAME_REACH for m in caught
            ):
                continue
            out.append(_Mask(start, end, "handle"))
    return out


_NAME_REACH = 24


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

    def any(self) -> bool:
        return self.phone or self.email or self.spelled_email or self.handle or self.links


def _detect(text: str, wanted: _Wanted, policy: ModerationPolicy) -> list[_Mask]:
    """Phone numbers, emails, handles and contact links, as spans of `text`."""
    view, origin = normalise(text)
    low = view.lower()
    if len(low) != len(view):  # a few letters lower-case to two ("İ")
        low = view
    found: list[tuple[int, int, str]] = []
    if wanted.phone:
        found.extend((start, end, "phone") for start, end in _phones(low, policy))
    if wanted.email:
        found.extend((start, end, "email") for start, end in _emails(low))
    if wanted.spelled_email:
        spelled_at = _AT_WORD.search(low) is not None
        if spelled_at:
            found.extend((m.start(), m.end(), "email") for m in _SPELLED_EMAIL.finditer(low))
        if spelled_at or "@" in low:
            found.extend((m.start(), m.end(), "email") for m in _PROVIDER_EMAIL.finditer(low))
    if wanted.handle:
        found.extend((start, end, "handle") for start, end in _handles(low))
    if wanted.links:
        found.extend(
            (link.start, link.end, "handle") for link in find_links(low) if link.is_contact
        )
    if origin is None:
        return [_Mask(start, end, kind) for start, end, kind in found]
    return [_Mask(origin[start], origin[end - 1] + 1, kind) for start, end, kind in found]


def _phones(view: str, policy: ModerationPolicy) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    text = _read_look_alikes(view)
    for start, end in _candidate_windows(text):
        for match in _CANDIDATE.finditer(text, start, end):
            candidate = match.group(0)
            if _is_phone(candidate, text, match.start(), policy):
                found.append(match.span())
    if _may_spell_a_number(text):
        for match in _WORD_RUN.finditer(text):
            digits = _spelled_digits(match.group(0))
            if len(digits) >= 7 and _is_phone(digits, text, match.start(), policy, spelled=True):
                run = match.group(0)
                found.append((match.start(), match.start() + len(run.rstrip(" ,.-"))))
    return found


# The three phone patterns cost 10-25 us each over a whole 200-character message (every
# position is tried). Their matches can only lie in a few places, found with C-level
# searches first; the patterns then run there alone. The results are exactly those of
# the patterns over the whole text (tests compare the two on generated text).
_DIGIT = re.compile(r"\d")
_DIGITISH_REST = re.compile(r"[\doil| ().\-]*")
_DIGITISH_SEPARATORS = frozenset(" ().-")
_DIGITISH_CHARACTERS = frozenset("0123456789oil| ().-")
_CANDIDATE_RUN = re.compile(r"\d[\d \t().\-\u2013\u2014]*")
_CANDIDATE_INNER = frozenset(" \t().-\u2013\u2014")
# ASCII characters that are not word characters (\W) become spaces: the words left are
# the \w+ words _WORD_RUN is made of. Every ASCII code is in the table: a missing one
# costs str.translate a caught KeyError.
_NON_WORD_TO_SPACE = {
    code: chr(code) if chr(code).isalnum() or chr(code) == "_" else " " for code in range(128)
}
_NUMBER_ITEMS = frozenset(("double", "triple", *"0123456789", *_NUMBER_WORDS))


def _read_look_alikes(view: str) -> str:
    """_DIGITISH.sub: letters standing in for digits ("O7911 l23456") read as digits in
    every look-alike run with five digits or more. Same length, so spans still hold.

    A _DIGITISH match runs, within a maximal run of its characters, from the first
    digit-like character to the last, so only the runs around a digit are looked at.
    """
    pieces: list[str] = []
    done = 0
    digit = _DIGIT.search(view)
    while digit is not None:
        start = digit.start()
        while start > 0 and (
            view[start - 1] in _DIGITISH_CHARACTERS
            or (view[start - 1] > "\x7f" and view[start - 1].isdecimal())
        ):
            start -= 1
        rest = _DIGITISH_REST.match(view, digit.start())
        assert rest is not None  # "*": it always matches
        end = rest.end()
        while view[start] in _DIGITISH_SEPARATORS:
            start += 1  # the match starts at a digit-like character ...
        last = end
        while view[last - 1] in _DIGITISH_SEPARATORS:
            last -= 1  # ... and ends at one
        run = view[start:last]
        digits_read = run.translate(_LOOK_ALIKE_DIGITS)
        # Most runs have no look-alike letter: reading them changes nothing.
        if digits_read != run and last - start >= 8 and sum(map(str.isdigit, run)) >= 5:
            pieces.append(view[done:start])
            pieces.append(digits_read)
            done = last
        digit = _DIGIT.search(view, end)
    if not pieces:
        return view
    pieces.append(view[done:])
    return "".join(pieces)


def _candidate_windows(text: str) -> list[tuple[int, int]]:
    """(pos, endpos) for _CANDIDATE.finditer holding all of its matches: each maximal run
    of digits and separators, with a "+" (and spaces) in front, and one more character
    so that the pattern's look-ahead sees the real text (its look-behind always does)."""
    windows: list[tuple[int, int]] = []
    run = _CANDIDATE_RUN.search(text)
    while run is not None:
        start = run.start()
        while start > 0 and text[start - 1] in _CANDIDATE_INNER:
            start -= 1
        before = start
        while before > 0 and text[before - 1].isspace():
            before -= 1
        if before > 0 and text[before - 1] == "+":
            start = before - 1
        windows.append((start, min(len(text), run.end() + 1)))
        run = _CANDIDATE_RUN.search(text, run.end())
    return windows


def _may_spell_a_number(text: str) -> bool:
    """Whether _WORD_RUN can match: it needs seven words in a row, each a single digit or
    a number word (a match's words are whole \\w+ words with non-word characters
    between them)."""
    if not text.isascii():
        return True  # Unicode digits and word characters: leave it to the pattern
    words = text.translate(_NON_WORD_TO_SPACE).split()
    if sum(map(_NUMBER_ITEMS.__contains__, words)) < 7:
        return False  # nearly every message: counted in C
    in_a_row = 0
    for word in words:
        in_a_row = in_a_row + 1 if word in _NUMBER_ITEMS else 0
        if in_a_row >= 7:
            return True
    return False


def _spelled_digits(words: str) -> str:
    out: list[str] = []
    repeat = 1
    for word in _SPELLED_SEPARATOR.split(words.lower()):
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
    digits = _NON_DIGIT.sub("", stripped)
    if len(digits) < 7 or len(digits) > 15:
        return False
    if not spelled and (_DATE.match(stripped) or _RANGE.match(stripped)):
        return False
    if digits in _allowlisted_forms(policy.phone_allowlist):
        return False
    international = stripped.startswith("+")
    cue = _CUE.search(text, max(0, start - 40), start) is not None
    if len(digits) < 10 and not international and not cue:
        return False  # 7-9 digits with nothing saying it is a number: a reference, a code
    if cue and len(digits) >= 10:
        # Shaped like a number and introduced as one ("call me on …"): masked whatever
        # phonenumbers says (see the end), so it need not be asked.
        return True
    number = ("+" + digits) if international else digits
    if international:
        regions: tuple[str, ...] = ("ZZ",)
    elif digits.startswith("0"):
        regions = _trunk_zero_order(policy.phone_regions)
    else:
        regions = policy.phone_regions
    # Otherwise it must be a possible number of one of the regions.
    return any(_possible_number(number, region) for region in regions)


def _possible_number(number: str, region: str) -> bool:
    """Whether digits (with "+" when international) can be a phone number of `region`.

    This is exactly what phonenumbers' PhoneNumberMatcher does at Leniency.POSSIBLE for
    a candidate that is only digits (its inner-match retries need spaces, dots, slashes
    or brackets, which digits lack), without the matcher's own candidate search: parse,
    then is_possible_number. A test compares the two on many digit strings.
    """
    try:
        return bool(is_possible_number(parse(number, region, keep_raw_input=True)))
    except NumberParseException:
        return False


@lru_cache(maxsize=64)
def _trunk_zero_order(regions: tuple[str, ...]) -> tuple[str, ...]:
    # A trunk 0: not a US number; try the other regions first.
    return tuple(r for r in regions if r != "US") + (("US",) if "US" in regions else ())


@lru_cache(maxsize=64)
def _allowlisted_forms(allowlist: tuple[str, ...]) -> frozenset[str]:
    """Every digit string that counts as an allow-listed number: the number itself, with a
    country or trunk prefix in front, and (for a listed number written with its prefix)
    without it. Computed once per allow-list (policies are immutable and few)."""
    forms: set[str] = set()
    for allowed in allowlist:
        forms.add(allowed)
        for prefix in ("1", "44", "353", "0"):
            forms.add(prefix + allowed)
            if allowed.startswith(prefix):
                forms.add(allowed[len(prefix) :])
    return frozenset(forms)


def _emails(text: str) -> list[tuple[int, int]]:
    """name@domain.tld, found from each "@" (much cheaper than a pattern tried at every
    position of the text)."""
    found: list[tuple[int, int]] = []
    at = text.find("@")
    while at >= 0:
        domain = _EMAIL_DOMAIN.match(text, at + 1)
        start = at
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "._+-"):
            start -= 1
        if domain and start < at:
            found.append((start, domain.end()))
        at = text.find("@", at + 1)
    return found


def _handles(view: str) -> list[tuple[int, int]]:
    """Handles next to a platform name, reddit users and discord tags. The platform
    patterns run only in a window around each platform name."""
    found: list[tuple[int, int]] = []
    windows: list[tuple[re.Pattern[str], int, int]] = []
    for platform in _PLATFORM_WORD.finditer(view):
        start, end = max(0, platform.start() - 48), min(len(view), platform.end() + 48)
        window = view[start:end]
        for pattern, needles in _HANDLE_NEEDS:
            # A match lies inside the window, so the pattern's literal words must too.
            for needle in needles:
                if needle in window:
                    windows.append((pattern, start, end))
                    break
    if "u/" in view:
        windows.append((_REDDIT_USER, 0, len(view)))
    if "#" in view:
        windows.append((_DISCORD_TAG, 0, len(view)))
    for pattern, start, end in windows:
        for match in pattern.finditer(view, start, end):
            handle = match.group("handle")
            bare = handle.lstrip("@").lower().rstrip(".")
            if bare in _NOT_HANDLES or len(bare) < 2:
                continue
            cue = match.groupdict().get("cue")
            # A plain word counts as a handle only after "is", ":", "=" or "@"; otherwise
            # it must look like one (@, digits, _ or .), or "on insta" could mask any word.
            if cue not in ("is", ":", "=", "@") and not _HANDLE_LIKE.search(handle):
                continue
            if match.span() not in found:
                found.append(match.span())
    return found


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
