# Shared set-up for the scripts: installs what is missing, idempotently and quietly.
# Sourced, not executed. Each step is skipped when its inputs have not changed.
#
# Python packages come from uv.lock (exact versions and hashes, runtime and dev), installed by
# uv, which itself is installed with pip from scripts/uv-requirements.txt (pinned, hashed).
# A step prints one line saying what it does; its own output is kept and shown whole only if
# it fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HUDDLE_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
TOOLS="$ROOT/.tools"
UV="$TOOLS/bin/uv"

say() { printf 'huddle setup: %s\n' "$*" >&2; }

quietly() {
  # quietly CMD... : run CMD with its output kept aside; if it fails, show that output whole.
  local log rc=0
  log="$(mktemp "${TMPDIR:-/tmp}/huddle-setup.XXXXXX")"
  "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    say "this step failed (exit $rc): $*"
    cat "$log" >&2
  fi
  rm -f "$log"
  return "$rc"
}

apt_install() {
  # apt_install PACKAGE... : install Debian packages that are missing (needs root or sudo).
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} from Debian (first run, up to a minute)…"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  quietly $sudo apt-get update -qq
  quietly env DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
}

system_python() {
  # The interpreter the virtualenv is built on: python3, if it is 3.11 or newer.
  local py
  py="$(command -v python3 || true)"
  if [ -z "$py" ] || ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    apt_install python3 python3-venv python3-pip
    py="$(command -v python3)"
  fi
  printf '%s\n' "$py"
}

ensure_uv() {
  local want have=""
  want="$(sed -n 's/^uv==\([0-9.]*\).*/\1/p' "$ROOT/scripts/uv-requirements.txt")"
  [ -x "$UV" ] && have="$("$UV" --version 2>/dev/null | cut -d' ' -f2)"
  [ "$have" = "$want" ] && return 0
  local py
  py="$(system_python)"
  say "installing uv $want, the Python package installer (first run, ~10 s)…"
  rm -rf "$TOOLS"
  quietly "$py" -m venv "$TOOLS" || { apt_install python3-venv; quietly "$py" -m venv "$TOOLS"; }
  quietly "$TOOLS/bin/python" -m pip install --no-deps --require-hashes \
    -r "$ROOT/scripts/uv-requirements.txt"
}

export UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1 UV_PROJECT_ENVIRONMENT="$VENV"

ensure_python() {
  # $1: "dev" (tests and linters too) or "" (just what the server needs).
  ensure_uv
  local stamp="$VENV/.huddle-lock" want have=""
  want="$(cat "$ROOT/uv.lock" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
  if [ "${HUDDLE_FRESH_VENV:-0}" = 1 ] && [ -d "$VENV" ]; then
    say "removing $VENV: this run starts from a clean virtualenv"
    rm -rf "$VENV"
  fi
  # Once per run: the commands the tests start must not remove the virtualenv they run in.
  unset HUDDLE_FRESH_VENV
  [ -f "$stamp" ] && have="$(cat "$stamp")"
  # A dev install also serves a plain run.
  if [ "$have" = "$want-$1" ] || { [ -z "$1" ] && [ "$have" = "$want-dev" ]; }; then
    return 0
  fi
  local args=(sync --locked --no-install-project --python "$(system_python)")
  if [ -n "$1" ]; then
    args+=(--extra "$1")
    say "installing Python packages from uv.lock, with the test tools (~20 s)…"
  else
    # Leave the test tools of an earlier dev install in place.
    args+=(--inexact)
    say "installing Python packages from uv.lock (~15 s)…"
  fi
  if ! (cd "$ROOT" && quietly "$UV" "${args[@]}"); then
    say "if uv said the lock file needs to be updated: pyproject.toml changed without"
    say "re-locking; run ./scripts/upgrade (or .tools/bin/uv lock) and commit uv.lock"
    return 1
  fi
  echo "$want-$1" >"$stamp"
}

ensure_web() {
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  local stamp="$ROOT/web/node_modules/.huddle-installed" want
  want="$(sha256sum "$ROOT/web/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing the web client's npm packages from web/package-lock.json (~5 s)…"
    (cd "$ROOT/web" && quietly npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
  fi
}

huddle_python() {
  # Run the project's code from the checkout with the virtualenv's Python.
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" "$@"
}
