"""Links: resource sites on the room's allow-list pass; any other link waits for a
facilitator (HOLD, rule link.unknown, alert "link").

Links to personal profiles and chat invitations (wa.me, t.me, discord.gg …) are contact
details: the contact stage, which runs first, masks them.
"""

import re
import unicodedata
from dataclasses import dataclass

from moderation.context import MessageContext
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
    r"(?ix)"
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
    r"(?ix)(?<![\w@.\-])"
    r"([a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?)"
    r"\s*(?:\(\s*dot\s*\)|\[\s*dot\s*\]|\{\s*dot\s*\}|\s+dot\s+)\s*"
    r"((?:co|org|ac|gov|nhs)\s*(?:\.|\s+dot\s+)\s*uk|com|org|net|uk|io|info|co|ie|ca|au)"
    r"(?![\w\-])"
)
# Cheap test before the full patterns: a dot between letters, a scheme, "www", " dot ".
_HINT = re.compile(r"[^\s.]\.[^\W\d_]|://|www|\bdot\b", re.IGNORECASE)
# Invitations to a private conversation elsewhere: contact details, masked by the contact
# stage rather than held.
CONTACT_HOSTS = (
    "wa.me",
    "chat.whatsapp.com",
    "api.whatsapp.com",
    "t.me",
    "telegram.me",
    "telegram.dog",
    "discord.gg",
    "discord.com",
    "discordapp.com",
    "m.me",
    "messenger.com",
    "instagram.com",
    "instagr.am",
    "snapchat.com",
    "tiktok.com",
    "facebook.com",
    "fb.com",
    "fb.me",
    "twitter.com",
    "x.com",
    "kik.me",
    "signal.me",
    "signal.group",
    "linktr.ee",
    "onlyfans.com",
    "threads.net",
    "bsky.app",
    "reddit.com",
    "tumblr.com",
    "linkedin.com",
    "wechat.com",
    "viber.com",
    "skype.com",
)
_TRAILING = ".,;:!?)]}>'\"\u2019\u201d"


@dataclass(frozen=True, slots=True)
class Link:
    start: int  # span in the text searched
    end: int
    host: str  # lower case, no "www."


def has_link_hint(text: str) -> bool:
    return _HINT.search(text) is not None


def normalise(text: str) -> tuple[str, list[int] | None]:
    """Text for pattern matching: NFKC per character, format characters dropped.

    Returns the new text and, when it differs in length, for each character the index
    of the original character it came from.
    """
    if text.isascii():
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


def original_span(origin: list[int] | None, start: int, end: int) -> tuple[int, int]:
    if origin is None:
        return start, end
    return origin[start], origin[end - 1] + 1


def find_links(text: str) -> list[Link]:
    """Links in `text` (already normalised), with their host names."""
    links: list[Link] = []
    for match in _URL.finditer(text):
        start, end = match.span()
        raw = match.group(0)
        stripped = raw.rstrip(_TRAILING)
        end -= len(raw) - len(stripped)
        host = _host(stripped)
        if host:
            links.append(Link(start, end, host))
    for match in _SPELLED.finditer(text):
        label, tld = match.group(1), re.sub(r"\s*(?:\.|dot)\s*", ".", match.group(2).lower())
        tld = re.sub(r"\s+", "", tld)
        links.append(Link(match.start(), match.end(), f"{label.lower()}.{tld}"))
    return links


def _host(url: str) -> str:
    rest = url.split("://", 1)[1] if "://" in url else url
    host = re.split(r"[/?#:]", rest, maxsplit=1)[0].lower().rstrip(".")
    if "@" in host:
        host = host.rsplit("@", 1)[1]
    return host.removeprefix("www.")


def host_in(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


class LinkStage:
    name = "link"

    def check(self, ctx: MessageContext) -> Verdict:
        if ctx.is_facilitator or not has_link_hint(ctx.text):
            return ALLOW
        text, _ = normalise(ctx.text)
        allowed = ctx.policy.link_allowlist
        unknown = [
            link
            for link in find_links(text)
            if not host_in(link.host, allowed) and not host_in(link.host, CONTACT_HOSTS)
        ]
        if not unknown:
            return ALLOW
        return hold(
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
