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
  echo "==> installing Azurite (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
