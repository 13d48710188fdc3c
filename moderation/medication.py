"""Medication sourcing: offers or requests to sell, share or buy prescription drugs are
held for a facilitator (HOLD, alert "medication"), with a private, non-judgemental
explanation for the sender.

Sharing pain medication is common and well meant in pain communities, and dangerous
(interactions, overdose, diversion). Talking about one's own prescription, doses, side
effects or a pharmacy is not sourcing and passes.

Rules: medication.offer, medication.share, medication.request.
"""

from moderation.context import MessageContext
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

    def __init__(self, scanner: Scanner | None = None) -> None:
        self._scanner = scanner if scanner is not None else Scanner()

    def check(self, ctx: MessageContext) -> Verdict:
        scan = self._scanner.scan(ctx.text)
        hits = scan.effective(ctx.policy.medication_lists)
        if not hits:
            return ALLOW
        sections = {hit.entry.section for hit in hits}
        for section in _ORDER:
            if section in sections:
                return _HOLDS[section]
        return ALLOW


# Verdicts are immutable values: each is built once, not per message.
_HOLDS = {
    section: hold(
        f"medication.{section}",
        "This message may offer, share or ask for prescription medicine.",
        notice=NOTICE,
        alert="medication",
    )
    for section in _ORDER
}
