import dataclasses

import pytest

from moderation.context import MessageContext
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
