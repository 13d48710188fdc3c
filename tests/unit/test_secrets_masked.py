"""Secrets are never printed: a Redis URL's password is masked in every message about it,
and the settings object's repr leaves the secret and the URL out (docs/security.md,
"Operations: metrics, logs and secrets")."""

from __future__ import annotations

import pytest

from chatserver.config import ConfigError, Settings, mask_url

PASSWORD = "hunter2-Zq9"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (f"redis://:{PASSWORD}@redis.internal:6379/0", "redis://***@redis.internal:6379/0"),
        (f"redis://huddle:{PASSWORD}@h:1/0", "redis://***@h:1/0"),
        (f"rediss://u:{PASSWORD}/with@at@h:6380", "rediss://***@h:6380"),
        (f"http://:{PASSWORD}@h", "http://***@h"),
        (f"redis:/:{PASSWORD}@h", "***@h"),
        (f"redis://h:6379/0?password={PASSWORD}&db=1", "redis://h:6379/0?password=***&db=1"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("unix:///run/redis.sock?db=2", "unix:///run/redis.sock?db=2"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert PASSWORD not in mask_url(url)


@pytest.mark.parametrize(
    "url",
    [
        f"http://:{PASSWORD}@redis.internal:6379/0",  # the wrong scheme
        f"redis//:{PASSWORD}@redis.internal:6379/0",  # a typo
        f"redis://:{PASSWORD}@redis.internal:63a79/0",  # a port that is not a number
        f"redis://:{PASSWORD}@redis.internal:99999/0",  # out of range
        f"redis://redis.internal:6379/0?password={PASSWORD}",  # an option huddle has not
    ],
)
@pytest.mark.parametrize("variable", ["REDIS_URL", "HUDDLE_REDIS_URL"])
def test_a_malformed_redis_url_is_refused_with_its_password_masked(variable: str, url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({variable: url})
    message = str(refused.value)
    assert "HUDDLE_REDIS_URL" in message and "***" in message
    assert PASSWORD not in message


def test_settings_never_show_the_secret_or_the_redis_url() -> None:
    settings = Settings.from_env(
        {"HUDDLE_SECRET": "s" * 32 + PASSWORD, "REDIS_URL": f"redis://:{PASSWORD}@h:6379/0"}
    )
    assert settings.redis_url == f"redis://:{PASSWORD}@h:6379/0"
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)
    assert "port=8080" in repr(settings)
