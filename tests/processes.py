"""Real programs the integration tests run: found (or skipped; failed when CI requires
them), and stopped within a bound."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def required(require_env: str) -> bool:
    """Whether a missing real part fails the test instead of skipping it: when its own
    variable is "1", and always in CI (HUDDLE_NO_SKIPS=1), whatever the part."""
    return "1" in (os.environ.get(require_env), os.environ.get("HUDDLE_NO_SKIPS"))


def require_program(name: str, require_env: str, *also: str) -> str:
    """The path of ``name`` (on PATH, or one of ``also``). Missing: the test skips, or fails
    when required (CI), so a missing program can never pass quietly."""
    path = shutil.which(name) or next((p for p in also if Path(p).exists()), None)
    if path is None:
        if required(require_env):
            pytest.fail(f"{name} is required ({require_env} or HUDDLE_NO_SKIPS) but missing")
        pytest.skip(f"{name} not installed")
    return path


def stop_process(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str],
    *,
    grace_s: float,
    sig: int = signal.SIGTERM,
) -> None:
    """Ask a process to stop; kill it if it has not within ``grace_s``."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextmanager
def output_of(argv: list[str], *, env: dict[str, str], cwd: Path) -> Iterator[list[str]]:
    """Run a program for the length of the block; the list fills with its output lines
    (stdout and stderr) as they come. Stopped (SIGTERM, then kill) when the block ends."""
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield lines
    finally:
        stop_process(proc, grace_s=15)
        reader.join(timeout=5)
