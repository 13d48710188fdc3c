"""Message moderation for huddle: pure decisions, no I/O, time passed in as `now`.

See docs/moderation.md for the verdict model, the stage order and how to add a stage.
"""

from moderation.context import ROLES, MessageContext
from moderation.pipeline import Outcome, Pipeline, default_pipeline
from moderation.policy import ModerationPolicy
from moderation.rate import RateStage
from moderation.shape import ShapeStage
from moderation.stage import Stage
from moderation.verdict import ALLOW, BLOCK_CODES, Action, Verdict, block, flag, hold, modify

__all__ = [
    "ALLOW",
    "BLOCK_CODES",
    "ROLES",
    "Action",
    "MessageContext",
    "ModerationPolicy",
    "Outcome",
    "Pipeline",
    "RateStage",
    "ShapeStage",
    "Stage",
    "Verdict",
    "block",
    "default_pipeline",
    "flag",
    "hold",
    "modify",
]
