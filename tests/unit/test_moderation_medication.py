import pytest

from moderation.context import MessageContext
from moderation.medication import MedicationStage
from moderation.policy import ModerationPolicy
from moderation.verdict import ALLOW, Action, Verdict

POLICY = ModerationPolicy()


def check(text: str) -> Verdict:
    return MedicationStage().check(MessageContext("room", "ana", "member", text, 0.0, POLICY))


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("selling oxy 30s, hmu", "medication.offer"),
        ("I can send you some of my gabapentin until your script comes", "medication.offer"),
        ("got some spare tramadol if anyone wants them", "medication.share"),
        ("anyone selling tramadol? my GP won't give me any more", "medication.request"),
        ("where can I get pregabalin without a prescription", "medication.request"),
        ("could anyone spare me some tramadol till monday", "medication.request"),
    ],
)
def test_offers_and_requests_are_held(text: str, rule: str) -> None:
    verdict = check(text)
    assert (verdict.action, verdict.rule, verdict.alert) == (Action.HOLD, rule, "medication")
    assert verdict.notice


@pytest.mark.parametrize(
    "text",
    [
        "I'm tapering off oxycodone with my GP, 5mg less every 2 weeks",
        "my pharmacist gave me a leaflet about tramadol",
        "return your old meds to the pharmacy, don't bin them",
        "what do you do with leftover oxycodone after surgery?",
        "I can send you the link to the NHS page about tapering",
        "anyone want to share what helped with the gabapentin side effects?",
        "my husband is selling his car so we can get an automatic",
    ],
)
def test_talk_about_ones_own_medicine_passes(text: str) -> None:
    assert check(text) is ALLOW
