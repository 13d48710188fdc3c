"""Duplicates and raids, compared on the canonical text (case, spacing, punctuation,
look-alike letters and invisible characters do not make a message new).

- The same member sending the same text again within `dup_window_s` (60 s) → BLOCK,
  code "duplicate", rule duplicate.repeat. Retries after a lost ack never get here: the
  service answers them from the client id first.
- The same text from `raid_members` (3) or more members of a room within `raid_window_s`
  (30 s) → HOLD, rule duplicate.raid, alert "raid": a coordinated flood. Every copy from
  the third member on is held.

A message counts only once it is accepted (appended to the log or held for review):
``judge`` decides without remembering anything and returns what to remember, and the
service hands it to ``remember`` after the append or the hold succeeded (the pipeline
collects these in ``Outcome.memos``; ``Pipeline.accept``). A copy refused later, by a
later stage, the room's rules or an unavailable backend, is not a repeat when it is sent
again.

Short messages are exempt ("same", "thank you", "❤️", "welcome!"): people say them to
several people in a row, and several people say them at once when someone shares news.
Facilitators are exempt (they repeat room guidance) and are not counted.

State is kept per process, bounded like the rate stage's: entries older than their window
are dropped by `prune(now)`, which runs by itself every PRUNE_EVERY checks (or, with more
entries, after as many checks as entries). Only hashes of the canonical text are kept,
never the text.
"""

import hashlib
from typing import NamedTuple

from moderation.context import MessageContext
from moderation.scanning import Scanner
from moderation.verdict import ALLOW, Verdict, block, hold

PRUNE_EVERY = 1024
# A member sends at most a few dozen messages a minute (the rate stage), so this bounds
# one member's memory even with an unusually long window in a room policy.
MAX_PER_MEMBER = 64


class Sent(NamedTuple):
    """What the stage remembers of one accepted message (``DuplicateStage.remember``).

    A NamedTuple, not a frozen dataclass: one is made for nearly every message, and a
    frozen dataclass sets each of its eight fields through object.__setattr__."""

    room: str
    sender_id: str
    digest: int
    repeat: bool  # long enough to be a repeat
    raid: bool  # long enough to count towards a raid
    at: float
    dup_window_s: float
    raid_window_s: float


class DuplicateStage:
    name = "duplicate"

    def __init__(self, scanner: Scanner | None = None, prune_every: int = PRUNE_EVERY) -> None:
        if prune_every < 1:
            raise ValueError("prune_every must be at least 1")
        self._scanner = scanner if scanner is not None else Scanner()
        self._prune_every = prune_every
        self._checks_until_prune = prune_every
        # (room, member) -> text hash -> (sent at, forget at); oldest first. A plain dict
        # keeps insertion order too, and is much cheaper to make than an OrderedDict (one
        # per member).
        self._sent: dict[tuple[str, str], dict[int, tuple[float, float]]] = {}
        # (room, text hash) -> member -> (sent at, forget at)
        self._raids: dict[tuple[str, int], dict[str, tuple[float, float]]] = {}

    @property
    def tracked_count(self) -> int:
        """How many (member, text) and (room, text) entries are held in memory."""
        return sum(len(v) for v in self._sent.values()) + sum(len(v) for v in self._raids.values())

    def check(self, ctx: MessageContext) -> Verdict:
        """Judge one message; remembers nothing (``judge`` says what to remember)."""
        return self.judge(ctx)[0]

    def judge(self, ctx: MessageContext) -> tuple[Verdict, Sent | None]:
        """The verdict, and what to remember of the message once it is accepted (None:
        nothing). Judging changes no memory: a message counts only when ``remember`` is
        given its ``Sent``, after it was appended or held, so a copy that never reached
        the log (Redis unavailable) is no repeat when the member retries it."""
        if ctx.is_facilitator:
            return ALLOW, None
        policy, now = ctx.policy, ctx.now
        key = self._scanner.scan(ctx.text).key
        size = len(key)
        repeat, raid = size >= policy.dup_min_chars, size >= policy.raid_min_chars
        if not (repeat or raid):
            return ALLOW, None
        self._checks_until_prune -= 1
        if self._checks_until_prune <= 0:
            self.prune(now)
        digest = hash(key)

        if repeat:
            sent = self._sent.get((ctx.room, ctx.sender_id))
            previous = sent.get(digest) if sent is not None else None
            if previous is not None and 0 <= now - previous[0] < policy.dup_window_s:
                # The window runs from the copy that went through, so retrying does not
                # push it back.
                refused = block(
                    "duplicate.repeat",
                    "duplicate",
                    "You sent this same message a moment ago, so this copy wasn't sent again.",
                )
                return refused, None
        memo = Sent(
            ctx.room,
            ctx.sender_id,
            digest,
            repeat,
            raid,
            now,
            policy.dup_window_s,
            policy.raid_window_s,
        )
        if raid:
            window = policy.raid_window_s
            senders = self._raids.get((ctx.room, digest))
            others = 0
            if senders is not None:
                others = sum(
                    1
                    for member, (at, _) in senders.items()
                    if member != ctx.sender_id and 0 <= now - at < window
                )
            if others + 1 >= policy.raid_members:
                return raid_verdict(others + 1, window), memo
        return ALLOW, memo

    def remember(self, memo: object) -> None:
        """The message ``judge`` saw was accepted (appended or held): from now on a copy
        from the same member is a repeat, and it counts towards a raid."""
        if not isinstance(memo, Sent):
            raise TypeError(f"not a duplicate-stage memo: {memo!r}")
        now, digest = memo.at, memo.digest
        if memo.repeat:
            member = (memo.room, memo.sender_id)
            sent = self._sent.get(member)
            if sent is None:
                sent = self._sent[member] = {}
            sent.pop(digest, None)  # re-inserted below, as the newest
            sent[digest] = (now, now + memo.dup_window_s)
            while len(sent) > MAX_PER_MEMBER:
                del sent[next(iter(sent))]  # the oldest
        if memo.raid:
            raid = (memo.room, digest)
            senders = self._raids.get(raid)
            if senders is None:
                senders = self._raids[raid] = {}
            window = memo.raid_window_s
            for sender in [m for m, (at, _) in senders.items() if not 0 <= now - at < window]:
                del senders[sender]
            senders[memo.sender_id] = (now, now + window)

    def shared_raid_key(self, ctx: MessageContext) -> str | None:
        """The message's raid key for counting senders across processes (a worker sees
        only its own members' copies): a stable digest of the canonical text, or None
        when the message is not raid-tracked (a facilitator's, or short)."""
        if ctx.is_facilitator:
            return None
        key = self._scanner.scan(ctx.text).key
        if len(key) < ctx.policy.raid_min_chars:
            return None
        # Not hash(): that is salted per process, and every worker must agree.
        return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()

    def prune(self, now: float) -> int:
        """Forget entries whose window has passed; returns how many were dropped."""
        dropped = 0
        for key in list(self._sent):
            sent = self._sent[key]
            for digest in [d for d, (_, forget) in sent.items() if forget <= now]:
                del sent[digest]
                dropped += 1
            if not sent:
                del self._sent[key]
        for raid in list(self._raids):
            senders = self._raids[raid]
            for member in [m for m, (_, forget) in senders.items() if forget <= now]:
                del senders[member]
                dropped += 1
            if not senders:
                del self._raids[raid]
        self._checks_until_prune = max(self._prune_every, self.tracked_count)
        return dropped


def raid_verdict(members: int, window_s: float) -> Verdict:
    """The same text from ``members`` members within ``window_s``: held for a facilitator."""
    return hold(
        "duplicate.raid",
        f"The same message came from {members} members within {window_s:g} seconds.",
        notice=(
            "Several people sent this same message just now, so a facilitator "
            "will look at it before the group sees it."
        ),
        alert="raid",
    )
