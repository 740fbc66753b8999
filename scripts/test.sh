#!/usr/bin/env bash
# The whole test suite from nothing: venv, lock install, emulators (started by the tests),
# lint, then pytest. Extra arguments go to pytest, e.g. scripts/test.sh -k s3 -x
#   scripts/test.sh --quick   the quick lane: domain tests only (no emulator, no PostgreSQL,
#                             no Airflow run, no e2e, no process-spawning test), no lint
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK_LANE="not emulator and not postgres and not airflow and not e2e and not slow"

if [ "${1:-}" = "--quick" ]; then
  shift
  bash scripts/setup.sh
  .venv/bin/uv pip install --quiet --python .venv/bin/python -r requirements-dev.txt -c constraints.txt
  exec .venv/bin/python -m pytest -q -m "$QUICK_LANE" "$@"
fi

bash scripts/setup.sh --dev

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
