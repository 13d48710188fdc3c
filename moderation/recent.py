"""A member's last few messages in a room, read together (context for the crisis stage).

One message is not always enough: "I'm so tired of all of it", then "thank you all for
everything", then "goodbye everyone" — none alone crosses the line, together they do. The
crisis stage remembers, per member and room, the messages that read as despair (never the
text: when and how strongly) and raises a priority crisis alert when a later message
completes the pattern.

What counts (each part was a source of false alerts when it was looser):

- **Despair earlier**: an earlier message within `window_s` that the lists read as
  hopelessness (`crisis.hopeless`) or the model scores at least `despair` without
  words of a goodbye (those are the second half) — and that was not flagged on its own
  (that one has its own alert). Nothing else is remembered, so
  a member who only chats is never tracked: ordinary talk scored faintly ("thanks
  everyone for sharing", "I tried the pacing plan") used to add up across messages.
- **This message carries some of it**: words that can mean a goodbye or a plan
  ("goodbye everyone", "thank you all for everything", "it's time") — ordinary on their
  own, which is why they need the despair before them — or a score of at least `least`
  that, with the strongest despair before it (1 - (1 - a)(1 - b)), reaches the
  crisis threshold. Only the strongest earlier message counts, not a product over all
  of them: many faint ones are no stronger than one.
- **Or two different warning signs** (`moderation/warning_signs.py`): one in an earlier
  message (affairs put in order, things given away, stepping back from care, a decision
  or a time, a sudden calm, feeling a burden, despair) and a different one now (those, or
  a goodbye) — each ordinary alone. Messages with a sign are remembered like despair.
- **One alert per pattern**: once a pattern (or one message alone) raised a priority
  alert, the member's earlier messages are forgotten (the facilitators were asked to
  check in); more despair starts a new one.

State is bounded: at most `keep` messages per member and room, members with nothing in
the window dropped by `prune(now)` (run every 1,024 messages kept), at most `max_members`.
"""

import re
from collections import deque
from dataclasses import dataclass

from moderation import warning_signs
from moderation.context import MessageContext
from moderation.warning_signs import BEFORE, DECISION, DESPAIR, GOODBYE

_PRUNE_EVERY = 1024

# Words that can mean a goodbye or a plan. Ordinary at the end of any meeting; telling
# only after despair. Read on the lower-cased text as written.
_FAREWELL = re.compile(
    r"\b(?:good ?bye|bye+|good ?night|nite|night (?:all|every(?:one|body)|guys|folks)|farewell|"
    r"take care|look after (?:yourselves|each other)|(?:thank(?:s| you)|sorry) (?:\w+ )?"
    r"(?:\w+ )?for (?:everything|it all|all of it)|love (?:you|u|ya) all|(?:won'?t|will not|"
    r"wont) be (?:here|around|back|coming)|last (?:time|message|goodbye)|(?:it'?s|its) time|"
    r"this is it|signing off|i'?m done|tonight'?s the night|see (?:you|ya) on the other side|"
    r"(?:when|once) it'?s done|i'?ve (?:decided|made up my mind)|(?:not|never) be (?:a )?"
    r"(?:burden|problem))\b"
)


def sounds_like_goodbye(text: str) -> bool:
    """Whether a message has words that can mean a goodbye or a plan."""
    return _FAREWELL.search(text.lower()) is not None


@dataclass(frozen=True, slots=True)
class Pattern:
    """Why the recent messages were flagged, for the facilitators' alert."""

    messages: int  # how many recent messages count (the current one included)
    minutes: int  # over how long
    farewell: bool = True  # the current message has words of a goodbye or a plan
    # Warning signs (moderation/warning_signs.py) that made the pattern, when they did:
    # the earlier messages' and this one's.
    earlier_signs: int = 0
    signs_now: int = 0

    def reason(self) -> str:
        if self.earlier_signs and self.signs_now:
            earlier = warning_signs.named(self.earlier_signs)
            now = "now " + warning_signs.named(self.signs_now)
        else:
            earlier = "despair"
            now = (
                "now words that can mean a goodbye or a plan"
                if self.farewell
                else "now more of the same"
            )
        return (
            "No single message said it outright, but read together, this member's last "
            f"{self.messages} messages (over {self.minutes} min) sound like someone who may "
            f"be at risk now: {earlier} earlier, and {now}. Please check in with them."
        )


@dataclass(frozen=True, slots=True)
class Seen:
    """What to remember of an accepted message: its despair, or that it completed a
    pattern (`settles`: the member's earlier messages are forgotten)."""

    key: tuple[str, str]
    at: float
    score: float
    settles: bool = False
    signs: int = 0  # warning signs (moderation/warning_signs.py); DESPAIR: counts as despair


class RecentMessages:
    def __init__(
        self,
        *,
        keep: int = 5,
        window_s: float = 1800.0,
        least: float = 0.3,
        # 0.8 with model 2026-12-07.3; model .4 scores despair lower, and 0.7 alerted 8 more
        # of wS's 200 at-risk sequences and 2 more of wV's 80, no more ordinary ones
        # (docs/moderation.md, seventh session).
        despair: float = 0.7,
        max_members: int = 5_000,
    ) -> None:
        self.keep = keep
        self.window_s = window_s
        self.least = least
        self.despair = despair
        self.max_members = max_members
        # Per member and room: (when, score, warning signs) of each remembered message.
        self._scores: dict[tuple[str, str], deque[tuple[float, float, int]]] = {}
        self._since_prune = 0

    def pattern(
        self,
        ctx: MessageContext,
        score: float,
        threshold: float,
        *,
        farewell: bool | None = None,
        view: str | None = None,
    ) -> Pattern | None:
        """A pattern across this member's recent messages and this one, if there is one.
        `farewell`: whether this message has words of a goodbye or a plan (read from the
        text when not given); `view`: its words view, for its warning signs."""
        earlier = self._scores.get((ctx.room, ctx.sender_id))
        if not earlier:
            return None
        since = ctx.now - self.window_s
        recent = [entry for entry in earlier if entry[0] >= since]
        if not recent:
            return None
        first = min(at for at, _, _ in recent)
        minutes = max(1, round((ctx.now - first) / 60))
        signs = warning_signs.signs(ctx.written, view)
        earlier_signs = 0
        for _, _, bits in recent:
            earlier_signs |= bits
        if score >= self.despair and not signs & GOODBYE:
            signs |= DESPAIR
        if two_signs(earlier_signs, signs):
            return Pattern(len(recent) + 1, minutes, True, earlier_signs, signs)
        despairs = [s for _, s, bits in recent if bits & DESPAIR and s >= self.despair]
        if not despairs:
            return None
        if farewell is None:
            farewell = sounds_like_goodbye(ctx.written) and not (
                warning_signs.see_you_next_time(ctx.written)
            )
        if not farewell:
            strongest = max(despairs)
            if score < self.least or 1.0 - (1.0 - strongest) * (1.0 - score) < threshold:
                return None
        return Pattern(len(recent) + 1, minutes, farewell)

    def seen(
        self,
        ctx: MessageContext,
        score: float,
        threshold: float = 1.0,
        *,
        hopeless: bool = False,
        settles: bool = False,
        view: str | None = None,
    ) -> Seen | None:
        """What to remember of this message once accepted: None unless it reads as despair
        (`hopeless`: the lists said so; or a score of at least `despair`) or carries a
        warning sign that can start a pattern (`view`: its words view, for looking them
        up) without being flagged on its own (`threshold`), or it completed a pattern
        (`settles`)."""
        if settles:
            return Seen((ctx.room, ctx.sender_id), ctx.now, score, settles=True)
        if score >= threshold:
            return None
        signs = warning_signs.signs(ctx.written, view, BEFORE)
        despair = hopeless or score >= self.despair
        if despair and not hopeless and sounds_like_goodbye(ctx.written):
            # A goodbye the model half-reads as one is the second half of a pattern, not
            # despair: at the end of a meeting every member says two.
            despair = False
        if despair:
            # A listed despair phrase counts at least as much as the model's bar for despair.
            return Seen(
                (ctx.room, ctx.sender_id), ctx.now, max(score, self.despair), signs=signs | DESPAIR
            )
        if signs:
            return Seen((ctx.room, ctx.sender_id), ctx.now, score, signs=signs)
        return None

    def remember(self, seen: Seen | None) -> None:
        if seen is None:
            return
        if seen.settles:
            self._scores.pop(seen.key, None)
            return
        # Kept in the order members were last heard from (a dict keeps insertion order),
        # so the one heard from longest ago is the first key: forgetting it costs O(1).
        scores = self._scores.pop(seen.key, None)
        if scores is None:
            if len(self._scores) >= self.max_members:
                del self._scores[next(iter(self._scores))]
            scores = deque(maxlen=self.keep)
        self._scores[seen.key] = scores
        scores.append((seen.at, seen.score, seen.signs))
        self._since_prune += 1
        if self._since_prune >= _PRUNE_EVERY:
            self.prune(seen.at)

    def prune(self, now: float) -> None:
        self._since_prune = 0
        since = now - self.window_s
        for key in [key for key, scores in self._scores.items() if scores[-1][0] < since]:
            del self._scores[key]

    def __len__(self) -> int:
        return len(self._scores)


def two_signs(earlier: int, now: int) -> bool:
    """Whether an earlier message's warning sign and a different one now make a pattern.
    A goodbye after a plan for tonight is how a meeting ends ("tonight's the night, the
    final's on ... night all"), so that pair alone is none."""
    if not earlier or not now:
        return False
    together = earlier | now
    if together & (together - 1) == 0:  # one sign, said twice
        return False
    if together == DECISION | GOODBYE:
        return False
    # A different sign now, or this message's own sign with a different one before it.
    return (now & ~earlier) != 0 or (earlier & ~now) != 0
