"""A Redis password never reaches a log line or an error: a worker given the wrong one
(a real redis-server that refuses it) fails with messages and warnings that do not name it,
and the parsed address keeps it out of its repr."""

from __future__ import annotations

import asyncio
import logging

import pytest

from chatserver.backend import BackendUnavailable, PostGuard
from chatserver.redis_backend import RedisBackend
from chatserver.resp import RedisAddress
from tests.contract.test_backend_contract import NOW, msg
from tests.redis_server import RedisServer

PASSWORD = "hunter2-Zq9"


def test_the_parsed_address_never_shows_the_password() -> None:
    address = RedisAddress.from_url(f"redis://huddle:{PASSWORD}@127.0.0.1:6379/0")
    assert address.password == PASSWORD
    assert PASSWORD not in repr(address) and PASSWORD not in str(address)


async def test_a_refused_password_is_in_no_error_and_no_log_line(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = redis_server.url.replace("redis://", f"redis://huddle:{PASSWORD}@")
    backend = RedisBackend(url)
    await backend.start()  # Redis refuses the password: start-up waits, then goes on
    try:
        assert not await backend.ready()
        with pytest.raises(BackendUnavailable) as failed:
            await backend.append("r1", msg("hello"), guard=PostGuard("alex", "member"), now_ms=NOW)
        assert PASSWORD not in str(failed.value)
        # The bus's subscription retries, logging each failure (bounded wait for one).
        for _ in range(100):
            if "Redis subscription lost" in caplog.text:
                break
            await asyncio.sleep(0.05)
        assert "Redis subscription lost" in caplog.text
        assert PASSWORD not in caplog.text
    finally:
        await backend.close()
