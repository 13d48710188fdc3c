"""A room's log in memory: offsets, epoch, bounded history and client_id dedupe.

A client_id is deduplicated per sender: client_ids are visible in every message event,
so another member sending one again must neither get that message's ack nor lose their
own message.

The embedded backend keeps one of these per room. Offsets start at 1 and never repeat
within an epoch; the oldest entries are trimmed beyond ``max_entries`` exactly like the
Redis stream's MAXLEN, so both backends answer recovery the same way.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Set
from dataclasses import dataclass

from rooms.entries import Entry, MessageEntry, as_message
from rooms.recovery import Since, plan_read


@dataclass(frozen=True, slots=True)
class ReadResult:
    epoch: str
    offset: int
    recovered: bool
    entries: list[Entry]
    rolled_back_from: str = ""
    """The epoch this log was rolled back from by a failover (Redis Cluster), if it was."""


class RoomLog:
    def __init__(self, epoch: str, *, max_entries: int, dedupe_size: int | None = None) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.epoch = epoch
        self.offset = 0
        self.max_entries = max_entries
        self._entries: deque[Entry] = deque()
        self._deleted: set[str] = set()
        self._by_client_id: OrderedDict[tuple[str, str], MessageEntry] = OrderedDict()
        """(sender's user id, client_id) -> the stored entry."""
        self._dedupe_size = dedupe_size if dedupe_size is not None else max_entries

    @classmethod
    def restored(
        cls, epoch: str, offset: int, entries: Iterable[Entry], *, max_entries: int
    ) -> RoomLog:
        """A log as it was kept (a store reopened after a restart): the same epoch, its
        last offset, and its retained entries in offset order, each keeping its offset."""
        log = cls(epoch, max_entries=max_entries)
        for entry in entries:
            log.offset = entry["offset"] - 1
            log.append(entry)
        log.offset = max(log.offset, offset)
        return log

    @property
    def first_offset(self) -> int:
        """The oldest retained offset (offset + 1 when nothing is retained)."""
        return self._entries[0]["offset"] if self._entries else self.offset + 1

    def find_client_id(self, user_id: str, client_id: str) -> MessageEntry | None:
        """The entry this sender appended with this client_id, if still remembered."""
        return self._by_client_id.get((user_id, client_id))

    def append(self, entry: Entry) -> Entry:
        """Give the entry the next offset and keep it; returns the stored entry."""
        self.offset += 1
        stored = entry.copy()
        stored["offset"] = self.offset
        self._entries.append(stored)
        if len(self._entries) > self.max_entries:
            dropped = self._entries.popleft()
            self._deleted.discard(dropped.get("id", ""))
        if "kind" not in stored:
            if stored["client_id"]:
                self._by_client_id[(stored["user"]["id"], stored["client_id"])] = stored
                while len(self._by_client_id) > self._dedupe_size:
                    self._by_client_id.popitem(last=False)
        elif stored["kind"] == "deleted":
            self._deleted.add(stored.get("id", ""))
            self._erase(stored.get("id", ""))
        elif stored["kind"] == "cleared":
            # The conversation is purged: the log begins again at this event (a member
            # recovering from before it gets the latest page, as after a trim).
            self._entries = deque([stored])
            self._deleted.clear()
            self._by_client_id.clear()
        return stored

    def _erase(self, msg_id: str) -> None:
        """A deleted message's words are erased from the kept copy, not only hidden: an
        erasure (a member's, or a facilitator's delete) must not leave them in the store.
        The entry keeps its place and offset, so reads by offset are unchanged."""
        for i in range(len(self._entries) - 1, -1, -1):
            entry = self._entries[i]
            if "kind" not in entry and entry["id"] == msg_id:
                erased: MessageEntry = {**entry, "text": ""}
                self._entries[i] = erased
                key = (entry["user"]["id"], entry["client_id"])
                if self._by_client_id.get(key) is entry:
                    self._by_client_id[key] = erased
                return

    def stored_message(self, msg_id: str) -> MessageEntry | None:
        """The kept copy of a message, deleted or not (a store writing it back)."""
        for entry in reversed(self._entries):
            if "kind" not in entry and entry["id"] == msg_id:
                return as_message(entry)
        return None

    def get_message(self, msg_id: str) -> MessageEntry | None:
        for entry in reversed(self._entries):
            if "kind" not in entry and entry["id"] == msg_id:
                return None if msg_id in self._deleted else entry
        return None

    def showing(self, msg_id: str) -> list[Entry]:
        """The retained entries that show a message: the message itself and any `pinned`
        event carrying a copy of it (what must go when its words are erased)."""
        return [e for e in self._entries if _message_id(e) == msg_id]

    def read(self, since: Since | None, page: int) -> ReadResult:
        plan = plan_read(
            since, epoch=self.epoch, offset=self.offset, first_offset=self.first_offset
        )
        if plan.after is None:
            visible = self._visible(self._entries)
            return ReadResult(self.epoch, self.offset, False, visible[-page:] if page else [])
        skip = plan.after - self.first_offset + 1
        tail = list(self._entries)[max(0, skip) :]
        return ReadResult(self.epoch, self.offset, plan.recovered, self._visible(tail))

    def _visible(self, entries: deque[Entry] | list[Entry]) -> list[Entry]:
        return visible_entries(entries, self._deleted)


def sender_of(entry: Entry) -> str:
    """Who sent a message entry (its client_id is theirs); "" for a room event."""
    return "" if "kind" in entry else entry["user"]["id"]


def visible_entries(entries: Iterable[Entry], deleted: Set[str]) -> list[Entry]:
    """History as clients may see it: deleted messages are left out, and so is a `pinned`
    event that carries a copy of one; the `deleted` event itself stays so a client that
    showed the message removes it."""
    if not deleted:
        return list(entries)
    return [e for e in entries if _message_id(e) not in deleted]


def _message_id(entry: Entry) -> str | None:
    """The message an entry shows: a message's own id, a `pinned` event's copy."""
    if "kind" not in entry:
        return entry["id"]
    return entry.get("id") if entry["kind"] == "pinned" else None


def without_words(entry: Entry) -> Entry:
    """A copy of an entry showing a deleted message, with the message's text gone: what a
    store keeps of it once it is deleted (the entry stays, hidden, so offsets still hold)."""
    if "kind" not in entry:
        return {**entry, "text": ""}
    copy = entry.copy()
    if "entry" in copy:
        copy["entry"] = {**copy["entry"], "text": ""}
    return copy
