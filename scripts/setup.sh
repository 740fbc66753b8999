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
  # The browser tests (tests/ui) drive Debian's Chromium through Playwright.
  if [ ! -x /usr/bin/chromium ]; then
    echo "==> installing Chromium (apt-get) for the browser tests"
    if [ "$(id -u)" = "0" ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    fi
  fi
fi
