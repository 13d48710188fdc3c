"""Message moderation for huddle: pure decisions, no I/O, time passed in as `now`.

See docs/moderation.md for the verdict model, the stage order and how to add a stage.

May import: rooms/ (the room rules are the layer below), the standard library, and the
matching libraries pyahocorasick and phonenumbers; nothing of chatserver/
(tests/test_layering.py checks it).
"""

from moderation.abuse import AbuseStage
from moderation.contact import ContactStage
from moderation.context import ROLES, MessageContext, RoomGate
from moderation.crisis import CrisisStage
from moderation.duplicate import DuplicateStage
from moderation.gate import GateStage
from moderation.lexicon import Lexicon, default_lexicon
from moderation.links import LinkStage
from moderation.medication import MedicationStage
from moderation.pipeline import Outcome, Pipeline, default_pipeline
from moderation.policy import ModerationPolicy, available_policies, load_policy
from moderation.rate import RateStage
from moderation.scanning import CanonicalStage, Scanner
from moderation.shape import ShapeStage
from moderation.stage import Stage
from moderation.verdict import (
    ALERT_KINDS,
    ALLOW,
    BLOCK_CODES,
    Action,
    Verdict,
    block,
    flag,
    hold,
    modify,
)

__all__ = [
    "ALERT_KINDS",
    "ALLOW",
    "BLOCK_CODES",
    "ROLES",
    "AbuseStage",
    "Action",
    "CanonicalStage",
    "ContactStage",
    "CrisisStage",
    "DuplicateStage",
    "GateStage",
    "Lexicon",
    "LinkStage",
    "MedicationStage",
    "MessageContext",
    "ModerationPolicy",
    "Outcome",
    "Pipeline",
    "RateStage",
    "RoomGate",
    "Scanner",
    "ShapeStage",
    "Stage",
    "Verdict",
    "available_policies",
    "block",
    "default_lexicon",
    "default_pipeline",
    "flag",
    "hold",
    "load_policy",
    "modify",
]
