"""Settings from environment variables (prefix ``HUDDLE_``), validated at start.

A typo in a variable name or a bad value stops the server with a message naming the
variable, rather than running with a default nobody meant.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moderation.policy import ModerationPolicy

MIN_SECRET_LENGTH = 32


class ConfigError(ValueError):
    """A setting is missing, malformed or out of range."""


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"expected a whole number, got {raw!r}") from None
        if not lo <= value <= hi:
            raise ConfigError(f"must be between {lo} and {hi}, got {value}")
        return value

    return parse


def _float(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"expected a number, got {raw!r}") from None
        if not lo <= value <= hi:
            raise ConfigError(f"must be between {lo} and {hi}, got {value}")
        return value

    return parse


def _secret(raw: str) -> str:
    if len(raw) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"must be at least {MIN_SECRET_LENGTH} characters (got {len(raw)}); "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    return raw


def mask_url(url: str) -> str:
    """The URL with its credentials replaced by ``***``, for messages and logs:
    ``redis://user:hunter2@host:6379/0`` -> ``redis://***@host:6379/0``. Everything before
    the last ``@`` is masked (a password may itself hold ``/``, ``:`` or ``@``), and so is
    the value of any ``password=`` or ``pass=`` in the query. Over-masking is harmless."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    at = rest.rfind("@")
    if at >= 0:
        rest = "***" + rest[at:]
    return scheme + sep + _PASSWORD_OPTION.sub(r"\1***", rest)


_PASSWORD_OPTION = re.compile(r"((?:^|[?&;])(?:pass|password)=)[^&;#]*", re.IGNORECASE)


def _redis_url(raw: str) -> str:
    from chatserver.resp import RedisAddress

    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"must start with redis://, rediss:// or unix://, got {mask_url(raw)!r}")
    try:
        # Read it whole now: a malformed URL stops the server here, with the password
        # masked, rather than in a traceback when the backend opens it.
        RedisAddress.from_url(raw)
    except ValueError as exc:
        raise ConfigError(f"is not a valid Redis URL ({exc}): {mask_url(raw)!r}") from None
    return raw


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ConfigError(f"must be one of {', '.join(options)}, got {raw!r}")
        return value

    return parse


def _str(raw: str) -> str:
    return raw


def _redis_cluster(raw: str) -> str:
    from chatserver.redis_cluster import ClusterSeeds

    try:
        ClusterSeeds.parse(raw)
    except ValueError as exc:
        raise ConfigError(
            f"is not a list of Redis Cluster nodes ({exc}): {mask_url(raw)!r}"
        ) from None
    return raw


IPNetwork = IPv4Network | IPv6Network


def _networks(raw: str) -> tuple[IPNetwork, ...]:
    """Comma-separated addresses or networks (``10.0.0.0/8``); ``none`` for none."""
    if raw.strip().lower() == "none":
        return ()
    try:
        parts = [part.strip() for part in raw.split(",")]
        return tuple(ip_network(part, strict=False) for part in parts if part)
    except ValueError as exc:
        raise ConfigError(f"expected addresses or networks separated by commas ({exc})") from None


def _policy_kind(raw: str) -> str:
    from moderation.policy import available_policies

    kinds = available_policies()
    if raw not in kinds:
        raise ConfigError(f"must be one of {', '.join(sorted(kinds))}, got {raw!r}")
    return raw


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = field(default="127.0.0.1", metadata={"parse": _str})
    port: int = field(default=8080, metadata={"parse": _int(0, 65535)})
    # Never in a repr (a settings object logged or in a traceback prints no secret).
    secret: str | None = field(default=None, repr=False, metadata={"parse": _secret})
    redis_url: str | None = field(default=None, repr=False, metadata={"parse": _redis_url})
    redis_cluster: str | None = field(default=None, repr=False, metadata={"parse": _redis_cluster})
    """Seed nodes of a Redis Cluster (``host:port,host:port``): the workers share rooms
    through it instead of one Redis (not both: set this or the Redis URL)."""
    redis_wait_replicas: int = field(default=0, metadata={"parse": _int(0, 16)})
    """An append is acknowledged once this many replicas of its Redis have it (WAIT); 0:
    when its master has it. Not confirmed in time: ``unavailable``, and the client's retry
    finds the message (docs/operations.md, "Redis Cluster")."""
    redis_wait_timeout_ms: int = field(default=500, metadata={"parse": _int(10, 1500)})
    """How long an append waits for its replicas before answering ``unavailable``."""
    history_size: int = field(default=1000, metadata={"parse": _int(10, 100_000)})
    history_page: int = field(default=50, metadata={"parse": _int(1, 1000)})
    retention_s: int = field(default=7 * 24 * 3600, metadata={"parse": _int(60, 365 * 24 * 3600)})
    # The moderation limits below are the policy file's (HUDDLE_MODERATION_POLICY) unless
    # set here: None means "not set", and the file's value applies (moderation_policy).
    max_message_chars: int | None = field(default=None, metadata={"parse": _int(1, 20_000)})
    rate_burst: int | None = field(default=None, metadata={"parse": _int(1, 10_000)})
    rate_refill_s: float | None = field(default=None, metadata={"parse": _float(0.001, 3600)})
    max_frame_bytes: int = field(
        default=64 * 1024, metadata={"parse": _int(1024, 16 * 1024 * 1024)}
    )
    send_queue_limit: int = field(default=1000, metadata={"parse": _int(10, 1_000_000)})
    drain_timeout_s: float = field(default=8.0, metadata={"parse": _float(0, 60)})
    leave_grace_s: float = field(default=10.0, metadata={"parse": _float(0, 300)})
    """How long a dropped connection still counts as present: a phone switching networks
    or a tab reconnecting does not announce "left" and "joined", nor lower a raised hand."""
    log_level: str = field(
        default="info", metadata={"parse": _choice("debug", "info", "warning", "error")}
    )
    demo_room: str = field(default="demo", metadata={"parse": _str})
    data_dir: str = field(default=".huddle", metadata={"parse": _str})
    """Where a run keeps files of its own: the embedded default's rooms and group space
    (SQLite files) and the demo secret (used when no secret is set)."""
    cache_dir: str = field(default="", metadata={"parse": _str})
    """Where a worker keeps the moderation lists compiled, so the next start skips compiling
    them (chatserver/lexicon_cache.py): empty, $XDG_CACHE_HOME/huddle (~/.cache/huddle);
    ``off``, compiled at every start."""
    embedded_store: str = field(default="sqlite", metadata={"parse": _choice("sqlite", "memory")})
    """Without Redis: sqlite keeps rooms, alerts, held messages and the audit in
    ``data_dir``/rooms.sqlite3 across restarts; memory keeps them in the process only."""
    sqlite_synchronous: str = field(default="full", metadata={"parse": _choice("full", "normal")})
    """full: each group commit is fsynced (an acknowledged message survives a power cut);
    normal: written but not fsynced (it survives the process being killed, not the host)."""
    moderation_policy: str = field(default="default", metadata={"parse": _policy_kind})
    worker_id: str = field(default="", metadata={"parse": _str})
    event_loop: str = field(default="uvloop", metadata={"parse": _choice("uvloop", "asyncio")})
    """uvloop (libuv) runs the same asyncio code with a faster loop and transports."""
    ws_fast_path: str = field(default="on", metadata={"parse": _choice("on", "off")})
    """Websockets served by huddle's own connection objects (chatserver/transport/); off, or
    when its start-up probe fails, by engineio's and aiohttp's own code."""
    ws_send_buffer_bytes: int = field(
        default=1 << 20, metadata={"parse": _int(16 * 1024, 256 * 1024 * 1024)}
    )
    """A fast-path websocket reader with this many bytes not yet taken by its kernel is
    dropped (it reconnects and recovers); ``send_queue_limit`` bounds the other paths."""
    ws_read_timeout_s: float = field(default=40.0, metadata={"parse": _float(25, 3600)})
    """A fast-path websocket with nothing read for this long is a dead peer. Clients answer
    the server's ping every 20 s, so anything much below 25 s would cut live ones."""
    # The connection before and after signing in (docs/security.md).
    connect_timeout_s: float = field(default=20.0, metadata={"parse": _float(1, 120)})
    """An Engine.IO session that has not signed in (Socket.IO connect) this long after it
    opened is closed. Clients send the connect packet as soon as the session is open; the
    slack is for a worker busy with a reconnect storm (closing them would feed it)."""
    max_connections_per_address: int = field(default=100, metadata={"parse": _int(1, 1_000_000)})
    """Engine.IO sessions open at once from one client address (signed in or not), per
    worker; one more is refused (HTTP 401 with the reason)."""
    max_connections_per_user: int = field(default=10, metadata={"parse": _int(1, 1_000_000)})
    """Signed-in connections at once for one user (a token's ``sub``), per worker; one more
    is refused at connect (``connect_error``)."""
    http_request_timeout_s: float = field(default=10.0, metadata={"parse": _float(1, 75)})
    """A client has this long to send a whole request's headers (after connecting, or after
    its previous response) and a polling POST its body (slow-HTTP clients)."""
    trusted_proxies: tuple[IPNetwork, ...] = field(
        default=(ip_network("127.0.0.1/32"), ip_network("::1/128")),
        metadata={"parse": _networks},
    )
    """Peers whose X-Forwarded-For is believed (nginx on the same host by default); from
    any other peer the TCP peer's address is the client's."""

    signal_burst: int = field(default=10, metadata={"parse": _int(1, 10_000)})
    """Typing, hand and leave signals a member may send back to back (each kind its own
    bucket, per member per room; turning one off again is always free: rooms/signals.py)."""
    signal_refill_s: float = field(default=1.0, metadata={"parse": _float(0.001, 3600)})
    """Seconds until a member may send one more typing, hand or leave signal."""
    report_burst: int = field(default=5, metadata={"parse": _int(1, 10_000)})
    """Reports a member may send back to back (each one alerts every facilitator)."""
    report_refill_s: float = field(default=30.0, metadata={"parse": _float(0.001, 86_400)})
    """Seconds until a member may send one more report."""
    organiser_key: str | None = field(default=None, repr=False, metadata={"parse": _secret})
    """The organiser's key for the /organise console, set at deployment; unset: the first
    run prints a one-time setup link where the organiser chooses a passphrase."""
    api_key: str | None = field(default=None, repr=False, metadata={"parse": _secret})
    """The key for the organiser's JSON API (/api/v1, Authorization: Bearer); unset: no API."""
    session_ttl_s: int = field(default=60 * 86_400, metadata={"parse": _int(300, 90 * 86_400)})
    """How long a member's server-issued session credential lasts; renewed on every visit.
    Long on purpose: someone who misses a few weekly sessions in a flare keeps their place."""
    revocation_poll_s: float = field(default=0.5, metadata={"parse": _float(0.05, 60)})
    """How often each worker reads the shared revocation list (Redis): a removed member's
    connections on other workers end within this."""
    metrics_host: str = field(default="127.0.0.1", metadata={"parse": _str})
    """Where the metrics listener listens: never the client-facing port (docs/security.md)."""
    metrics_port: int | None = field(default=None, metadata={"parse": _int(0, 65535)})
    """The metrics listener's port (GET /metrics, Prometheus); unset: no metrics listener,
    0: a free port the log names."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        known = {f"HUDDLE_{f.name.upper()}": f for f in fields(cls)}
        unknown = sorted(k for k in env if k.startswith("HUDDLE_") and k not in known)
        # Variables of the test and ops tooling share the prefix; they are not settings.
        unknown = [k for k in unknown if k not in _TOOLING_VARIABLES]
        if unknown:
            raise ConfigError(
                f"unknown setting {', '.join(unknown)}; known settings: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        for name, f in known.items():
            raw = env.get(name)
            if raw is None and f.name == "redis_url":
                raw = env.get("REDIS_URL")
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = f.metadata["parse"](raw)
            except ConfigError as exc:
                raise ConfigError(f"{name} {exc}") from None
        if values.get("redis_url") and values.get("redis_cluster"):
            raise ConfigError(
                "set HUDDLE_REDIS_CLUSTER or the Redis URL (REDIS_URL/HUDDLE_REDIS_URL), not both"
            )
        return cls(**values)

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url or self.redis_cluster)


def moderation_policy(settings: Settings) -> ModerationPolicy:
    """The deployment's moderation policy: the policy file HUDDLE_MODERATION_POLICY names,
    with each limit whose variable is set put over the file's value. A variable left unset
    leaves the file's value alone (docs/moderation.md, "One policy per deployment")."""
    from moderation.policy import load_policy

    policy = load_policy(settings.moderation_policy)
    overrides: dict[str, Any] = {}
    if settings.max_message_chars is not None:
        overrides["max_chars"] = settings.max_message_chars
    if settings.rate_burst is not None:
        overrides["rate_burst"] = settings.rate_burst
    if settings.rate_refill_s is not None:
        overrides["rate_refill_per_s"] = 1 / settings.rate_refill_s
    return replace(policy, **overrides) if overrides else policy


_TOOLING_VARIABLES = frozenset(
    {
        "HUDDLE_REQUIRE_REDIS",
        "HUDDLE_REQUIRE_BROWSER",
        "HUDDLE_REQUIRE_NGINX",
        "HUDDLE_TEST_OUTPUT",
        "HUDDLE_SKIP_INSTALL",
        "HUDDLE_NO_SKIPS",
        "HUDDLE_VENV",
        "HUDDLE_FRESH_VENV",
    }
)
