#!/usr/bin/env bash
# The whole test suite from nothing: venv, lock install, emulators (started by the tests),
# lint, then pytest. Extra arguments go to pytest, e.g. scripts/test.sh -k s3 -x
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --dev

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
