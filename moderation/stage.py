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


class Remembering(Stage, Protocol):
    """A stage with memory of accepted messages (duplicates): ``judge`` decides without
    changing anything and returns what to remember (None: nothing), and ``remember`` is
    given it only once the message was accepted (appended or held), through
    ``Pipeline.accept``. So a message refused after this stage, or lost on its way to
    the log, leaves nothing behind."""

    def judge(self, ctx: MessageContext) -> tuple[Verdict, object | None]: ...

    def remember(self, memo: object) -> None: ...
