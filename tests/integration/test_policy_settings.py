"""One moderation policy per deployment: the policy file HUDDLE_MODERATION_POLICY names
sets the limits, and a limit's HUDDLE_ variable wins only when it is set
(docs/moderation.md, "One policy per deployment")."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from chatserver.config import Settings, moderation_policy
from moderation.policy import ModerationPolicy, load_policy
from tests.conftest import Connect, make_settings

PLAIN = [f"Thanks for sharing that, it helps to hear it ({n})" for n in range(8)]


def youth_file() -> dict[str, Any]:
    path = resources.files("moderation") / "data" / "policy-youth.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_the_youth_file_sets_a_smaller_burst_than_the_default() -> None:
    # What the tests below rely on: otherwise they could not tell the two apart.
    assert youth_file()["rate_burst"] == 4 != ModerationPolicy().rate_burst


def test_unset_variables_leave_the_policy_files_values() -> None:
    settings = Settings.from_env({"HUDDLE_MODERATION_POLICY": "youth"})
    assert moderation_policy(settings) == load_policy("youth")
    assert moderation_policy(settings).rate_burst == 4
    assert moderation_policy(Settings.from_env({})) == load_policy("default")


def test_a_set_variable_wins_over_the_file() -> None:
    settings = Settings.from_env(
        {
            "HUDDLE_MODERATION_POLICY": "youth",
            "HUDDLE_RATE_BURST": "9",
            "HUDDLE_RATE_REFILL_S": "2",
            "HUDDLE_MAX_MESSAGE_CHARS": "500",
        }
    )
    policy = moderation_policy(settings)
    assert (policy.rate_burst, policy.rate_refill_per_s, policy.max_chars) == (9, 0.5, 500)
    # Everything else still comes from the youth file.
    assert policy.mask_swearing is True and policy.raid_window_s == 60
    # Set to the default's value is still set: the youth file's 4 does not come back.
    pinned = Settings.from_env({"HUDDLE_MODERATION_POLICY": "youth", "HUDDLE_RATE_BURST": "5"})
    assert moderation_policy(pinned).rate_burst == 5


def test_an_empty_variable_counts_as_unset() -> None:
    settings = Settings.from_env({"HUDDLE_MODERATION_POLICY": "open", "HUDDLE_RATE_BURST": ""})
    assert moderation_policy(settings).rate_burst == load_policy("open").rate_burst == 4


@pytest.fixture(params=[None, 6], ids=["burst-unset", "burst-6"])
def settings(request: pytest.FixtureRequest) -> Settings:
    """A youth deployment, with HUDDLE_RATE_BURST unset or set to 6."""
    env = {"HUDDLE_MODERATION_POLICY": "youth"}
    if request.param is not None:
        env["HUDDLE_RATE_BURST"] = str(request.param)
    base = Settings.from_env(env)
    return make_settings(moderation_policy="youth", rate_burst=base.rate_burst)


async def test_a_member_of_a_youth_deployment_gets_the_burst_in_force(
    settings: Settings, connect: Connect
) -> None:
    burst = settings.rate_burst if settings.rate_burst is not None else 4
    alex = await connect("alex", {"r1": "member"})
    joined = await alex.call("join", {"room": "r1"})
    assert joined["ok"]
    acks = [await alex.send("r1", text) for text in PLAIN[: burst + 1]]
    assert [ack["ok"] for ack in acks] == [True] * burst + [False]
    assert acks[-1]["error"]["code"] == "rate_limited"
