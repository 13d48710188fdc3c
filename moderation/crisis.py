"""Crisis language: flag and support, never block or silence.

People living with chronic pain have high rates of suicidal thinking. Peer-support
practice (7 Cups, TalkLife, NSPA and Samaritans guidance) is clear: a member who says they
want to die must be heard, not refused. So a first-person crisis statement is delivered
(FLAG); the sender privately gets a supportive notice with crisis lines; facilitators get
a priority alert. Only detail of methods or means (quantities, lethality, plans, how to
get them) is held for a facilitator (HOLD), because it can put other vulnerable readers at
risk — the sender still gets a supportive notice and the facilitators a priority alert.
This stage never returns BLOCK.

Who a statement is about matters: "I want to die" is the sender's; "my friend attempted
suicide", "does your partner ever say he wants to die?" are about someone else. Those get
a gentler FLAG (`crisis.others`, no priority) and a notice about helping someone else;
facilitators' own messages are not flagged for talk about others (they post resources).
Telling someone else to kill themselves is abuse (the abuse stage), not a crisis statement.

Rules (priority order):
- crisis.method    HOLD, alert crisis, priority
- crisis.suicidal  FLAG, alert crisis, priority
- crisis.overdose  FLAG, alert crisis, priority
- crisis.self_harm FLAG, alert crisis, priority
- crisis.hopeless  FLAG, alert crisis (not priority: despair, without talk of dying)
- crisis.others    FLAG, alert crisis (not priority)
- crisis.learned   FLAG, alert crisis, priority: no listed phrase, but the learned model
                   (moderation/learned.py) reads it as the sender being at risk (not a
                   goodbye that names the next meeting: "bye all, see you Thursday")
- crisis.mention   FLAG, alert crisis (not priority): a listed phrase, but the learned
                   model does not read the sender as at risk now, and words place it in
                   the past, in someone else or in a crisis line ("two years ago I
                   wanted to die", "my teenager said ...": moderation/mentions.py)
- crisis.context   FLAG, alert crisis, priority: no single message said it, but the
                   member's last few messages read together do (moderation/recent.py);
                   the facilitators' alert says so in words
The learned model only judges members' messages (facilitators post about crisis lines).
"""

from functools import lru_cache
from typing import NamedTuple

from moderation import mentions, warning_signs
from moderation.canonical import decompose, words_view
from moderation.context import MessageContext
from moderation.learned import Scorer
from moderation.lexicon import Hit
from moderation.policy import ModerationPolicy
from moderation.recent import RecentMessages, Seen
from moderation.scanning import Scan, Scanner, effective
from moderation.verdict import ALLOW, Action, Verdict, flag, hold

# Severity order of the sender's own statements; the first found decides the rule.
_SELF_ORDER = ("suicidal", "overdose", "self_harm", "hopeless")
_PRIORITY = frozenset({"suicidal", "overdose", "self_harm"})

# Looking back from a phrase for who it is about: the nearest pronoun or person word
# decides. Folded like the views, where "l" reads "i" ("she'll" is "sheii").
_LOOKBACK_WORDS = 6


def _folded(words: str) -> frozenset[str]:
    return frozenset(words_view(decompose(words)).split())


_SELF_WORDS = _folded("i im ive id i'll me my myself mine we us")
_OTHER_WORDS = _folded(
    "he she they hes shes theyre theyve theyd they'll she'll he'll him her them his hers "
    "their theirs you youre youve youd you'll your yours u ur ya friend friends son sons "
    "daughter daughters mum mom mother dad father parent parents brother sister sibling "
    "husband wife partner boyfriend girlfriend bf gf cousin uncle aunt auntie niece nephew "
    "grandson granddaughter nan gran grandma grandad grandpa granny colleague coworker "
    "neighbour neighbor flatmate roommate child children kid kids teen teenager people "
    "someone somebody anyone anybody everyone patients patient person man woman guy girl "
    "boy member members others ex fellow fiance fiancee stepson stepdaughter mate mates who"
)

_ASKING_WORDS = _folded("anyone anybody who")
(_ELSE,) = _folded("else")  # "eise" in the views

_REASON_SELF = "This message talks about wanting to die, suicide or self-harm."
_REASON_HOPELESS = "This message sounds like the sender may be feeling hopeless."
_REASON_OTHERS = "This message talks about someone else who may be at risk, or about suicide."
_REASON_LEARNED = (
    "This message reads like someone who may be thinking about ending their life or "
    "not keeping themselves safe, though it uses none of the usual words for it."
)
_REASON_MENTION = (
    "This message mentions suicide or a crisis, but reads as something in the past, about "
    "someone else, or about a crisis line, not as the sender being at risk now."
)
_REASON_METHOD = (
    "This message includes details about ways of ending a life, so a facilitator will "
    "look at it before the group sees it."
)


def crisis_lines(policy: "ModerationPolicy | _LinesOnly") -> str:
    return "\n".join(f"• {label}: {text}" for label, text in policy.crisis_lines)


def notice_for_self(policy: "ModerationPolicy | _LinesOnly") -> str:
    return (
        "Thank you for telling us how you're feeling. It sounds really hard right now, and "
        "you don't have to face it on your own. Your message has been shared with the group, "
        "and a facilitator knows, so they can check in with you.\n"
        "If you're thinking about ending your life, or you're not sure you can keep "
        "yourself safe, please talk to someone now — they're there any time:\n"
        f"{crisis_lines(policy)}\n"
        "If you are in immediate danger, call your local emergency number."
    )


def notice_for_method(policy: "ModerationPolicy | _LinesOnly") -> str:
    return (
        "Thank you for trusting us with this. Your message includes details about ways of "
        "ending a life, so it's been shared with the facilitators first rather than the "
        "whole group — others here may be struggling too. You haven't done anything wrong, "
        "and you matter. A facilitator will reach out to you.\n"
        "If you're thinking about ending your life, please talk to someone now — they're "
        "there any time:\n"
        f"{crisis_lines(policy)}\n"
        "If you are in immediate danger, call your local emergency number."
    )


def notice_for_others(policy: "ModerationPolicy | _LinesOnly") -> str:
    return (
        "It sounds like this is about someone who may be at risk, and that can be a lot to "
        "carry. If someone is in danger right now, call your local emergency number. These "
        "lines can support them — and you:\n"
        f"{crisis_lines(policy)}"
    )


class CrisisStage:
    name = "crisis"

    def __init__(
        self,
        scanner: Scanner | None = None,
        scorer: Scorer | None = None,
        recent: RecentMessages | None = None,
    ) -> None:
        self._scanner = scanner if scanner is not None else Scanner()
        self._scorer = scorer
        # Context needs the learned score of every message, so it comes with a scorer.
        self._recent = recent if scorer is not None else None

    def check(self, ctx: MessageContext) -> Verdict:
        return self.judge(ctx)[0]

    def judge(self, ctx: MessageContext) -> tuple[Verdict, Seen | None]:
        """The verdict, and what to remember of the message once it is accepted (its
        crisis score, for reading the member's next messages in context)."""
        verdict = self._decide(ctx)
        recent, scorer = self._recent, self._scorer
        if recent is None or scorer is None or ctx.is_facilitator:
            return verdict, None
        # Context reads what the model may judge: "note 0", "note 1" are no despair.
        score = scorer.judged(ctx, "crisis")
        threshold = scorer.model.thresholds[0]
        hopeless = verdict.rule == "crisis.hopeless"
        if verdict.action is not Action.ALLOW and not hopeless:
            # Flagged on its own (its own alert, or read as past or someone else's): it
            # neither completes a pattern nor counts as despair for a later one. A
            # priority alert settles the pattern so far: facilitators will check in.
            settled = recent.seen(ctx, score, settles=True) if verdict.priority else None
            return verdict, settled
        # The words view the scorer's scan of the written text built (remembered, not
        # rebuilt): the warning signs' key words are looked up in it.
        view = self._scanner.scan(ctx.written).views[0]
        pattern = recent.pattern(ctx, score, threshold, view=view)
        if pattern is not None:
            settled = recent.seen(ctx, score, settles=True)
            return _in_context(pattern.reason(), ctx.policy.crisis_lines), settled
        return verdict, recent.seen(ctx, score, threshold, hopeless=hopeless, view=view)

    def remember(self, memo: object) -> None:
        if self._recent is not None and isinstance(memo, Seen):
            self._recent.remember(memo)

    def _decide(self, ctx: MessageContext) -> Verdict:
        policy = ctx.policy
        scan = self._scanner.scan(ctx.text)
        hits = crisis_hits(scan, policy.crisis_lists)
        found = classify(scan, hits) if hits else set()
        scorer = None if ctx.is_facilitator else self._scorer
        if "method" in found:
            return _verdict("method", policy.crisis_lines)
        for section in _SELF_ORDER:
            if section in found:
                if (
                    section in _PRIORITY
                    and scorer is not None
                    and scorer.scores(ctx.written).crisis < scorer.model.thresholds[0]
                    and mentions.reads_as_mention(ctx.written)
                ):
                    # The lists heard "wanted to die"; the model does not read the sender
                    # at risk now, and words place it in the past, in someone else or in
                    # a crisis line: support offered, no priority alert.
                    return _verdict("mention", policy.crisis_lines)
                if (
                    section == "hopeless"
                    and scorer is not None
                    and scorer.beyond_despair(ctx, hopeless_phrases(scan, hits))
                ):
                    # More than despair (a burden, a wish, an exit, a time): priority.
                    return _verdict("learned", policy.crisis_lines)
                return _verdict(section, policy.crisis_lines)
        if (
            scorer is not None
            and scorer.says(ctx, "crisis")
            and not warning_signs.see_you_next_time(ctx.written)
        ):
            # "Goodbye all, see ye Thursday": the model hears the goodbye; the next
            # meeting named in it says this one is ending, not a life.
            return _verdict("learned", policy.crisis_lines)
        if "others" in found and not ctx.is_facilitator:
            return _verdict("others", policy.crisis_lines)
        return ALLOW


@lru_cache(maxsize=64)
def _verdict(section: str, lines: tuple[tuple[str, str], ...]) -> Verdict:
    """The verdict for a crisis section. Verdicts are immutable and depend only on the
    section and the room's crisis lines, so each is built once, not on every message."""
    policy = _LinesOnly(lines)
    if section == "method":
        return hold(
            "crisis.method",
            _REASON_METHOD,
            notice=notice_for_method(policy),
            alert="crisis",
            priority=True,
        )
    if section == "others":
        return flag(
            "crisis.others", _REASON_OTHERS, notice=notice_for_others(policy), alert="crisis"
        )
    if section == "mention":
        return flag(
            "crisis.mention", _REASON_MENTION, notice=notice_for_self(policy), alert="crisis"
        )
    if section == "learned":
        return flag(
            "crisis.learned",
            _REASON_LEARNED,
            notice=notice_for_self(policy),
            alert="crisis",
            priority=True,
        )
    return flag(
        f"crisis.{section}",
        _REASON_HOPELESS if section == "hopeless" else _REASON_SELF,
        notice=notice_for_self(policy),
        alert="crisis",
        priority=section in _PRIORITY,
    )


def _in_context(why: str, lines: tuple[tuple[str, str], ...]) -> Verdict:
    return Verdict(
        Action.FLAG,
        "crisis.context",
        reason="Read together with their recent messages, this member may be at risk.",
        notice=notice_for_self(_LinesOnly(lines)),
        alert="crisis",
        priority=True,
        alert_reason=why,
    )


class _LinesOnly(NamedTuple):
    """What the notice builders read from a policy."""

    crisis_lines: tuple[tuple[str, str], ...]


def hopeless_phrases(scan: Scan, hits: list[Hit]) -> list[str]:
    """The phrases the lists read as hopelessness, as found in the message's views."""
    return [
        scan.views[hit.view][hit.start : hit.end] for hit in hits if hit.entry.section == "hopeless"
    ]


def crisis_hits(scan: Scan, lists: tuple[str, ...]) -> list[Hit]:
    """The phrases that count: plain phrases, and near rules whose sides all occurred."""
    return effective(scan, lists)


def classify(scan: Scan, hits: list[Hit]) -> set[str]:
    """The crisis sections the message is about, with subjects resolved (self/others)."""
    return set(sections_of(scan, hits))


def sections_of(scan: Scan, hits: list[Hit]) -> list[str]:
    """`section_of` for each hit. The answer depends only on the hit's view, span, section
    and subject flag, and most hits share them with another (several entries behind one
    key, the same words in both base views' lists): the look-back runs once per span."""
    decided: dict[tuple[int, int, int, str, bool], str] = {}
    out: list[str] = []
    for hit in hits:
        entry = hit.entry
        key = (hit.view, hit.start, hit.end, entry.section, entry.subject)
        section = decided.get(key)
        if section is None:
            section = decided[key] = section_of(scan, hit)
        out.append(section)
    return out


def section_of(scan: Scan, hit: Hit) -> str:
    section = hit.entry.section
    if section in ("method", "others") or not hit.entry.subject:
        return section
    view = scan.views[hit.view]
    if _SELF_WORDS.intersection(view[hit.start : hit.end].split()):
        return section  # "better off without me" is about the sender whoever comes first
    return "others" if about_someone_else(view, hit.start) else section


def about_someone_else(view: str, start: int) -> bool:
    """Whether the words just before a phrase name someone other than the sender."""
    before = view[max(0, start - 80) : start].split()[-_LOOKBACK_WORDS:]
    after = ""
    for word in reversed(before):
        if word in _SELF_WORDS:
            return False
        if word in _OTHER_WORDS:
            # "does anyone else want to die", "anybody else hurt themselves on purpose":
            # in a peer group the asker counts themselves in ("me too?").
            return not (after == _ELSE and word in _ASKING_WORDS)
        after = word
    return False  # no subject: chat drops the "I" ("thinking about ending it")
