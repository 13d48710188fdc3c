"""A member's last few messages in a room, read together (context for the crisis stage).

One message is not always enough: "I'm so tired of all of it", then "thank you all for
everything", then "goodbye everyone" — none alone crosses the line, together they do. The
crisis stage keeps, per member and room, the learned crisis score of their last few
accepted messages (never the text) and raises a priority crisis alert when the recent
ones, taken together, are as telling as one message the model would flag.

How they combine: the chance that at least one of them is a crisis statement, each read
as an independent chance (1 - product of (1 - score)), over at most `keep` messages within
`window_s`. The current message must carry some of it itself (`least`), and an earlier
one must read as despair on its own (`despair`) without having been flagged alone (that
one has its own alert): a single borderline message, a past one alone, or a run of
faintly scored small talk (short messages weigh a lot) is no pattern.

State is bounded: only scores of at least `least` are kept (most messages score far
lower, so most members are never tracked), at most `keep` per member and room; members
with nothing in the window are dropped by `prune(now)` (run every 1,024 messages kept),
and at most `max_members` are tracked.
"""

from collections import deque
from dataclasses import dataclass

from moderation.context import MessageContext

_PRUNE_EVERY = 1024


@dataclass(frozen=True, slots=True)
class Pattern:
    """Why the recent messages were flagged, for the facilitators' alert."""

    messages: int  # how many recent messages count (the current one included)
    minutes: int  # over how long

    def reason(self) -> str:
        return (
            "No single message said it outright, but read together, this member's last "
            f"{self.messages} messages (over {self.minutes} min) sound like someone who may "
            "be at risk now: despair earlier, and now words that can mean a goodbye or a plan. "
            "Please check in with them."
        )


@dataclass(frozen=True, slots=True)
class Seen:
    """What to remember of an accepted message."""

    key: tuple[str, str]
    at: float
    score: float


class RecentMessages:
    def __init__(
        self,
        *,
        keep: int = 5,
        window_s: float = 1800.0,
        least: float = 0.12,
        despair: float = 0.5,
        max_members: int = 5_000,
    ) -> None:
        self.keep = keep
        self.window_s = window_s
        self.least = least
        self.despair = despair
        self.max_members = max_members
        self._scores: dict[tuple[str, str], deque[tuple[float, float]]] = {}
        self._since_prune = 0

    def pattern(self, ctx: MessageContext, score: float, threshold: float) -> Pattern | None:
        """A pattern across this member's recent messages and this one, if there is one."""
        if score < self.least:
            return None
        earlier = self._scores.get((ctx.room, ctx.sender_id))
        if not earlier:
            return None
        since = ctx.now - self.window_s
        # A message telling enough on its own was flagged on its own (its alert is open):
        # it does not make each later message a new pattern.
        recent = [(at, s) for at, s in earlier if at >= since and s < threshold]
        recent = recent[-(self.keep - 1) :]
        if not any(s >= self.despair for _, s in recent):
            return None
        clear = 1.0 - score
        for _, s in recent:
            clear *= 1.0 - s
        if 1.0 - clear < threshold:
            return None
        first = min(at for at, _ in recent)
        return Pattern(len(recent) + 1, max(1, round((ctx.now - first) / 60)))

    def seen(self, ctx: MessageContext, score: float) -> Seen:
        return Seen((ctx.room, ctx.sender_id), ctx.now, score)

    def remember(self, seen: Seen) -> None:
        # Kept in the order members were last heard from (a dict keeps insertion order),
        # so the one heard from longest ago is the first key: forgetting it costs O(1).
        scores = self._scores.pop(seen.key, None)
        if scores is None:
            if len(self._scores) >= self.max_members:
                del self._scores[next(iter(self._scores))]
            scores = deque(maxlen=self.keep)
        self._scores[seen.key] = scores
        scores.append((seen.at, seen.score))
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
