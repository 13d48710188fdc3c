"""Links: resource sites on the room's allow-list pass; any other link waits for a
facilitator (HOLD, rule link.unknown, alert "link").

Links to personal profiles and chat invitations (wa.me, t.me, discord.gg …) are contact
details: the contact stage, which runs first, masks them.
"""

import re
import unicodedata
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache

from moderation.canonical import decompose
from moderation.context import MessageContext
from moderation.scanning import Scanner
from moderation.verdict import ALLOW, Verdict, hold

# Top-level domains recognised in bare domains ("example.com/page") and spelled ones
# ("example dot com"). Links with a scheme or "www." are recognised whatever their TLD.
# Common English words that are also TLDs (me, to, in, it, life, care …) are left out:
# chat often drops the space after a full stop ("no.It hurt", "rubbish.Life sucks").
_TLDS = (
    "com|org|net|edu|gov|mil|int|info|biz|io|ly|gg|co|uk|ca|au|nz|ie|de|fr|nl|ch|dk|fi|pl|"
    "pt|eu|jp|cn|ru|br|mx|za|app|dev|xyz|tv|cc|ai|scot|wales|cymru"
)
# Short hosts of chat and profile links, whose TLD is a common word ("t.me").
_SHORT_HOSTS = r"(?:wa|t|m|kik|signal|fb|telegram)\.me|linktr\.ee|instagr\.am|bsky\.app|discord\.gg"
_URL = re.compile(
    r"(?x)"
    r"(?<![\w@.\-])"
    r"(?:"
    r"  (?:https?|ftp)://[^\s<>\"'`]+"
    r"| www\.[^\s<>\"'`]+"
    r"| (?:" + _SHORT_HOSTS + r")(?:/[^\s<>\"'`]*)?"
    r"| (?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?:" + _TLDS + r")(?![\w\-])"
    r"  (?::\d{2,5})?(?:/[^\s<>\"'`]*)?"
    r")"
)
_SPELLED = re.compile(
    r"(?x)(?<![\w@.\-])"
    r"([a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?)"
    r"\s*(?:\(\s*dot\s*\)|\[\s*dot\s*\]|\{\s*dot\s*\}|\s+dot\s+)\s*"
    r"((?:co|org|ac|gov|nhs)\s*(?:\.|\s+dot\s+)\s*uk|com|org|net|uk|io|info|co|ie|ca|au)"
    r"(?![\w\-])"
)
# Links that are contact details (a chat invitation or a person's profile): masked by the
# contact stage rather than held. Chat and invitation hosts always are; social sites are
# when the link is to a person (one path segment, "@name", /u/name, /in/name), not to a
# group, post or video.
CHAT_HOSTS = (
    "wa.me",
    "chat.whatsapp.com",
    "api.whatsapp.com",
    "t.me",
    "telegram.me",
    "telegram.dog",
    "discord.gg",
    "m.me",
    "kik.me",
    "signal.me",
    "signal.group",
    "linktr.ee",
    "fb.me",
    "onlyfans.com",
)
PROFILE_HOSTS = (
    "instagram.com",
    "instagr.am",
    "tiktok.com",
    "facebook.com",
    "fb.com",
    "twitter.com",
    "x.com",
    "threads.net",
    "bsky.app",
    "reddit.com",
    "tumblr.com",
    "linkedin.com",
    "snapchat.com",
    "discord.com",
    "discordapp.com",
    "messenger.com",
)
_NOT_PEOPLE = frozenset(
    str.split(
        "groups group p reel reels watch events event pages page hashtag explore r tv stories "
        "status video videos story posts post photo photos media search help about legal "
        "policies privacy terms login signup share comments discover tag tags music live "
        "channel channels c"
    )
)
_PERSON_PREFIXES = ("u", "user", "in", "add", "invite", "profile.php", "people")
_LISTS = ("contact",)
_TRAILING = ".,;:!?)]}>'\"\u2019\u201d"


# Unicode format characters (category Cf: zero-width, bidi controls, soft hyphen, tags …).
# A test checks this against unicodedata for every code point.
FORMAT_CHARACTERS = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)


@dataclass(frozen=True, slots=True)
class Link:
    start: int  # span in the text searched
    end: int
    host: str  # lower case, no "www."
    path: str = ""  # lower case, without the leading "/"

    @property
    def is_contact(self) -> bool:
        """A chat invitation or a link to a person's profile."""
        if host_in(self.host, CHAT_HOSTS):
            return True
        if not host_in(self.host, PROFILE_HOSTS):
            return False
        segments = [part for part in re.split(r"[/?#]", self.path) if part]
        if not segments:
            return False
        first = segments[0]
        if first.startswith("@") or first in _PERSON_PREFIXES:
            return True
        return len(segments) == 1 and first not in _NOT_PEOPLE


def has_link_hint(text: str, sections: AbstractSet[str]) -> bool:
    """Whether the full link patterns are worth running: a scheme, or a TLD-like word (from
    the contact list's link_hint section) with a "." or a spelled "dot" in the message."""
    if "://" in text:
        return True
    return "link_hint" in sections and ("." in text or "dot" in sections)


def normalise(text: str) -> tuple[str, list[int] | None]:
    """Text for pattern matching: NFKC per character, format characters dropped.

    Returns the new text and, when it differs in length, for each character the index
    of the original character it came from.
    """
    if text.isascii() or (
        unicodedata.is_normalized("NFKC", text) and not FORMAT_CHARACTERS.search(text)
    ):
        return text, None
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            chars.append(ch)
            origin.append(i)
            continue
        if unicodedata.category(ch) == "Cf":
            continue
        for out in unicodedata.normalize("NFKC", ch):
            chars.append(out)
            origin.append(i)
    return "".join(chars), origin


# The ends of the word around a ".", found in C rather than one character at a time:
# matched from where the last word ended up to the ".", _UP_TO_LAST_SPACE ends just
# after the last whitespace before it (it backtracks from the "." only as far as the
# word is long); _REST_OF_WORD runs on to the next whitespace. (\s and str.isspace agree:
# both are Py_UNICODE_ISSPACE.)
_UP_TO_LAST_SPACE = re.compile(r".*\s", re.DOTALL)
_REST_OF_WORD = re.compile(r"\S*")


def find_links(text: str) -> list[Link]:
    """Links in `text` (normalised, lower case), with their host names.

    Only the words with a "." in them are tried against the pattern: much cheaper than
    trying it at every position of the text.
    """
    links: list[Link] = []
    end = 0
    dot = text.find(".")
    while dot >= 0:
        space = _UP_TO_LAST_SPACE.match(text, end, dot)
        start = end if space is None else space.end()
        rest = _REST_OF_WORD.match(text, dot + 1)
        assert rest is not None  # "*": it always matches
        end = rest.end()
        for match in _URL.finditer(text, start, end):
            raw = match.group(0)
            stripped = raw.rstrip(_TRAILING)
            host, path = _host_and_path(stripped)
            if host:
                links.append(
                    Link(match.start(), match.end() - (len(raw) - len(stripped)), host, path)
                )
        dot = text.find(".", end)
    if "dot" in text:
        links.extend(_spelled(text))
    return links


def _spelled(text: str) -> list[Link]:
    links: list[Link] = []
    for match in _SPELLED.finditer(text):
        label, tld = match.group(1), re.sub(r"\s*(?:\.|dot)\s*", ".", match.group(2).lower())
        tld = re.sub(r"\s+", "", tld)
        links.append(Link(match.start(), match.end(), f"{label.lower()}.{tld}"))
    return links


def _host_and_path(url: str) -> tuple[str, str]:
    rest = url.split("://", 1)[1] if "://" in url else url
    parts = re.split(r"([/?#])", rest, maxsplit=1)
    host = parts[0].split(":", 1)[0].lower().rstrip(".")
    if "@" in host:
        host = host.rsplit("@", 1)[1]
    path = "".join(parts[1:]).lstrip("/").lower()
    return host.removeprefix("www."), path


def host_in(host: str, domains: tuple[str, ...]) -> bool:
    """Whether `host` is one of `domains` or a subdomain of one."""
    # host == domain or host.endswith("." + domain) means: domain is the host or what
    # follows one of its dots. A host has a few dots and the lists (allow-lists with
    # dozens of sites) are fixed per policy: look the few suffixes up in a set.
    wanted = _domain_set(domains)
    if host in wanted:
        return True
    dot = host.find(".")
    while dot >= 0:
        if host[dot + 1 :] in wanted:
            return True
        dot = host.find(".", dot + 1)
    return False


@lru_cache(maxsize=64)
def _domain_set(domains: tuple[str, ...]) -> frozenset[str]:
    return frozenset(domains)


class LinkStage:
    name = "link"

    def __init__(self, scanner: Scanner | None = None) -> None:
        self._scanner = scanner if scanner is not None else Scanner()

    def check(self, ctx: MessageContext) -> Verdict:
        if ctx.is_facilitator:
            return ALLOW
        hits = self._scanner.scan(ctx.text).hits_for(_LISTS)
        if not hits and ctx.text.isascii() and "://" not in ctx.text:
            # has_link_hint without the decomposition and the set: with no contact-list
            # word, only a scheme counts, and ASCII text is its own decomposition.
            return ALLOW
        sections = {hit.entry.section for hit in hits}
        if not has_link_hint(decompose(ctx.text), sections):
            return ALLOW
        text = normalise(ctx.text)[0].lower()
        allowed = ctx.policy.link_allowlist
        unknown = [
            link
            for link in find_links(text)
            if not host_in(link.host, allowed) and not link.is_contact
        ]
        if not unknown:
            return ALLOW
        return _UNKNOWN_LINK


# Verdicts are immutable values: built once, not per message.
_UNKNOWN_LINK = hold(
    "link.unknown",
    "This message has a link to a site a facilitator hasn't checked yet.",
    notice=(
        "Thanks for sharing. To keep the group safe, links to sites we don't know yet "
        "are checked by a facilitator before everyone sees them, so your message will "
        "appear once they've had a look. Links to NHS, CDC, NIH and the main pain and "
        "mental-health charities go straight through."
    ),
    alert="link",
)
