"""The group space, as members and facilitators use it (docs/protocol.md, "Group space").

Goals a member sets for the coming week (private unless shared) and answers at the next
check-in; wins kept on the wall only with their author's consent, withdrawn by them or
taken down by a facilitator; the resource shelf, curated by facilitators, with members'
suggestions held for one; the next session's time; a member's own data, downloaded or
erased. What members write here goes through the same moderation as a message (contact
details masked, crisis language brings a facilitator), and is durable (chatserver/space/).
The audit records that something happened, never its text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NotRequired, TypedDict, Unpack

from chatserver import errors
from chatserver.backend import (
    EVERYONE,
    FACILITATORS,
    AuditRecord,
    Delivery,
    ReviewStore,
    RoomBus,
    RoomLog,
    User,
)
from chatserver.errors import ServiceError
from chatserver.ids import ids
from chatserver.schema import parse_room
from chatserver.service.acks import Handler, OkAck
from chatserver.service.alerts import Alerts
from chatserver.service.clock import ServiceClock
from chatserver.service.connections import Connections
from chatserver.service.refusals import refuse
from chatserver.space.records import Goal, KeptWin, MemberData, NextSession, Resource
from chatserver.space.requests import (
    parse_answer,
    parse_goal,
    parse_next_session,
    parse_ref,
    parse_resource,
    parse_review,
)
from chatserver.space.store import GroupSpace
from moderation import Action, MessageContext, ModerationPolicy, Pipeline, RoomGate
from moderation.links import find_links, host_in, normalise
from rooms.codes import NO_SESSION
from rooms.entries import EventFields, MessageEntry, room_event
from rooms.policy import check_moderate, is_facilitator

ERASED_REASON = "removed by its author"
GOALS_IN_SPACE = 5
"""A member's latest goals shown in their group space (their download has them all)."""
MESSAGES_PAGE = 100_000
"""More than any room's retained log: a member's download covers all of it."""


class CrisisLine(TypedDict):
    label: str
    text: str


class SpaceAck(TypedDict):
    """The group space as one person may see it: the lobby between sessions, and the side
    panel during one."""

    ok: Literal[True]
    next_session: NextSession | None
    crisis_lines: list[CrisisLine]
    resources: list[Resource]
    wins: list[KeptWin]
    goals: list[Goal]
    agreement: str
    """The group agreement (the room's guidelines), shown in the lobby between sessions."""
    shared_goals: NotRequired[list[Goal]]
    """Facilitators: every member's shared goals and their answers, newest first."""


class GoalAck(TypedDict):
    ok: Literal[True]
    goal: Goal


class WinAck(TypedDict):
    ok: Literal[True]
    win: KeptWin


class ResourceAck(TypedDict):
    ok: Literal[True]
    resource: Resource


class NextSessionAck(TypedDict):
    ok: Literal[True]
    next_session: NextSession | None


class MyDataAck(TypedDict):
    ok: Literal[True]
    data: MemberDownload


class MemberDownload(MemberData):
    user_id: str
    room: str
    messages: list[MessageEntry]
    """Their messages still in the room's retained history."""
    reactions: list[OwnReaction]
    """Their support reactions on messages still in the room's history."""


class OwnReaction(TypedDict):
    msg_id: str
    reaction: str


class Recap(TypedDict):
    """What one member takes away from a session: not a transcript."""

    session_id: str
    started_ms: int
    ended_ms: int
    """0 while the session is still live (a recap so far)."""
    pinned: list[MessageEntry]
    resources: list[Resource]
    """Shelved during the session."""
    wins: list[KeptWin]
    """Kept on the wall, with their authors' consent, from this session."""
    goal: Goal | None
    """The member's own latest goal (private ones too: the recap is theirs alone)."""
    next_session: NextSession | None


class RecapAck(TypedDict):
    ok: Literal[True]
    recap: Recap


class ErasedAck(TypedDict):
    ok: Literal[True]
    records: int
    messages: int


class SpaceFlow:
    def __init__(
        self,
        connections: Connections,
        space: GroupSpace,
        log: RoomLog,
        review: ReviewStore,
        bus: RoomBus,
        alerts: Alerts,
        *,
        pipeline: Pipeline,
        policy_for: Callable[[str], ModerationPolicy],
        clock: ServiceClock,
    ) -> None:
        self._connections = connections
        self._space = space
        self._log = log
        self._review = review
        self._bus = bus
        self._alerts = alerts
        self._pipeline = pipeline
        self._policy_for = policy_for
        """Each room's moderation policy (its group's, chatserver/organise/policies.py)."""
        self._clock = clock

    def handlers(self) -> dict[str, Handler]:
        return {
            "space": self.view,
            "goal_set": self.goal_set,
            "goal_answer": self.goal_answer,
            "win_keep": self.win_keep,
            "win_withdraw": self.win_withdraw,
            "win_take_down": self.win_take_down,
            "resource_add": self.resource_add,
            "resource_review": self.resource_review,
            "resource_remove": self.resource_remove,
            "next_session_set": self.next_session_set,
            "recap": self.recap,
            "my_data": self.my_data,
            "erase_my_data": self.erase_my_data,
        }

    def _person(self, sid: str, room: str) -> User:
        conn = self._connections.in_room(sid, room, "Join the room first.")
        return conn.claims.user(room)

    def _facilitator(self, sid: str, room: str) -> User:
        user = self._person(sid, room)
        refuse(check_moderate(user["role"]))
        return user

    # -- the space as a whole ----------------------------------------------------------

    async def view(self, sid: str, data: object) -> SpaceAck:
        room = parse_room(data).room
        user = self._person(sid, room)
        facilitator = is_facilitator(user["role"])
        shelf = [
            r for r in await self._space.resources(room) if facilitator or r["status"] == "shelved"
        ]
        ack: SpaceAck = {
            "ok": True,
            "next_session": await self._space.next_session(room),
            "crisis_lines": [
                {"label": k, "text": v} for k, v in self._policy_for(room).crisis_lines
            ],
            "resources": shelf,
            "wins": await self._space.wins(room),
            "goals": (await self._space.goals_of(room, user["id"]))[:GOALS_IN_SPACE],
            "agreement": (await self._log.snapshot(room, self._clock())).state.meeting[
                "guidelines"
            ],
        }
        if facilitator:
            ack["shared_goals"] = await self._space.goals_shared(room)
        return ack

    # -- goals -------------------------------------------------------------------------

    async def goal_set(self, sid: str, data: object) -> GoalAck:
        req = parse_goal(data)
        user = self._person(sid, req.room)
        text = await self._moderated(req.room, user, req.text, "goal")
        goal: Goal = {
            "id": ids.next(),
            "room": req.room,
            "user_id": user["id"],
            "name": user["name"],
            "text": text,
            "shared": req.shared,
            "set_ms": self._clock(),
            "answer": None,
            "answer_note": "",
            "answered_ms": None,
        }
        await self._space.goal_add(goal)
        if goal["shared"]:
            await self._tell(req.room, {"kind": "goal", "goal": goal}, FACILITATORS)
        await self._audit(req.room, user, "goal_set")
        return {"ok": True, "goal": goal}

    async def goal_answer(self, sid: str, data: object) -> GoalAck:
        req = parse_answer(data)
        user = self._person(sid, req.room)
        goal = await self._space.goal_get(req.room, req.goal_id)
        if goal is None or goal["user_id"] != user["id"]:
            # Another member's goal is not theirs to answer, nor to learn exists.
            raise ServiceError(errors.INVALID_PAYLOAD, "That goal is not one of yours.")
        note = await self._moderated(req.room, user, req.note, "goal") if req.note else ""
        answered: Goal = {
            **goal,
            "answer": req.answer,
            "answer_note": note,
            "answered_ms": self._clock(),
        }
        await self._space.goal_update(answered)
        if answered["shared"]:
            # A shared goal's answer is part of the round: everyone hears it.
            await self._tell(req.room, {"kind": "goal_answered", "goal": answered}, EVERYONE)
        await self._audit(req.room, user, "goal_answered")
        return {"ok": True, "goal": answered}

    # -- the wins wall -----------------------------------------------------------------

    async def win_keep(self, sid: str, data: object) -> WinAck:
        """The author agrees to keep one of their messages on the group's wins wall."""
        req = parse_ref(data, "msg_id")
        user = self._person(sid, req.room)
        message = await self._log.get_message(req.room, req.ref)
        if message is None or message["user"]["id"] != user["id"]:
            raise ServiceError(
                errors.INVALID_PAYLOAD, "Only your own messages in this room can go on the wall."
            )
        win: KeptWin = {
            "id": ids.next(),
            "room": req.room,
            "user_id": user["id"],
            "name": user["name"],
            "text": message["text"],
            "msg_id": message["id"],
            "kept_ms": self._clock(),
        }
        if not await self._space.win_add(win):
            raise ServiceError(errors.INVALID_PAYLOAD, "That message is on the wall already.")
        await self._tell(req.room, {"kind": "win_kept", "win": win}, EVERYONE)
        await self._audit(req.room, user, "win_kept")
        return {"ok": True, "win": win}

    async def win_withdraw(self, sid: str, data: object) -> OkAck:
        req = parse_ref(data)
        user = self._person(sid, req.room)
        win = await self._space.win_get(req.room, req.ref)
        if win is None or win["user_id"] != user["id"]:
            raise ServiceError(errors.INVALID_PAYLOAD, "That win is not one of yours.")
        await self._remove_win(req.room, win, user, "win_withdrawn")
        return {"ok": True}

    async def win_take_down(self, sid: str, data: object) -> OkAck:
        req = parse_ref(data)
        user = self._facilitator(sid, req.room)
        win = await self._space.win_get(req.room, req.ref)
        if win is None:
            raise ServiceError(errors.INVALID_PAYLOAD, "That win is not on the wall.")
        await self._remove_win(req.room, win, user, "win_taken_down", req.reason)
        return {"ok": True}

    async def _remove_win(
        self, room: str, win: KeptWin, by: User, action: str, reason: str = ""
    ) -> None:
        if await self._space.win_remove(room, win["id"]):
            await self._tell(room, {"kind": "win_removed", "id": win["id"]}, EVERYONE)
            await self._audit(room, by, action, user_id=win["user_id"], reason=reason)

    # -- the resource shelf ------------------------------------------------------------

    async def resource_add(self, sid: str, data: object) -> ResourceAck:
        """A facilitator shelves an entry; a member's suggestion waits for a facilitator."""
        req = parse_resource(data)
        user = self._person(sid, req.room)
        facilitator = is_facilitator(user["role"])
        off_list = self._check_link(req.url, req.room)
        note = await self._moderated(req.room, user, req.note, "resource") if req.note else ""
        title = await self._moderated(req.room, user, req.title, "resource")
        resource: Resource = {
            "id": ids.next(),
            "room": req.room,
            "title": title,
            "url": req.url,
            "note": note,
            "tags": list(req.tags),
            "status": "shelved" if facilitator else "suggested",
            "by_user_id": user["id"],
            "by_name": user["name"],
            "created_ms": self._clock(),
        }
        if off_list:
            resource["off_list"] = True
        await self._space.resource_put(resource)
        if facilitator:
            await self._tell(req.room, {"kind": "resource", "resource": resource}, EVERYONE)
        else:
            await self._alerts.raise_alert(
                req.room,
                {
                    "room": req.room,
                    "kind": "resource",
                    "user": user,
                    "reason": f"{user['name']} suggested a resource: {title}",
                    "priority": False,
                },
            )
            await self._tell(req.room, {"kind": "resource", "resource": resource}, FACILITATORS)
        await self._audit(req.room, user, "resource_added" if facilitator else "resource_suggested")
        return {"ok": True, "resource": resource}

    async def resource_review(self, sid: str, data: object) -> OkAck:
        req = parse_review(data)
        user = self._facilitator(sid, req.room)
        resource = await self._space.resource_get(req.room, req.resource_id)
        if resource is None or resource["status"] != "suggested":
            raise ServiceError(errors.INVALID_PAYLOAD, "That suggestion was already reviewed.")
        if req.approve:
            shelved: Resource = {**resource, "status": "shelved"}
            await self._space.resource_put(shelved)
            await self._tell(req.room, {"kind": "resource", "resource": shelved}, EVERYONE)
        else:
            await self._space.resource_remove(req.room, resource["id"])
            await self._tell(
                req.room, {"kind": "resource_removed", "id": resource["id"]}, FACILITATORS
            )
        await self._audit(
            req.room, user, "resource_approved" if req.approve else "resource_declined"
        )
        return {"ok": True}

    async def resource_remove(self, sid: str, data: object) -> OkAck:
        req = parse_ref(data)
        user = self._facilitator(sid, req.room)
        if not await self._space.resource_remove(req.room, req.ref):
            raise ServiceError(errors.INVALID_PAYLOAD, "That resource is not on the shelf.")
        await self._tell(req.room, {"kind": "resource_removed", "id": req.ref}, EVERYONE)
        await self._audit(req.room, user, "resource_removed")
        return {"ok": True}

    def _check_link(self, url: str, room: str) -> bool:
        """The link rules, applied to a shelf entry: one web link, not a person's profile or
        a chat invitation. Returns whether its site is off the room's trusted list."""
        text, _ = normalise(url)
        links = find_links(text)
        if len(links) != 1 or not url.lower().startswith(("https://", "http://")):
            raise ServiceError(
                errors.INVALID_PAYLOAD, "`url` must be one web link, starting with https://."
            )
        if links[0].is_contact:
            raise ServiceError(
                errors.INVALID_PAYLOAD,
                "A link to a person's profile or a chat cannot go on the shelf.",
            )
        return not host_in(links[0].host, self._policy_for(room).link_allowlist)

    # -- the next session --------------------------------------------------------------

    async def next_session_set(self, sid: str, data: object) -> NextSessionAck:
        req = parse_next_session(data, self._clock())
        user = self._facilitator(sid, req.room)
        session: NextSession | None = None
        if req.starts_at_ms is not None:
            session = {
                "room": req.room,
                "starts_at_ms": req.starts_at_ms,
                "time_zone": req.time_zone,
            }
        await self._space.next_session_set(session, req.room)
        await self._tell(req.room, {"kind": "next_session", "next_session": session}, EVERYONE)
        await self._audit(req.room, user, "next_session_set")
        return {"ok": True, "next_session": session}

    # -- the recap ---------------------------------------------------------------------

    async def recap(self, sid: str, data: object) -> RecapAck:
        """The latest session's recap for this member: what was pinned, resources shelved
        and wins kept during it, their own goal and the next session. Clients ask for it
        when a session ends (the ``session_ended`` room event), and may ask again later."""
        room = parse_room(data).room
        user = self._person(sid, room)
        state = (await self._log.snapshot(room, self._clock())).state
        session = state.meeting
        if not session["started_ms"]:
            raise ServiceError(NO_SESSION, "No session has been held in this room yet.")
        start = session["started_ms"]
        end = session["ended_ms"] if session["ended_ms"] >= start else 0

        def during(ms: int) -> bool:
            return ms >= start and (not end or ms <= end)

        goals = await self._space.goals_of(room, user["id"])
        return {
            "ok": True,
            "recap": {
                "session_id": session["session_id"],
                "started_ms": start,
                "ended_ms": end,
                "pinned": list(state.pins.values()),
                "resources": [
                    r
                    for r in await self._space.resources(room)
                    if r["status"] == "shelved" and during(r["created_ms"])
                ],
                "wins": [w for w in await self._space.wins(room) if during(w["kept_ms"])],
                "goal": goals[0] if goals else None,
                "next_session": await self._space.next_session(room),
            },
        }

    # -- a member's own data -----------------------------------------------------------

    async def my_data(self, sid: str, data: object) -> MyDataAck:
        room = parse_room(data).room
        user = self._person(sid, room)
        held = await self._space.member_data(room, user["id"])
        return {
            "ok": True,
            "data": {
                "user_id": user["id"],
                "room": room,
                "goals": held["goals"],
                "wins": held["wins"],
                "messages": await self._own_messages(room, user["id"]),
                "reactions": await self._own_reactions(room, user["id"]),
            },
        }

    async def erase_my_data(self, sid: str, data: object) -> ErasedAck:
        """Goals and kept wins deleted; each retained message becomes "removed by its
        author" for everyone, through the log (so on every worker, and after a reconnect).
        The audit keeps only that it happened."""
        room = parse_room(data).room
        user = self._person(sid, room)
        records = await self._space.member_erase(room, user["id"])
        messages = await self._own_messages(room, user["id"])
        for message in messages:
            await self._logged(
                room, user, "deleted", id=message["id"], at=message["offset"], reason=ERASED_REASON
            )
        for reacted in await self._own_reactions(room, user["id"]):
            await self._logged(
                room,
                user,
                "reaction",
                id=reacted["msg_id"],
                reaction=reacted["reaction"],
                user_id=user["id"],
                on=False,
            )
        await self._tell(room, {"kind": "member_erased", "user_id": user["id"]}, EVERYONE)
        await self._audit(room, user, "erased_own_data", user_id=user["id"])
        return {"ok": True, "records": records, "messages": len(messages)}

    async def _logged(self, room: str, by: User, kind: str, **fields: Unpack[EventFields]) -> None:
        now = self._clock()
        event = room_event(room=room, kind=kind, by=by, ts=now, **fields)
        await self._log.append(room, event, guard=None, now_ms=now)

    async def _own_reactions(self, room: str, user_id: str) -> list[OwnReaction]:
        state = (await self._log.snapshot(room, self._clock())).state
        return [
            {"msg_id": msg_id, "reaction": reaction}
            for msg_id, kinds in state.reactions.items()
            for reaction, who in kinds.items()
            if user_id in who
        ]

    async def _own_messages(self, room: str, user_id: str) -> list[MessageEntry]:
        read = await self._log.read(room, None, MESSAGES_PAGE)
        return [e for e in read.entries if "kind" not in e and e["user"]["id"] == user_id]

    # -- shared steps ------------------------------------------------------------------

    async def _moderated(self, room: str, user: User, text: str, what: str) -> str:
        """What a member writes in the space gets a message's moderation: refused as a
        message would be, contact details masked, and facilitators alerted (crisis first)."""
        conn_gate = RoomGate()  # a locked room or someone's floor does not stop a goal
        ctx = MessageContext(
            room=room,
            sender_id=user["id"],
            role=user["role"],
            text=text,
            now=self._clock() / 1000,
            policy=self._policy_for(room),
            gate=conn_gate,
        )
        outcome = self._pipeline.run(ctx)
        blocked = outcome.blocked_by
        # Refused as a message would be, but for being the same words as a recent message.
        if blocked is not None and not blocked.rule.startswith("duplicate."):
            raise ServiceError(blocked.code or errors.BLOCKED, blocked.reason)
        if outcome.action is Action.HOLD:
            raise ServiceError(
                errors.BLOCKED,
                "A facilitator needs to see this first: please share it in the chat instead.",
            )
        for verdict in sorted(outcome.verdicts, key=lambda v: not v.priority):
            if verdict.alert and verdict.action is not Action.BLOCK:
                await self._alerts.raise_alert(
                    room,
                    {
                        "room": room,
                        "kind": verdict.alert,
                        "user": user,
                        "reason": f"In a {what}: {verdict.for_facilitators}",
                        "priority": verdict.priority,
                    },
                )
        return outcome.text

    async def _tell(self, room: str, payload: dict[str, object], audience: str) -> None:
        await self._bus.publish(
            room, Delivery("space", {"room": room, **payload}, audience=audience)
        )

    async def _audit(
        self,
        room: str,
        by: User,
        action: str,
        *,
        user_id: str | None = None,
        reason: str = "",
    ) -> None:
        record: AuditRecord = {"ts": self._clock(), "by": by, "action": action}
        if user_id is not None:
            record["user_id"] = user_id
        if reason:
            record["reason"] = reason
        await self._review.audit_add(room, record)
