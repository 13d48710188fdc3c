"""The interface every moderation stage implements."""

from typing import Protocol

from moderation.context import MessageContext
from moderation.verdict import Verdict


class Stage(Protocol):
    # Declared as a read-only property so a stage may define `name` as a class attribute,
    # a frozen dataclass field or a property.
    @property
    def name(self) -> str:
        """Short id, the prefix of every rule id the stage emits ("shape" -> "shape.empty")."""
        ...

    def check(self, ctx: MessageContext) -> Verdict:
        """Judge one message. Must not read the clock or do I/O: use ctx.now."""
        ...
