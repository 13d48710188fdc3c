"""Settings.from_env: defaults, parsing, and errors that name the variable."""

import os

import pytest

from chatserver.config import ConfigError, Settings
from chatserver.redis_cluster import ClusterSeeds

SECRET = "s" * 40


def test_defaults_with_an_empty_environment() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.secret is None
    assert settings.redis_url is None
    assert settings.history_size == 1000
    assert settings.history_page == 50
    assert settings.retention_s == 7 * 24 * 3600
    # Unset: the moderation policy file's values apply (tests/integration/test_policy_settings.py).
    assert settings.max_message_chars is None
    assert settings.rate_burst is None
    assert settings.rate_refill_s is None
    assert settings.max_frame_bytes == 64 * 1024
    assert settings.send_queue_limit == 1000
    assert settings.drain_timeout_s == 8.0
    assert settings.log_level == "info"
    assert settings.demo_room == "demo"
    assert settings.worker_id == ""


def test_unrelated_variables_are_ignored() -> None:
    assert Settings.from_env({"PATH": "/bin", "HOME": "/root", "HUDDLEX": "1"}) == Settings()


def test_every_variable_parses() -> None:
    env = {
        "HUDDLE_HOST": "0.0.0.0",
        "HUDDLE_PORT": "9000",
        "HUDDLE_SECRET": SECRET,
        "HUDDLE_REDIS_URL": "redis://localhost:6379/0",
        "HUDDLE_HISTORY_SIZE": "500",
        "HUDDLE_HISTORY_PAGE": "20",
        "HUDDLE_RETENTION_S": "3600",
        "HUDDLE_MAX_MESSAGE_CHARS": "500",
        "HUDDLE_RATE_BURST": "10",
        "HUDDLE_RATE_REFILL_S": "1.5",
        "HUDDLE_MAX_FRAME_BYTES": "32768",
        "HUDDLE_SEND_QUEUE_LIMIT": "200",
        "HUDDLE_DRAIN_TIMEOUT_S": "2.5",
        "HUDDLE_LOG_LEVEL": "DEBUG",
        "HUDDLE_DEMO_ROOM": "lobby",
        "HUDDLE_WORKER_ID": "w2",
    }
    assert Settings.from_env(env) == Settings(
        host="0.0.0.0",
        port=9000,
        secret=SECRET,
        redis_url="redis://localhost:6379/0",
        history_size=500,
        history_page=20,
        retention_s=3600,
        max_message_chars=500,
        rate_burst=10,
        rate_refill_s=1.5,
        max_frame_bytes=32768,
        send_queue_limit=200,
        drain_timeout_s=2.5,
        log_level="debug",
        demo_room="lobby",
        worker_id="w2",
    )


@pytest.mark.parametrize("url", ["redis://r:6379", "rediss://r:6380/1", "unix:///tmp/redis.sock"])
def test_redis_url_schemes(url: str) -> None:
    assert Settings.from_env({"HUDDLE_REDIS_URL": url}).redis_url == url


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HUDDLE_PORT", "abc"),
        ("HUDDLE_PORT", "70000"),
        ("HUDDLE_PORT", "-1"),
        ("HUDDLE_PORT", "80.5"),
        ("HUDDLE_SECRET", "x" * 31),
        ("HUDDLE_LOG_LEVEL", "verbose"),
        ("HUDDLE_REDIS_URL", "localhost:6379"),
        ("HUDDLE_HISTORY_SIZE", "5"),
        ("HUDDLE_HISTORY_PAGE", "0"),
        ("HUDDLE_RATE_REFILL_S", "fast"),
        ("HUDDLE_RATE_REFILL_S", "0"),
        ("HUDDLE_RATE_REFILL_S", "nan"),
        ("HUDDLE_DRAIN_TIMEOUT_S", "61"),
        ("HUDDLE_MAX_FRAME_BYTES", "100"),
    ],
)
def test_a_bad_value_raises_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    assert str(info.value).startswith(name + " ")


def test_bad_port_message_says_what_was_wrong() -> None:
    with pytest.raises(ConfigError, match=r"HUDDLE_PORT expected a whole number, got 'abc'"):
        Settings.from_env({"HUDDLE_PORT": "abc"})
    with pytest.raises(ConfigError, match=r"HUDDLE_PORT must be between 0 and 65535, got 70000"):
        Settings.from_env({"HUDDLE_PORT": "70000"})


def test_a_short_secret_is_refused_without_echoing_it() -> None:
    short = "hunter2-hunter2-hunter2"
    with pytest.raises(ConfigError, match="HUDDLE_SECRET must be at least 32 characters") as info:
        Settings.from_env({"HUDDLE_SECRET": short})
    assert short not in str(info.value)


def test_secret_of_exactly_32_characters_is_accepted() -> None:
    assert Settings.from_env({"HUDDLE_SECRET": "k" * 32}).secret == "k" * 32


def test_port_range_edges() -> None:
    assert Settings.from_env({"HUDDLE_PORT": "0"}).port == 0
    assert Settings.from_env({"HUDDLE_PORT": "65535"}).port == 65535


def test_log_level_is_case_insensitive_and_named_on_error() -> None:
    assert Settings.from_env({"HUDDLE_LOG_LEVEL": " Warning "}).log_level == "warning"
    with pytest.raises(ConfigError, match="HUDDLE_LOG_LEVEL must be one of"):
        Settings.from_env({"HUDDLE_LOG_LEVEL": "trace"})


def test_an_unknown_huddle_variable_is_a_typo_and_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"HUDDLE_FOO": "1", "HUDDLE_PORT": "9000"})
    message = str(info.value)
    assert "HUDDLE_FOO" in message
    assert message.startswith("unknown setting HUDDLE_FOO")
    assert "HUDDLE_PORT" in message  # the known settings are listed to help fix the typo


def test_a_misspelt_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match="HUDDLE_SECERT"):
        Settings.from_env({"HUDDLE_SECERT": SECRET})


@pytest.mark.parametrize(
    "name",
    [
        "HUDDLE_REQUIRE_REDIS",
        "HUDDLE_REQUIRE_BROWSER",
        "HUDDLE_REQUIRE_NGINX",
        "HUDDLE_TEST_OUTPUT",
        "HUDDLE_SKIP_INSTALL",
    ],
)
def test_tooling_variables_are_ignored(name: str) -> None:
    assert Settings.from_env({name: "1"}) == Settings()


def test_redis_url_falls_back_to_plain_redis_url() -> None:
    assert Settings.from_env({"REDIS_URL": "redis://fallback:6379"}).redis_url == (
        "redis://fallback:6379"
    )


def test_huddle_redis_url_wins_over_redis_url() -> None:
    env = {"HUDDLE_REDIS_URL": "redis://mine:6379", "REDIS_URL": "redis://other:6379"}
    assert Settings.from_env(env).redis_url == "redis://mine:6379"


def test_a_bad_fallback_redis_url_is_reported() -> None:
    with pytest.raises(ConfigError, match="HUDDLE_REDIS_URL"):
        Settings.from_env({"REDIS_URL": "http://nope"})


@pytest.mark.parametrize(
    "name", ["HUDDLE_PORT", "HUDDLE_SECRET", "HUDDLE_LOG_LEVEL", "HUDDLE_REDIS_URL", "HUDDLE_HOST"]
)
def test_empty_values_mean_the_default(name: str) -> None:
    assert Settings.from_env({name: ""}) == Settings()


def test_empty_redis_url_means_the_memory_backend() -> None:
    assert Settings.from_env({"REDIS_URL": ""}).redis_url is None


def test_from_env_reads_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(os.environ):
        if name.startswith("HUDDLE_") or name == "REDIS_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HUDDLE_PORT", "9123")
    assert Settings.from_env().port == 9123


def test_redis_cluster_seeds_are_read_and_checked() -> None:
    settings = Settings.from_env({"HUDDLE_REDIS_CLUSTER": "10.0.0.1:7000, 10.0.0.2:7001"})
    assert settings.redis_cluster == "10.0.0.1:7000, 10.0.0.2:7001"
    assert settings.uses_redis
    seeds = ClusterSeeds.parse(settings.redis_cluster)
    assert [(n.host, n.port) for n in seeds.nodes] == [("10.0.0.1", 7000), ("10.0.0.2", 7001)]
    for bad in ("10.0.0.1", "unix:///tmp/r.sock", "10.0.0.1:7000/3", ",", "10.0.0.1:x"):
        with pytest.raises(ConfigError, match="HUDDLE_REDIS_CLUSTER"):
            Settings.from_env({"HUDDLE_REDIS_CLUSTER": bad})


def test_cluster_credentials_are_shared_and_never_shown() -> None:
    raw = "redis://huddle:s3cret-pw@10.0.0.1:7000,10.0.0.2:7001"
    seeds = ClusterSeeds.parse(Settings.from_env({"HUDDLE_REDIS_CLUSTER": raw}).redis_cluster or "")
    assert {(n.username, n.password) for n in seeds.nodes} == {("huddle", "s3cret-pw")}
    assert "s3cret" not in seeds.describe() and "s3cret" not in repr(seeds)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"HUDDLE_REDIS_CLUSTER": "redis://huddle:s3cret-pw@10.0.0.1"})
    assert "s3cret" not in str(caught.value)


def test_one_redis_or_a_cluster_not_both() -> None:
    with pytest.raises(ConfigError, match="not both"):
        Settings.from_env(
            {"HUDDLE_REDIS_CLUSTER": "10.0.0.1:7000", "REDIS_URL": "redis://10.0.0.1:6379"}
        )
