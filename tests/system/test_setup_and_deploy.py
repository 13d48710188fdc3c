"""The set-up and deployment files a newcomer and an operator rely on: the README's commands
exist as written, installs come from the one lock file (also after an older one), and the
compose file and Dockerfile are valid and use that lock."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.processes import require_program

# Set-up scripts, the lock, the Dockerfile and the compose file: no server is run, so CI
# runs it once.
pytestmark = pytest.mark.transport_independent


ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
UV = ROOT / ".tools" / "bin" / "uv"


def locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {
        pkg["name"]: pkg["version"]
        for pkg in lock["package"]
        if "version" in pkg and pkg["name"] != "huddle"
    }


def test_every_script_the_readme_names_exists_and_parses() -> None:
    named = set(re.findall(r"\./(scripts/[\w-]+|\.ci/run)", README))
    assert {"scripts/run", "scripts/test", "scripts/huddle", "scripts/upgrade"} <= named
    for script in sorted(named):
        path = ROOT / script
        assert path.is_file() and os.access(path, os.X_OK), f"{script} is not executable"
        checked = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, f"{script}: {checked.stderr}"


def test_ci_runs_exactly_the_readme_test_command_in_a_clean_virtualenv() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec ./scripts/test" in ci
    assert "HUDDLE_FRESH_VENV=1" in ci
    # Every real part the tests use fails, not skips, when missing (tests/processes.required).
    assert "HUDDLE_NO_SKIPS=1" in ci


def test_uv_is_pinned_with_hashes_and_the_lock_covers_runtime_and_dev() -> None:
    pins = (ROOT / "scripts" / "uv-requirements.txt").read_text()
    assert re.search(r"^uv==\d+\.\d+\.\d+ ", pins, re.M)
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", pins)) >= 2
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    names = {re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].lower() for req in wanted}
    locked = locked_versions()
    assert names <= set(locked), f"not in uv.lock: {names - set(locked)}"


def test_the_dockerfile_installs_from_the_same_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "scripts/uv-requirements.txt" in dockerfile and "--require-hashes" in dockerfile
    assert re.search(r"COPY [^\n]*uv\.lock", dockerfile)
    assert re.search(r"uv sync --locked --no-dev", dockerfile)
    assert "pip install ." not in dockerfile


def compose_command() -> list[str]:
    """`docker compose` where the plugin is installed, else docker-compose (which the test
    command installs from Debian); missing in CI, the test fails."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return [require_program("docker-compose", "HUDDLE_NO_SKIPS")]


def test_docker_compose_config_is_valid() -> None:
    command = compose_command()

    def config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, "-f", str(ROOT / "docker-compose.yml"), "config"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    result = config({**os.environ, "HUDDLE_SECRET": "s" * 48})
    assert result.returncode == 0, result.stderr
    for service in ("redis:", "worker1:", "worker2:", "worker3:", "nginx:"):
        assert f"  {service}" in result.stdout
    assert "--appendonly" in result.stdout
    # Without a secret the file refuses to start rather than run workers that disagree.
    refused = config({k: v for k, v in os.environ.items() if k != "HUDDLE_SECRET"})
    assert refused.returncode != 0 and "HUDDLE_SECRET" in refused.stderr


def installed(venv: Path) -> dict[str, str]:
    listed = subprocess.run(
        [str(UV), "pip", "list", "--format", "freeze", "--python", str(venv / "bin" / "python")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    pairs = (line.split("==", 1) for line in listed.splitlines() if "==" in line)
    return {name.lower().replace("_", "-"): version for name, version in pairs}


def leftover_wheel(folder: Path) -> Path:
    """A package no lock of huddle has had: what an older install may leave behind."""
    wheel = folder / "huddle_leftover-1.0-py3-none-any.whl"
    files = {
        "huddle_leftover/__init__.py": "",
        "huddle_leftover-1.0.dist-info/METADATA": (
            "Metadata-Version: 2.1\nName: huddle-leftover\nVersion: 1.0\n"
        ),
        "huddle_leftover-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{name},,\n" for name in files) + "huddle_leftover-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as out:
        for name, text in files.items():
            out.writestr(name, text)
        out.writestr("huddle_leftover-1.0.dist-info/RECORD", record)
    return wheel


def test_a_virtualenv_left_by_an_older_install_is_brought_to_the_lock(tmp_path: Path) -> None:
    """A .venv made by the earlier pip-based set-up, with a package the lock no longer has
    and without most it has, ends up exactly as uv.lock says, test tools included."""
    venv = tmp_path / "venv"
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True, timeout=120)
    (venv / ".huddle-installed").write_text("an-older-pyproject-hash-dev\n")
    subprocess.run(
        [
            *(str(UV), "pip", "install", "--python", str(venv / "bin" / "python")),
            str(leftover_wheel(tmp_path)),
        ],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "UV_OFFLINE": "1"},
    )
    script = f'source "{ROOT}/scripts/setup.sh" && ensure_python dev'
    env = {**os.environ, "HUDDLE_VENV": str(venv)}
    env.pop("HUDDLE_FRESH_VENV", None)
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "installing Python packages from uv.lock" in result.stderr
    have = installed(venv)
    assert "huddle-leftover" not in have
    lock = locked_versions()
    wrong = {name: (have.get(name), version) for name, version in lock.items()}
    wrong = {k: v for k, v in wrong.items() if v[0] != v[1] and k not in ("pip", "setuptools")}
    # Packages for other platforms or Pythons are in the lock but not installed here.
    missing_here = {k for k, (got, _) in wrong.items() if got is None}
    assert {"mypy", "pytest", "aiohttp", "redis"}.isdisjoint(missing_here)
    assert {k: v for k, v in wrong.items() if v[0] is not None} == {}
    # A second run with the same lock does nothing and says nothing.
    again = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert again.returncode == 0 and again.stderr == ""
