import dataclasses

import pytest

from moderation.context import MessageContext, RoomGate
from moderation.policy import ModerationPolicy


def make(role: str) -> MessageContext:
    return MessageContext("room-1", "user-1", role, "hello", 0.0, ModerationPolicy())


def test_facilitator_is_recognised() -> None:
    assert make("facilitator").is_facilitator
    assert not make("member").is_facilitator


@pytest.mark.parametrize("role", ["Facilitator", "admin", ""])
def test_unknown_role_is_rejected(role: str) -> None:
    with pytest.raises(ValueError, match="role"):
        make(role)


def test_replacing_the_text_keeps_everything_else() -> None:
    ctx = make("member")
    changed = dataclasses.replace(ctx, text="bye")
    assert changed.text == "bye"
    assert dataclasses.replace(changed, text="hello") == ctx


def test_room_gate_defaults_to_an_open_room() -> None:
    ctx = make("member")
    assert ctx.gate == RoomGate()
    assert (ctx.gate.muted, ctx.gate.locked, ctx.gate.paused) == (False, False, False)
    assert (ctx.gate.floor_user_id, ctx.gate.slow_mode_s, ctx.gate.last_post_at) == (None, 0, None)


def test_room_gate_is_the_last_field_so_positional_callers_keep_working() -> None:
    gate = RoomGate(locked=True)
    ctx = MessageContext("room-1", "user-1", "member", "hi", 0.0, ModerationPolicy(), gate)
    assert ctx.gate is gate


def test_with_text_keeps_every_other_field() -> None:
    # with_text spells the fields out for speed; a field added later must not be dropped.
    gate = RoomGate(muted=True, slow_mode_s=5, last_post_at=3.0)
    ctx = MessageContext("room-1", "user-1", "facilitator", "hello", 7.5, ModerationPolicy(), gate)
    # ... and it remembers what the sender wrote (the original), once, from the first rewrite.
    assert ctx.with_text("bye") == dataclasses.replace(ctx, text="bye", original="hello")
    assert ctx.with_text("bye").with_text("ciao").original == "hello"
    assert ctx.written == "hello" and ctx.with_text("bye").written == "hello"
