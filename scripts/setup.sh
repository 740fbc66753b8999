#!/usr/bin/env bash
# Create .venv and install Tributary from the lock file. Idempotent; fast when up to date.
#   scripts/setup.sh          runtime only (what the demo needs)
#   scripts/setup.sh --dev    plus test tools and the Azurite emulator (npm)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
UV_VERSION="0.13.8"

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
  echo "==> installing uv $UV_VERSION"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

requirements=(-r requirements.txt)
if [ "${1:-}" = "--dev" ]; then
  requirements+=(-r requirements-dev.txt)
fi
echo "==> installing from constraints.txt (the lock)"
.venv/bin/uv pip install --quiet --python .venv/bin/python "${requirements[@]}" -c constraints.txt
.venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .

if [ "${1:-}" = "--dev" ]; then
  echo "==> installing Azurite and htmx (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  # The dataset browser's one JS library, vendored into the package (served by the API,
  # never from a CDN); the copy is committed so that a runtime-only install has it too.
  cp node_modules/htmx.org/dist/htmx.min.js include/tributary/api/ui/static/vendor/htmx.min.js
  # The browser tests (tests/ui) drive Debian's Chromium through Playwright; the deploy
  # test checks docker-compose.yml with Debian's docker-compose (no Docker engine needed).
  missing=""
  [ -x /usr/bin/chromium ] || missing="$missing chromium"
  command -v docker-compose >/dev/null || missing="$missing docker-compose"
  if [ -n "$missing" ]; then
    echo "==> installing (apt-get):$missing"
    sudo=""
    [ "$(id -u)" = "0" ] || sudo="sudo"
    # shellcheck disable=SC2086 # the package names are meant to split
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
  fi
fi
