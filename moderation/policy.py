"""The moderation settings of a room: limits the stages enforce.

A policy is an immutable value so one instance can be shared by every message of a room
and swapped atomically when a facilitator or a policy file changes it.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self


@dataclass(frozen=True, slots=True)
class ModerationPolicy:
    max_chars: int = 2000  # code points, after whitespace tidying (DESIGN §3)
    max_lines: int = 40
    rate_burst: int = 5  # messages a member can send back to back
    rate_refill_per_s: float = 1 / 3  # then one more message every 3 s
    rate_flag_after: int = 5  # refusals tolerated within the window before alerting
    rate_flag_window_s: float = 60.0

    def __post_init__(self) -> None:
        # Validate here, not only in from_dict, so no code path can build a policy that
        # would make a stage divide by zero or never refill.
        for field in fields(self):
            value = getattr(self, field.name)
            expected = type(field.default)
            # bool is an int subclass; `"max_lines": true` in a file is a mistake.
            ok = isinstance(value, int | float) if expected is float else isinstance(value, int)
            if isinstance(value, bool) or not ok:
                raise ValueError(
                    f"moderation policy {field.name} must be a number"
                    f"{' (a whole number)' if expected is int else ''}, got {value!r}"
                )
            if expected is float and not math.isfinite(value):
                raise ValueError(f"moderation policy {field.name} must be finite, got {value!r}")
        for name in ("max_chars", "max_lines", "rate_burst", "rate_flag_after"):
            if getattr(self, name) < 1:
                raise ValueError(f"moderation policy {name} must be at least 1")
        for name in ("rate_refill_per_s", "rate_flag_window_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"moderation policy {name} must be greater than 0")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build a policy from a parsed policy file; missing settings keep their defaults."""
        if not isinstance(data, Mapping):
            raise ValueError(f"moderation policy must be a mapping, got {type(data).__name__}")
        known = {field.name for field in fields(cls)}
        # A misspelt setting silently falling back to its default is the worst outcome for
        # a safety setting, so unknown keys are an error.
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown moderation policy setting(s): {', '.join(unknown)}; "
                f"known settings: {', '.join(sorted(known))}"
            )
        return cls(**data)
