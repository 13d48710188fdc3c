"""The moderation settings: limits the stages enforce and the lists they match.

A policy is an immutable value so one instance is shared by every message. A deployment
runs one policy (HUDDLE_MODERATION_POLICY names its file; docs/moderation.md, "One policy
per deployment"). Policy files live in moderation/data/policy-<kind>.json, one per kind
of service; `load_policy(kind)` reads one.
"""

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from typing import Any, Self

# Defaults for the private notice a member gets when they may be in crisis. Deployments
# outside the US, UK and Ireland should set their own in the room policy files.
DEFAULT_CRISIS_LINES: tuple[tuple[str, str], ...] = (
    ("US", "988 Suicide & Crisis Lifeline: call or text 988"),
    ("UK & ROI", "Samaritans: call 116 123, free, any time"),
)

# Sites a member may link to without a facilitator looking first: public health services
# and chronic-pain, mental-health and crisis charities. Subdomains are included.
DEFAULT_LINK_ALLOWLIST: tuple[str, ...] = (
    "nhs.uk",
    "nhs.scot",
    "nhs.wales",
    "hse.ie",
    "gov.uk",
    "cdc.gov",
    "nih.gov",
    "medlineplus.gov",
    "samhsa.gov",
    "988lifeline.org",
    "samaritans.org",
    "mind.org.uk",
    "rethink.org",
    "thecalmzone.net",
    "giveusashout.org",
    "crisistextline.org",
    "painconcern.org.uk",
    "britishpainsociety.org",
    "versusarthritis.org",
    "theacpa.org",
    "painaction.com",
    "uspainfoundation.org",
    "arthritis.org",
    "fmauk.org",
    "migrainetrust.org",
    "ehlers-danlos.com",
    "mayoclinic.org",
    "who.int",
)

# Phone numbers that are never masked: crisis and support lines people should share.
# Digits only; a number in the text matches when its digits end with one of these.
DEFAULT_PHONE_ALLOWLIST: tuple[str, ...] = (
    "988",  # US 988 Suicide & Crisis Lifeline
    "18002738255",  # US, the Lifeline's old number
    "741741",  # US Crisis Text Line
    "116123",  # UK & ROI Samaritans
    "08457909090",  # UK Samaritans, old number
    "0800585858",  # UK CALM
    "85258",  # UK Shout
    "08088020200",  # UK Versus Arthritis helpline
    "0300123393",  # UK Mind infoline
    "111",  # NHS 111
    "999",
    "911",
    "112",
)

DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB")

_INT_SETTINGS = (
    "max_chars",
    "max_lines",
    "rate_burst",
    "rate_flag_after",
    "raid_members",
    "dup_min_chars",
    "raid_min_chars",
)
_POSITIVE_FLOATS = ("rate_refill_per_s", "rate_flag_window_s", "dup_window_s", "raid_window_s")
_BOOL_SETTINGS = ("mask_swearing",)
_LIST_SETTINGS = ("crisis_lists", "abuse_lists", "swearing_lists", "medication_lists")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_REGION = re.compile(r"^[A-Z]{2}$")
_LIST_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class ModerationPolicy:
    max_chars: int = 2000  # code points, after whitespace tidying (DESIGN §3)
    max_lines: int = 40
    rate_burst: int = 5  # messages a member can send back to back
    rate_refill_per_s: float = 1 / 3  # then one more message every 3 s
    rate_flag_after: int = 5  # refusals tolerated within the window before alerting
    rate_flag_window_s: float = 60.0
    # Duplicates and raids. Short messages ("same", "thank you", "❤️", "welcome!") are
    # exempt: people say them to several people in a row, and several people say them at
    # once when someone shares good news. Lengths count letters and digits of the
    # canonical text.
    dup_window_s: float = 60.0  # the same member, the same text within this → refused
    dup_min_chars: int = 12
    raid_window_s: float = 30.0  # the same text from raid_members members within this → held
    raid_members: int = 3
    raid_min_chars: int = 24
    # Mild swearing is allowed by default: people vent about pain. True masks it.
    mask_swearing: bool = False
    crisis_lines: tuple[tuple[str, str], ...] = DEFAULT_CRISIS_LINES  # (label, text)
    link_allowlist: tuple[str, ...] = DEFAULT_LINK_ALLOWLIST  # domains; subdomains included
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS  # for numbers without "+"
    phone_allowlist: tuple[str, ...] = DEFAULT_PHONE_ALLOWLIST  # digits, never masked
    # Word and phrase lists (moderation/data/<name>.txt) each stage honours.
    crisis_lists: tuple[str, ...] = ("crisis",)
    abuse_lists: tuple[str, ...] = ("slurs", "harassment")
    swearing_lists: tuple[str, ...] = ("swearing",)
    medication_lists: tuple[str, ...] = ("medication",)

    def __post_init__(self) -> None:
        # Validate here, not only in from_dict, so no code path can build a policy that
        # would make a stage divide by zero or never refill.
        for name in _INT_SETTINGS + _POSITIVE_FLOATS:
            value = getattr(self, name)
            is_int = name in _INT_SETTINGS
            # bool is an int subclass; `"max_lines": true` in a file is a mistake.
            ok = isinstance(value, int) if is_int else isinstance(value, int | float)
            if isinstance(value, bool) or not ok:
                raise ValueError(
                    f"moderation policy {name} must be a number"
                    f"{' (a whole number)' if is_int else ''}, got {value!r}"
                )
            if not is_int and not math.isfinite(value):
                raise ValueError(f"moderation policy {name} must be finite, got {value!r}")
        for name in ("max_chars", "max_lines", "rate_burst", "rate_flag_after"):
            if getattr(self, name) < 1:
                raise ValueError(f"moderation policy {name} must be at least 1")
        if self.raid_members < 2:
            raise ValueError("moderation policy raid_members must be at least 2")
        for name in ("dup_min_chars", "raid_min_chars"):
            if getattr(self, name) < 0:
                raise ValueError(f"moderation policy {name} must not be negative")
        for name in _POSITIVE_FLOATS:
            if getattr(self, name) <= 0:
                raise ValueError(f"moderation policy {name} must be greater than 0")
        for name in _BOOL_SETTINGS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"moderation policy {name} must be true or false")
        self._check_tuples()

    def _check_tuples(self) -> None:
        lines = self.crisis_lines
        if (
            not isinstance(lines, tuple)
            or not lines
            or not all(
                isinstance(line, tuple)
                and len(line) == 2
                and all(isinstance(part, str) and part.strip() for part in line)
                for line in lines
            )
        ):
            raise ValueError(
                "moderation policy crisis_lines must be a non-empty list of [label, text] pairs"
            )
        _check_strings("link_allowlist", self.link_allowlist, _DOMAIN, "domain names")
        _check_strings("phone_regions", self.phone_regions, _REGION, "region codes like 'GB'")
        _check_strings("phone_allowlist", self.phone_allowlist, re.compile(r"^\d{3,15}$"), "digits")
        known = available_lists()
        for name in _LIST_SETTINGS:
            value = getattr(self, name)
            _check_strings(name, value, _LIST_NAME, "list names")
            missing = sorted(set(value) - known)
            if missing:
                raise ValueError(
                    f"moderation policy {name} names unknown list(s): {', '.join(missing)}; "
                    f"known lists: {', '.join(sorted(known))}"
                )

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
        values = dict(data)
        # JSON has lists, the policy has tuples (immutable, hashable).
        for name, value in values.items():
            if isinstance(value, list):
                if name == "crisis_lines":
                    values[name] = tuple(
                        tuple(item) if isinstance(item, list) else item for item in value
                    )
                else:
                    values[name] = tuple(value)
        return cls(**values)


def _check_strings(name: str, value: object, pattern: re.Pattern[str], what: str) -> None:
    if not isinstance(value, tuple) or not all(
        isinstance(item, str) and pattern.match(item) for item in value
    ):
        raise ValueError(f"moderation policy {name} must be a list of {what}, got {value!r}")


@cache
def available_lists() -> frozenset[str]:
    """Names of the word and phrase lists shipped in moderation/data (`<name>.txt`)."""
    data = resources.files("moderation") / "data"
    return frozenset(
        entry.name.removesuffix(".txt")
        for entry in data.iterdir()
        if entry.name.endswith(".txt") and _LIST_NAME.match(entry.name.removesuffix(".txt"))
    )


@cache
def available_policies() -> frozenset[str]:
    """Room kinds that have a policy file (moderation/data/policy-<kind>.json)."""
    data = resources.files("moderation") / "data"
    return frozenset(
        entry.name.removeprefix("policy-").removesuffix(".json")
        for entry in data.iterdir()
        if entry.name.startswith("policy-") and entry.name.endswith(".json")
    )


@cache
def load_policy(kind: str) -> ModerationPolicy:
    """The policy for a kind of room ("default", "youth", …) from its policy file.

    Unknown kinds raise ValueError (a room must not silently fall back to looser rules).
    The file holds only the settings that differ from the defaults.
    """
    if not isinstance(kind, str) or kind not in available_policies():
        known = ", ".join(sorted(available_policies()))
        raise ValueError(f"unknown room kind {kind!r} for a moderation policy; known: {known}")
    path = resources.files("moderation") / "data" / f"policy-{kind}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"moderation policy file for {kind!r} is not valid JSON: {exc}") from exc
    if isinstance(data, Mapping):
        data = {key: value for key, value in data.items() if not key.startswith("_")}
    try:
        return ModerationPolicy.from_dict(data)
    except ValueError as exc:
        raise ValueError(f"moderation policy file for {kind!r}: {exc}") from exc
