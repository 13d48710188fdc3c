"""python-socketio's record of which Socket.IO rooms each session is in, with a session's
own rooms kept beside it, so that a disconnect costs the same however many are connected.

huddle keeps its rooms itself (chatserver/service/delivery.py); python-socketio still
puts every session in two of its own (every session's, and one named by the sid), and
its ``basic_disconnect`` finds a session's rooms by looking in every room of the
namespace: with N sessions connected each disconnect looked at N rooms, and N sessions
leaving (a network blip, a drain, the end of a benchmark) cost N² look-ups — seconds of a
blocked event loop with 5,000 connected (docs/benchmarks.md, seventh session). Here each
session's rooms are recorded as it enters and leaves them, and a disconnect leaves just
those. Entering and leaving are python-socketio's own (the base class), unchanged.
"""

from __future__ import annotations

from typing import Any

import socketio


class SessionRooms(socketio.AsyncManager):  # type: ignore[misc]
    """``socketio.AsyncServer(client_manager=SessionRooms())``."""

    def __init__(self) -> None:
        super().__init__()
        self.rooms_of: dict[tuple[Any, Any], set[Any]] = {}
        """(namespace, sid) -> the rooms it is in (python-socketio's ``rooms`` by room)."""

    def basic_enter_room(self, sid: Any, namespace: Any, room: Any, eio_sid: Any = None) -> Any:
        result = super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self.rooms_of.setdefault((namespace, sid), set()).add(room)
        return result

    def basic_leave_room(self, sid: Any, namespace: Any, room: Any) -> Any:
        result = super().basic_leave_room(sid, namespace, room)
        key = (namespace, sid)
        rooms = self.rooms_of.get(key)
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self.rooms_of[key]
        return result

    def basic_disconnect(self, sid: Any, namespace: Any, **kwargs: Any) -> None:
        """python-socketio's ``BaseManager.basic_disconnect`` (5.x), finding the session's
        rooms in ``rooms_of`` instead of in every room of the namespace.
        tests/unit/test_session_rooms.py holds the two to the same state after the same
        calls, so an upgrade that changes the base's shows there."""
        if namespace not in self.rooms:
            return
        for room in list(self.rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            if namespace in pending and sid in pending[namespace]:
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]
