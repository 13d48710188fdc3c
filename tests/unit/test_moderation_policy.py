import math
from typing import Any

import pytest

from moderation.policy import ModerationPolicy, available_policies, load_policy


def test_defaults_match_the_design() -> None:
    policy = ModerationPolicy()
    assert policy.max_chars == 2000
    assert policy.max_lines == 40
    assert policy.rate_burst == 5
    assert math.isclose(1 / policy.rate_refill_per_s, 3.0)
    assert policy.rate_flag_after == 5
    assert policy.rate_flag_window_s == 60.0


def test_from_dict_overrides_given_settings_and_keeps_the_rest() -> None:
    policy = ModerationPolicy.from_dict({"max_chars": 500, "rate_refill_per_s": 0.5})
    assert policy == ModerationPolicy(max_chars=500, rate_refill_per_s=0.5)
    assert policy.max_lines == 40


def test_from_empty_dict_is_the_default_policy() -> None:
    assert ModerationPolicy.from_dict({}) == ModerationPolicy()


def test_whole_numbers_are_accepted_for_seconds() -> None:
    assert ModerationPolicy.from_dict({"rate_flag_window_s": 30}).rate_flag_window_s == 30


def test_unknown_setting_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match=r"max_char\b.*known settings: .*max_chars"):
        ModerationPolicy.from_dict({"max_char": 100})


def test_non_mapping_is_rejected() -> None:
    with pytest.raises(ValueError, match="mapping"):
        ModerationPolicy.from_dict([("max_chars", 10)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_chars": "2000"}, "max_chars must be a number"),
        ({"max_chars": 12.5}, "max_chars must be a number .a whole number."),
        ({"max_lines": True}, "max_lines must be a number"),
        ({"rate_refill_per_s": None}, "rate_refill_per_s must be a number"),
        ({"max_chars": 0}, "max_chars must be at least 1"),
        ({"max_lines": -3}, "max_lines must be at least 1"),
        ({"rate_burst": 0}, "rate_burst must be at least 1"),
        ({"rate_flag_after": 0}, "rate_flag_after must be at least 1"),
        ({"rate_refill_per_s": 0}, "rate_refill_per_s must be greater than 0"),
        ({"rate_flag_window_s": -1.0}, "rate_flag_window_s must be greater than 0"),
        ({"rate_refill_per_s": float("nan")}, "rate_refill_per_s must be finite"),
        ({"rate_flag_window_s": float("inf")}, "rate_flag_window_s must be finite"),
    ],
)
def test_invalid_values_are_refused_with_a_clear_message(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ModerationPolicy.from_dict(settings)


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(ValueError, match="rate_burst"):
        ModerationPolicy(rate_burst=0)


def test_new_stage_settings_have_the_issue_defaults() -> None:
    policy = ModerationPolicy()
    assert (policy.dup_window_s, policy.raid_window_s, policy.raid_members) == (60.0, 30.0, 3)
    assert policy.mask_swearing is False
    labels = [label for label, _ in policy.crisis_lines]
    assert labels == ["US", "UK & ROI"]
    assert "988" in policy.crisis_lines[0][1]
    assert "116 123" in policy.crisis_lines[1][1]
    assert {"nhs.uk", "cdc.gov", "nih.gov", "988lifeline.org", "samaritans.org"} <= set(
        policy.link_allowlist
    )


def test_the_server_can_still_build_a_policy_from_env_settings() -> None:
    policy = ModerationPolicy(max_chars=1000, rate_burst=3, rate_refill_per_s=0.5)
    assert (policy.max_chars, policy.rate_burst, policy.rate_refill_per_s) == (1000, 3, 0.5)


def test_from_dict_turns_json_lists_into_tuples() -> None:
    policy = ModerationPolicy.from_dict(
        {"crisis_lines": [["IE", "Pieta: 1800 247 247"]], "link_allowlist": ["hse.ie"]}
    )
    assert policy.crisis_lines == (("IE", "Pieta: 1800 247 247"),)
    assert policy.link_allowlist == ("hse.ie",)
    hash(policy)  # still an immutable value


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"mask_swearing": "yes"}, "mask_swearing must be true or false"),
        ({"crisis_lines": []}, "crisis_lines"),
        ({"crisis_lines": [["US"]]}, "crisis_lines"),
        ({"link_allowlist": ["not a domain"]}, "link_allowlist"),
        ({"phone_regions": ["gb"]}, "phone_regions"),
        ({"raid_members": 1}, "raid_members must be at least 2"),
        ({"crisis_lists": ["crisis", "nope"]}, "unknown list.*nope"),
        ({"dup_window_s": 0}, "dup_window_s must be greater than 0"),
    ],
)
def test_new_settings_are_validated(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModerationPolicy.from_dict(settings)


def test_policy_files_per_room_kind() -> None:
    assert {"default", "youth"} <= available_policies()
    assert load_policy("default") == ModerationPolicy()
    youth = load_policy("youth")
    assert youth.mask_swearing is True
    assert any("Childline" in text for _, text in youth.crisis_lines)


def test_unknown_room_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown room kind 'adults'"):
        load_policy("adults")
