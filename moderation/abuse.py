"""Abuse: slurs, harassment and threats are refused (BLOCK, code "blocked") and the
facilitators alerted (alert "abuse"); the sender gets a kind, firm reason.

Telling someone to harm or kill themselves ("kys", "go kill yourself", "nobody would miss
you") is abuse, not a crisis statement. Mild swearing is allowed by default — people vent
about pain — and masked ("f***") when the room policy sets mask_swearing (MODIFY, rule
abuse.swearing, with a notice).

Rules: abuse.slur, abuse.harassment, abuse.threat (BLOCK); abuse.swearing (MODIFY);
abuse.learned (FLAG, alert abuse): no listed phrase, but the learned model
(moderation/learned.py) reads a member's message as a threat or an insult aimed at
someone; delivered, the facilitators decide (the model alone refuses nothing). abuse.unsure (FLAG,
alert abuse): it reads as abuse, but it may also be the sender's own crisis ("k.y.s. is
what i tell myself every morning", "👋🪦 see u never"): crisis language is never
refused, so it is delivered and the facilitators decide.
"""

from moderation.context import MessageContext
from moderation.crisis import crisis_hits, sections_of
from moderation.learned import Scorer, Scores
from moderation.lexicon import Hit
from moderation.scanning import Scan, Scanner, effective
from moderation.verdict import ALLOW, Verdict, block, flag, modify

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
_ASKED_NOTICE = (
    "A facilitator has been asked to look at your message, because it could read as aimed "
    "at someone. If that isn't how you meant it, there's nothing you need to do."
)
# Alone, the model alerts rather than refuses: its mistakes fall on ordinary talk
# ("Still here with you, Lee"), and a refused kind word hurts more than an alert.
_LEARNED = flag(
    "abuse.learned",
    "This message may be an insult or a threat aimed at someone, though it uses none of "
    "the listed phrases.",
    notice=_ASKED_NOTICE,
    alert="abuse",
)
_UNSURE = flag(
    "abuse.unsure",
    "This message may be aimed at someone, or may be about how the sender feels.",
    notice=_ASKED_NOTICE,
    alert="abuse",
)
# A crisis score at or above this (well under the crisis threshold) is doubt enough not
# to refuse a message that reads as abuse: it may be the sender's own crisis.
_CRISIS_DOUBT = 0.3
SWEARING_NOTICE = (
    "This room keeps language gentle, so some words in your message were masked. "
    "The rest of your message was delivered as you wrote it."
)


class AbuseStage:
    name = "abuse"

    def __init__(self, scanner: Scanner | None = None, scorer: Scorer | None = None) -> None:
        self._scanner = scanner if scanner is not None else Scanner()
        self._scorer = scorer

    def check(self, ctx: MessageContext) -> Verdict:
        policy = ctx.policy
        scan = self._scanner.scan(ctx.text)
        hits = effective(scan, policy.abuse_lists)
        crisis: list[Hit] | None = None
        if hits:
            # Never refuse someone's own crisis statement: a harassment phrase that
            # overlaps one ("I just want to die") is not aimed at anyone.
            crisis = self._own_crisis(scan, policy.crisis_lists)
            hits = [hit for hit in hits if not _overlaps_any(hit, crisis)]
        sections = {_RULES.get(hit.entry.section, hit.entry.section) for hit in hits}
        scorer = None if ctx.is_facilitator else self._scorer
        for section in _BLOCK_ORDER:
            if section in sections:
                if scorer is not None and _sounds_like_own_crisis(scorer.scores(ctx.written)):
                    return _UNSURE
                return _BLOCKS[section]
        if scorer is not None and scorer.says(ctx, "abuse"):
            if crisis is None:
                crisis = self._own_crisis(scan, policy.crisis_lists)
            if crisis or scorer.scores(ctx.written).crisis >= _CRISIS_DOUBT:
                return _UNSURE
            return _LEARNED
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

    @staticmethod
    def _own_crisis(scan: Scan, lists: tuple[str, ...]) -> list[Hit]:
        found = crisis_hits(scan, lists)
        return [
            hit
            for hit, section in zip(found, sections_of(scan, found), strict=True)
            if section != "others"
        ]


def _sounds_like_own_crisis(scores: Scores) -> bool:
    """A listed abuse phrase the model hears as the sender's own crisis more than as
    abuse ("k.y.s. is what i tell myself every morning")."""
    return scores.crisis >= _CRISIS_DOUBT and scores.crisis > scores.abuse


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
