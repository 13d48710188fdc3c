"""A worker started with a malformed REDIS_URL stops with a configuration error that
masks the password (before, the URL was printed whole, password and all)."""

from __future__ import annotations

import pytest

from tests.integration.test_cli import clean_env, huddle

# The command line's error output: no websocket is opened, so CI runs it once.
pytestmark = pytest.mark.transport_independent

PASSWORD = "hunter2-Zq9"


@pytest.mark.parametrize(
    "url",
    [
        f"http://:{PASSWORD}@127.0.0.1:6379/0",
        f"redis://:{PASSWORD}@127.0.0.1:notaport/0",
    ],
)
def test_serve_with_a_malformed_redis_url_prints_no_password(url: str) -> None:
    result = huddle("serve", "--port", "0", env=clean_env(REDIS_URL=url))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "configuration error" in result.stderr and "REDIS_URL" in result.stderr
    assert "***@127.0.0.1" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
