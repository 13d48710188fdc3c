"""Contact details are masked; ordinary numbers are not; unknown links wait for review."""

import random

import pytest
from phonenumbers import Leniency, PhoneNumberMatcher

from moderation.contact import ContactStage
from moderation.context import MessageContext
from moderation.links import LinkStage
from moderation.phones import _possible_number
from moderation.policy import ModerationPolicy
from moderation.verdict import ALLOW, Action, Verdict

POLICY = ModerationPolicy()


def check(text: str, role: str = "member") -> Verdict:
    return ContactStage().check(MessageContext("room", "ana", role, text, 0.0, POLICY))


def masked(text: str) -> str:
    verdict = check(text)
    assert verdict.action is Action.MODIFY, text
    assert verdict.text is not None
    return verdict.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me on 07911 123456 x", "call me on [phone number hidden] x"),
        ("my number is 07911123456", "my number is [phone number hidden]"),
        ("+44 7911 123456 anytime", "[phone number hidden] anytime"),
        ("text me at 212-867-5309", "text me at [phone number hidden]"),
        ("my cell is (415) 555-2671", "my cell is [phone number hidden]"),
        ("ring me 0 7 9 1 1  1 2 3 4 5 6", "ring me [phone number hidden]"),
        ("my no. is O7911 l23456", "my no. is [phone number hidden]"),
        (
            "number: 0\uff17\uff19\uff11\uff11 \uff11\uff12\uff13\uff14\uff15\uff16",
            "number: [phone number hidden]",
        ),
        (
            "call me oh seven nine one one, one two three four five six",
            "call me [phone number hidden]",
        ),
    ],
)
def test_phone_numbers_in_many_spellings_are_masked(text: str, expected: str) -> None:
    verdict = check(text)
    assert (verdict.rule, verdict.alert) == ("contact.phone", "contact")
    assert verdict.notice
    assert verdict.text == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("email me, jane.d.pain@gmail.com", "email me, [email hidden]"),
        ("painwarrior82 at gmail dot com", "[email hidden]"),
        ("jess(at)hotmail(dot)co(dot)uk please", "[email hidden] please"),
        ("sarah.m at yahoo if you want", "[email hidden] if you want"),
        ("jen dot walker at icloud dot com", "[email hidden]"),
    ],
)
def test_emails_including_spelled_out_ones_are_masked(text: str, expected: str) -> None:
    assert masked(text) == expected
    assert check(text).rule == "contact.email"


@pytest.mark.parametrize(
    "text",
    [
        "my insta is spoonie_sarah88",
        "snap: painwarrior_x",
        "add me on insta @fibrofighter_jo",
        "my discord is chronicdave#4821",
        "find me at u/achy_joints_42",
        "@jen_pain.life on instagram",
        "join t.me/painfreeclub",
        "instagram.com/spoonie_sarah88",
    ],
)
def test_handles_and_profile_links_are_masked(text: str) -> None:
    assert "[contact details hidden]" in masked(text)
    assert check(text).rule == "contact.handle"


@pytest.mark.parametrize(
    "text",
    [
        "DM me on WhatsApp",
        "pm me x",
        "let's chat on telegram instead",
        "whats your number?",
        "message me privately hun",
    ],
)
def test_invitations_to_talk_elsewhere_are_masked(text: str) -> None:
    assert "[contact details hidden]" in masked(text)
    assert check(text).rule == "contact.invite"


@pytest.mark.parametrize(
    "text",
    [
        "I take 20mg at 3pm and 10mg at bedtime",
        "pain was 7/10 this morning, 4/10 by lunch",
        "been in pain since 2015, diagnosed 2019",
        "follow up on 21/06/2024 at 11:30",
        "blood pressure 120/80",
        "1,200mg a day max",
        "the Samaritans are on 116 123",
        "CALM is 0800 58 58 58",
        "take 2 tablets every 4-6 hours",
        "@jen thank you, that helped",
        "I saw a video about pacing on instagram yesterday",
        "my insta is private now",
        "ref 123456789 on the letter",
        "I walked 4,500 steps today",
    ],
)
def test_ordinary_numbers_mentions_and_platform_talk_are_left_alone(text: str) -> None:
    assert check(text) is ALLOW


def test_facilitators_may_share_numbers() -> None:
    assert check("call the clinic on 020 7946 0123", role="facilitator") is ALLOW


def test_several_details_in_one_message() -> None:
    text = "call 07911 123456 or email jo@outlook.com, insta: jo_spoons"
    verdict = check(text)
    assert verdict.rule == "contact.phone"  # the most telling one names the verdict
    assert (
        verdict.text
        == "call [phone number hidden] or email [email hidden], [contact details hidden]"
    )


# -- links ---------------------------------------------------------------------------


def link(text: str, role: str = "member", policy: ModerationPolicy = POLICY) -> Verdict:
    return LinkStage().check(MessageContext("room", "ana", role, text, 0.0, policy))


@pytest.mark.parametrize(
    "text",
    [
        "https://www.nhs.uk/conditions/chronic-pain/",
        "see painconcern.org.uk",
        "call or text 988, https://988lifeline.org",
        "www.versusarthritis.org/exercise",
        "the cdc.gov guidelines",
        "e.g. this, i.e. that, 2.5mg, no.It hurt",
    ],
)
def test_allow_listed_and_non_links_pass(text: str) -> None:
    assert link(text) is ALLOW


@pytest.mark.parametrize(
    "text",
    [
        "https://bit.ly/3xFibroCure",
        "painfreeforever.com changed my life",
        "greenleafcbd dot com",
        "facebook.com/groups/chronicpainuk",
        "https://pubmed.ncbi.nlm.nih.gov.evil.ru/123",
    ],
)
def test_other_links_are_held_for_a_facilitator(text: str) -> None:
    verdict = link(text)
    assert (verdict.action, verdict.rule, verdict.alert) == (Action.HOLD, "link.unknown", "link")
    assert verdict.notice


def test_room_policy_extends_the_allow_list() -> None:
    policy = ModerationPolicy(link_allowlist=("painfreeforever.com",))
    assert link("painfreeforever.com", policy=policy) is ALLOW


def test_facilitators_links_are_not_held() -> None:
    assert link("https://bit.ly/3xFibroCure", role="facilitator") is ALLOW


def test_possible_number_check_agrees_with_the_phonenumbers_matcher() -> None:
    # _possible_number skips PhoneNumberMatcher's candidate search (most of its cost) and
    # must decide exactly as the matcher does at Leniency.POSSIBLE on a digits-only text.
    rng = random.Random(20240407)
    starts = ("", "0", "1", "4", "7", "00", "44", "011", "+", "+1", "+44", "+353")
    for _ in range(1500):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 15)))
        number = rng.choice(starts) + digits
        for region in ("GB", "US", "IE", "ZZ"):
            matched = any(True for _ in PhoneNumberMatcher(number, region, Leniency.POSSIBLE))
            assert _possible_number(number, region) is matched, (number, region)
