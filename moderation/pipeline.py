"""Run the moderation stages in order and combine their verdicts into one outcome."""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeGuard

from moderation.abuse import AbuseStage
from moderation.contact import ContactStage
from moderation.context import MessageContext
from moderation.crisis import CrisisStage
from moderation.duplicate import DuplicateStage
from moderation.gate import GateStage
from moderation.learned import Scorer
from moderation.lexicon import Lexicon
from moderation.links import LinkStage
from moderation.medication import MedicationStage
from moderation.rate import RateStage
from moderation.recent import RecentMessages
from moderation.scanning import CanonicalStage, Scanner
from moderation.shape import ShapeStage, tidy
from moderation.stage import Remembering, Stage
from moderation.verdict import Action, Verdict

# Enum members as module constants: `Action.ALLOW` is a descriptor look-up on the enum
# class (~0.1 us in Python 3.11), and the loop below compares every stage's verdict.
_ALLOW, _MODIFY, _BLOCK, _HOLD, _FLAG = (
    Action.ALLOW,
    Action.MODIFY,
    Action.BLOCK,
    Action.HOLD,
    Action.FLAG,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action  # overall: BLOCK > HOLD > FLAG > MODIFY > ALLOW
    text: str  # the text to deliver, after every MODIFY (when blocked: the text at that point)
    verdicts: tuple[Verdict, ...]  # every non-allow verdict, in stage order
    # What stages with memory remember once the message is accepted (Pipeline.accept).
    memos: tuple[tuple[Remembering, object], ...] = ()

    @property
    def blocked_by(self) -> Verdict | None:
        # A BLOCK stops the pipeline, so it can only be the last verdict.
        if self.verdicts and self.verdicts[-1].action is _BLOCK:
            return self.verdicts[-1]
        return None


class Pipeline:
    def __init__(self, stages: Sequence[Stage]) -> None:
        names = [stage.name for stage in stages]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            # Stage names prefix rule ids; two stages with one name would mix their metrics.
            raise ValueError(f"duplicate stage name(s): {', '.join(duplicates)}")
        self._stages = tuple(stages)
        # Each stage, and itself again when it remembers accepted messages (duplicates).
        steps: list[tuple[Stage, Remembering | None]] = []
        for stage in self._stages:
            remembering: Remembering | None = None
            if _remembers(stage):
                remembering = stage
            steps.append((stage, remembering))
        self._steps = tuple(steps)

    @property
    def stages(self) -> tuple[Stage, ...]:
        return self._stages

    def run(self, ctx: MessageContext) -> Outcome:
        # Whitespace is normalised before any stage looks (not a verdict: see shape.tidy).
        tidied = tidy(ctx.text)
        # Tidying is not a rewrite by a stage: the tidied text is what the sender wrote.
        current = ctx if tidied == ctx.text else dataclasses.replace(ctx, text=tidied)
        verdicts: list[Verdict] = []
        memos: list[tuple[Remembering, object]] = []
        for stage, remembering in self._steps:
            if remembering is None:
                verdict = stage.check(current)
            else:
                verdict, memo = remembering.judge(current)
                if memo is not None:
                    memos.append((remembering, memo))
            action = verdict.action
            if action is _ALLOW:
                continue
            verdicts.append(verdict)
            if action is _BLOCK:
                # Later stages must not run: a refused message should not, for example,
                # spend a rate token or raise a facilitator alert.
                break
            if action is _MODIFY and verdict.text is not None:
                # Later stages judge the text that will actually be delivered.
                current = current.with_text(verdict.text)
        action = _overall_action(verdicts, text_changed=current.text != ctx.text)
        return Outcome(
            action=action,
            text=current.text,
            verdicts=tuple(verdicts),
            memos=() if action is _BLOCK else tuple(memos),
        )

    def accept(self, outcome: Outcome) -> None:
        """The message was accepted (appended to the log, or held for review): only now
        do stages with memory count it (a repeat, a raid copy). Not for a refused message,
        whoever refused it: a later stage, the room's rules in the backend, or a backend
        that could not be reached (the member's retry is then no repeat)."""
        if outcome.action is _BLOCK:
            return
        for stage, memo in outcome.memos:
            stage.remember(memo)


def _remembers(stage: Stage) -> TypeGuard[Remembering]:
    return callable(getattr(stage, "judge", None)) and callable(getattr(stage, "remember", None))


def _overall_action(verdicts: Sequence[Verdict], *, text_changed: bool) -> Action:
    # HOLD beats FLAG: a held message already reaches facilitators, and the stricter
    # delivery (facilitators only) must win.
    if verdicts:
        actions = {verdict.action for verdict in verdicts}
        for action in (_BLOCK, _HOLD, _FLAG):
            if action in actions:
                return action
    return _MODIFY if text_changed else _ALLOW


def default_pipeline(lexicon: Lexicon | None = None, *, learned: bool = True) -> Pipeline:
    """The stages every room runs, in DESIGN §4 order:

    gate → shape → rate → duplicate → canonical → crisis → contact → link → abuse →
    medication. (Render is the client's: the text stays plain text, the client escapes.)

    Each call returns fresh stage state (rate buckets, duplicate and raid memory): build
    one pipeline per process and reuse it for every message. The word and phrase lists
    are compiled once per process and shared (`lexicon`, default: every list shipped in
    moderation/data); each room's policy picks the lists its stages honour.

    `learned` adds the learned second signal (moderation/learned.py, the model in
    moderation/data read once per process) to the crisis, contact, abuse and medication
    stages, OR-ed with the lists, and the crisis stage's reading of a member's recent
    messages (moderation/recent.py). False: the lists alone.
    """
    scanner = Scanner(lexicon)
    scorer = Scorer(scanner) if learned else None
    return Pipeline(
        [
            GateStage(),
            ShapeStage(),
            RateStage(),
            DuplicateStage(scanner),
            CanonicalStage(scanner),
            CrisisStage(scanner, scorer, RecentMessages()),
            ContactStage(scanner, scorer),
            LinkStage(scanner),
            AbuseStage(scanner, scorer),
            MedicationStage(scanner, scorer),
        ]
    )
