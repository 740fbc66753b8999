#!/usr/bin/env bash
# The main job on the embedded default: SQLite catalog, local-folder storage, Airflow
# standalone. Installs, generates sample images, starts Airflow, creates a driver and a
# dataset (which triggers the initial sync through Airflow's REST API), waits for the sync
# and prints where to look. Airflow keeps running; `scripts/demo.sh stop` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"

DEMO="${TRIBUTARY_DEMO_DIR:-$REPO/.demo}"
PORT="${TRIBUTARY_DEMO_PORT:-8080}"
export AIRFLOW_HOME="$DEMO/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$REPO/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# Airflow's SQLite metadata DB: CLI commands (backfill create, …) wait up to 60 s for the
# scheduler's writes (a stale-snapshot "database is locked" still needs a re-run).
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS=tributary.config.AIRFLOW_SQLITE_CONNECT_ARGS
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__HOST="${TRIBUTARY_DEMO_HOST:-127.0.0.1}"
export AIRFLOW__API__BASE_URL="http://localhost:$PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://localhost:$PORT/execution/"
export AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="${TRIBUTARY_DEMO_WORKER_LOG_PORT:-8793}"
export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="${TRIBUTARY_DEMO_TRIGGER_LOG_PORT:-8794}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
export TRIBUTARY_AIRFLOW_URL="http://localhost:$PORT"
export TRIBUTARY_AIRFLOW_USER=admin
export TRIBUTARY_AIRFLOW_PASSWORD=admin
PIDFILE="$DEMO/airflow.pgid"

stop_airflow() {
  if [ -f "$PIDFILE" ]; then
    local pgid
    pgid="$(cat "$PIDFILE")"
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 30); do
      kill -0 -- "-$pgid" 2>/dev/null || break
      sleep 1
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
    rm -f "$PIDFILE"
    echo "Airflow stopped"
  fi
}
if [ "${1:-}" = "stop" ]; then
  stop_airflow
  exit 0
fi

bash scripts/setup.sh
export PATH="$REPO/.venv/bin:$PATH"
mkdir -p "$AIRFLOW_HOME"
echo '{"admin": "admin"}' > "$AIRFLOW_HOME/passwords.json"

echo "==> generating sample images in $DEMO/bucket"
python scripts/make_sample_images.py "$DEMO/bucket"

stop_airflow
echo "==> starting Airflow standalone on port $PORT (log: $DEMO/airflow.log)"
airflow db migrate > "$DEMO/airflow-migrate.log" 2>&1
setsid airflow standalone > "$DEMO/airflow.log" 2>&1 &
echo $! > "$PIDFILE"
for _ in $(seq 1 120); do
  if curl -fsS "http://localhost:$PORT/api/v2/monitor/health" > /dev/null 2>&1; then break; fi
  if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "Airflow exited; last lines of $DEMO/airflow.log:" >&2
    tail -20 "$DEMO/airflow.log" >&2
    exit 1
  fi
  sleep 1
done
curl -fsS "http://localhost:$PORT/api/v2/monitor/health" > /dev/null

echo "==> creating the demo driver and dataset"
if ! tributary driver list --json | grep -q '"name": "demo-images"'; then
  tributary driver create demo-images --provider local --bucket "$DEMO/bucket"
fi
if tributary dataset list --json | grep -q '"name": "demo"'; then
  tributary sync demo --wait
else
  tributary dataset create demo --driver demo-images --wait
fi

ITEMS=$(tributary items demo | wc -l)
cat <<MSG

Tributary demo is up.
  Airflow UI : http://localhost:$PORT   (login: admin / admin)
  browser    : http://localhost:$PORT/tributary/ui/   (Datasets in Airflow's menu)
  dataset    : demo, $ITEMS items indexed from $DEMO/bucket
  try        : AIRFLOW_HOME=$AIRFLOW_HOME .venv/bin/tributary items demo --json | head
               AIRFLOW_HOME=$AIRFLOW_HOME .venv/bin/tributary runs demo
  stop       : scripts/demo.sh stop
MSG
