import math
from typing import Any

import pytest

from moderation.policy import ModerationPolicy


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
