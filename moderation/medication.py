"""Medication sourcing: offers or requests to sell, share or buy prescription drugs are
held for a facilitator (HOLD, alert "medication"), with a private, non-judgemental
explanation for the sender.

Sharing pain medication is common and well meant in pain communities, and dangerous
(interactions, overdose, diversion). Talking about one's own prescription, doses, side
effects or a pharmacy is not sourcing and passes.

Rules: medication.offer, medication.share, medication.request; medication.learned: no
listed phrase, but the learned model (moderation/learned.py) reads a member's message as
selling, swapping, passing on or brokering medicine.

The lists and the model read the message as the sender wrote it, before contact details
were masked: "selling my spare gabbies, dm me" is held even though "dm me" was hidden, and so is a
medicine named where the contact stage hid a number, an email or an address.
"""

from moderation.contact import DETAIL_LABELS
from moderation.context import MessageContext
from moderation.learned import Scorer
from moderation.lexicon import has_any
from moderation.scanning import Scanner
from moderation.verdict import ALLOW, Verdict, hold

_ORDER = ("offer", "share", "request")
NOTICE = (
    "Your message looks like an offer or a request to share or buy prescription medicine, "
    "so a facilitator will look at it before the group sees it. We know it usually comes "
    "from kindness, but taking someone else's medicine can be dangerous. If you're running "
    "low, or your medicine isn't working, your doctor or pharmacist can help — and so can "
    "the group, with how to ask for it."
)


class MedicationStage:
    name = "medication"

    def __init__(self, scanner: Scanner | None = None, scorer: Scorer | None = None) -> None:
        self._scanner = scanner if scanner is not None else Scanner()
        self._scorer = scorer

    def check(self, ctx: MessageContext) -> Verdict:
        lists = ctx.policy.medication_lists
        hits = self._scanner.scan(ctx.text).effective(lists)
        sections = {hit.entry.section for hit in hits}
        if ctx.original is not None and sections.isdisjoint(_ORDER):
            # A stage masked part of the text (a "dm me"): the offer is in what was written.
            hits = self._scanner.scan(ctx.original).effective(lists)
            sections = {hit.entry.section for hit in hits}
            # A medicine named where contact details were hidden ("diazepam, text only
            # 07700 …"): an offer with a way to reach the sender.
            if "named" in sections and has_any(ctx.text, DETAIL_LABELS):
                return _HOLDS["offer"]
        for section in _ORDER:
            if section in sections:
                return _HOLDS[section]
        scorer = self._scorer
        if scorer is not None and not ctx.is_facilitator and scorer.says(ctx, "medication_sale"):
            return _HOLDS["learned"]
        return ALLOW


# Verdicts are immutable values: each is built once, not per message.
_HOLDS = {
    section: hold(
        f"medication.{section}",
        "This message may offer, share or ask for prescription medicine.",
        notice=NOTICE,
        alert="medication",
    )
    for section in (*_ORDER, "learned")
}
