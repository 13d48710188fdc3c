# Shared set-up for scripts/run and scripts/test: installs what is missing, idempotently.
# Sourced, not executed. Each step is skipped when its inputs have not changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

say() { printf 'huddle setup: %s\n' "$*" >&2; }

apt_install() {
  # apt_install PACKAGE... : install Debian packages that are missing (needs root).
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} with apt-get"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_python() {
  local py
  py="$(command -v python3 || true)"
  if [ -z "$py" ] || ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    apt_install python3 python3-venv python3-pip
    py="$(command -v python3)"
  fi
  if [ ! -x "$PY" ]; then
    say "creating $VENV"
    "$py" -m venv "$VENV" || { apt_install python3-venv; "$py" -m venv "$VENV"; }
  fi
  # $1: "dev" (tests and linters too) or "" (just what the server needs).
  local stamp="$VENV/.huddle-installed" hash have=""
  hash="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  [ -f "$stamp" ] && have="$(cat "$stamp")"
  # A dev install also serves a plain run.
  if [ "$have" = "$hash-$1" ] || { [ -z "$1" ] && [ "$have" = "$hash-dev" ]; }; then
    return 0
  fi
  say "installing Python packages${1:+ ($1)}"
  "$PY" -m pip install -q --upgrade pip >/dev/null
  if [ -n "$1" ]; then
    "$PY" -m pip install -q -e "$ROOT[$1]"
  else
    "$PY" -m pip install -q -e "$ROOT"
  fi
  echo "$hash-$1" > "$stamp"
}

ensure_web() {
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  local stamp="$ROOT/web/node_modules/.huddle-installed" want
  want="$(sha256sum "$ROOT/web/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing the web client's npm packages"
    (cd "$ROOT/web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$want" > "$stamp"
  fi
}
