"""Abuse: slurs, harassment and threats are refused (BLOCK, code "blocked") and the
facilitators alerted (alert "abuse"); the sender gets a kind, firm reason.

Telling someone to harm or kill themselves ("kys", "go kill yourself", "nobody would miss
you") is abuse, not a crisis statement. Mild swearing is allowed by default — people vent
about pain — and masked ("f***") when the room policy sets mask_swearing (MODIFY, rule
abuse.swearing, with a notice).

Rules: abuse.slur, abuse.harassment, abuse.threat (BLOCK); abuse.swearing (MODIFY).
"""

from moderation.context import MessageContext
from moderation.crisis import crisis_hits, sections_of
from moderation.lexicon import Hit
from moderation.scanning import Scanner, effective
from moderation.verdict import ALLOW, Verdict, block, modify

_BLOCK_ORDER = ("threat", "slur", "harassment")
# List sections that share a rule id.
_RULES = {"invalidation": "harassment"}
_REASONS = {
    "slur": (
        "This message wasn't sent because it contains a slur. Words like that hurt people "
        "here — please say it another way."
    ),
    "harassment": (
        "This message wasn't sent because it could really hurt someone. It's OK to be "
        "frustrated — please share how you feel without aiming it at a person."
    ),
    "threat": (
        "This message wasn't sent because it reads as a threat. Everyone here needs to feel "
        "safe. A facilitator has been told."
    ),
}
# Verdicts are immutable values: each refusal is built once, not per message.
_BLOCKS = {
    section: block(f"abuse.{section}", "blocked", reason, alert="abuse")
    for section, reason in _REASONS.items()
}
SWEARING_NOTICE = (
    "This room keeps language gentle, so some words in your message were masked. "
    "The rest of your message was delivered as you wrote it."
)


class AbuseStage:
    name = "abuse"

    def __init__(self, scanner: Scanner | None = None) -> None:
        self._scanner = scanner if scanner is not None else Scanner()

    def check(self, ctx: MessageContext) -> Verdict:
        policy = ctx.policy
        scan = self._scanner.scan(ctx.text)
        hits = effective(scan, policy.abuse_lists)
        if hits:
            # Never refuse someone's own crisis statement: a harassment phrase that
            # overlaps one ("I just want to die") is not aimed at anyone.
            crisis_found = crisis_hits(scan, policy.crisis_lists)
            crisis = [
                hit
                for hit, section in zip(crisis_found, sections_of(scan, crisis_found), strict=True)
                if section != "others"
            ]
            hits = [hit for hit in hits if not _overlaps_any(hit, crisis)]
        sections = {_RULES.get(hit.entry.section, hit.entry.section) for hit in hits}
        for section in _BLOCK_ORDER:
            if section in sections:
                return _BLOCKS[section]
        if not policy.mask_swearing:
            return ALLOW
        swears = [hit for hit in scan.hits_for(policy.swearing_lists) if hit.entry.near is None]
        if not swears:
            return ALLOW
        masked = _mask(ctx.text, scan.original_spans(swears))
        if masked == ctx.text:
            return ALLOW
        return modify(
            "abuse.swearing", masked, "Strong language was masked.", notice=SWEARING_NOTICE
        )


def _overlaps_any(hit: Hit, others: list[Hit]) -> bool:
    return any(
        other.view == hit.view and other.start < hit.end and hit.start < other.end
        for other in others
    )


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    """Keep the first letter of each masked word, star the other letters and digits.

    A spaced-out word ("c u n t") keeps only its first letter.
    """
    chars = list(text)
    for start, end in spans:
        words = text[start:end].split()
        spaced = len(words) > 2 and all(len(word) == 1 for word in words)
        first = True
        for i in range(start, end):
            ch = chars[i]
            if ch.isspace():
                first = not spaced
                continue
            if not (ch.isalnum() or ch in "@$!|*+"):
                continue
            if first:
                first = False
                continue
            chars[i] = "*"
    return "".join(chars)
