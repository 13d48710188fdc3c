"""Each group's moderation policy, as the service reads it for every message.

A group names a policy file (default, open, youth …) and a crisis-line locale. Its policy
is that file with the deployment's limits over it (HUDDLE_MAX_MESSAGE_CHARS and the rate
settings, as for the deployment's own policy) and the locale's crisis lines in place of
the defaults: what a member in crisis is told, and what the group space lists, are the
lines of the group's country first. A file with crisis lines of its own (youth: Childline)
keeps those after them, less any whose numbers the country's lines already give. Every
number of five digits or more shown joins the numbers never masked.

Reads are synchronous (the service asks on every message): the policies live in memory,
loaded from the store at start, replaced at once on the worker where an organiser
changes a group, and read again from the store every few seconds on every worker. A room
with no group has the deployment's policy."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import replace

from chatserver.organise.crisis import CRISIS_LINES
from chatserver.organise.records import Group
from chatserver.organise.store import OrganiserStore
from moderation.policy import DEFAULT_CRISIS_LINES, ModerationPolicy

log = logging.getLogger(__name__)

REFRESH_S = 5.0
_NUMBER = re.compile(r"\d[\d ]*\d|\d")


def _numbers(text: str) -> list[str]:
    """The phone numbers in a crisis line's words, as digits ("116 123" -> "116123")."""
    return [d for found in _NUMBER.findall(text) if len(d := found.replace(" ", "")) >= 3]


class RoomPolicies:
    def __init__(
        self, load: Callable[[str], ModerationPolicy], deployment: ModerationPolicy
    ) -> None:
        self._load = load
        self._deployment = deployment
        self._by_room: dict[str, ModerationPolicy] = {}
        self._made: dict[tuple[str, str], ModerationPolicy] = {}

    def __call__(self, room: str) -> ModerationPolicy:
        return self._by_room.get(room, self._deployment)

    def group_changed(self, group: Group) -> None:
        key = (group["policy"], group["crisis_locale"])
        policy = self._made.get(key)
        if policy is None:
            policy = self._made[key] = self._policy(*key)
        self._by_room[group["room"]] = policy

    def _policy(self, name: str, locale: str) -> ModerationPolicy:
        try:
            policy = self._load(name)
        except Exception:
            log.warning("moderation policy %r cannot be loaded; using the deployment's", name)
            policy = self._deployment
        local = CRISIS_LINES.get(locale)
        if local is None:
            return policy
        given = {n for _, text in local for n in _numbers(text)}
        own = () if policy.crisis_lines == DEFAULT_CRISIS_LINES else policy.crisis_lines
        shown = (*local, *(line for line in own if not set(_numbers(line[1])) <= given))
        # Short codes (000, 1737) are left out: the list matches a number by how it ends,
        # and a short ending would let other people's numbers through unmasked.
        numbers = [n for _, text in shown for n in _numbers(text) if len(n) >= 5]
        allowed = dict.fromkeys((*policy.phone_allowlist, *numbers))
        return replace(policy, crisis_lines=shown, phone_allowlist=tuple(allowed))

    async def refresh(self, store: OrganiserStore) -> None:
        for group in await store.groups():
            self.group_changed(group)

    async def refresh_forever(self, store: OrganiserStore, interval_s: float = REFRESH_S) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh(store)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("group policies not refreshed: organiser store unavailable")
