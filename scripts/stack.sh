#!/usr/bin/env bash
# The production topology of docker-compose.yml on one machine, as plain processes (no
# Docker): Airflow's api-server, scheduler, dag-processor and triggerer, two Celery workers
# (one on the default queue, one on a private lane's queue), CeleryExecutor with Redis as
# the broker, PostgreSQL for Airflow's metadata and for the Tributary catalog.
#
#   scripts/stack.sh start          fresh databases, then every process; waits until healthy
#   scripts/stack.sh status         each process, and Airflow's health (exit 3 if one is down)
#   scripts/stack.sh stop [--drop]  stops every process group; --drop also drops the databases
#                                   and the stack's Redis keys
#   scripts/stack.sh restart NAME   one process (api-server, scheduler, dag-processor,
#                                   triggerer, worker-default, worker-lane), as after a crash
#
# It uses the machine's PostgreSQL and Redis. Everything else lives in one folder,
# $TRIBUTARY_STACK_DIR (default .stack/): airflow/ (AIRFLOW_HOME, task logs), logs/ (one log
# per process), pids/ (one process group id per process) and env.sh, the environment of the
# stack (`source .stack/env.sh` to use `airflow` and `tributary` against it).
#
# Settings (environment):
#   TRIBUTARY_STACK_DIR         the folder above (default .stack)
#   TRIBUTARY_STACK_NAME        database name prefix; <name>_airflow and <name>_catalog are
#                               DROPPED and recreated on start (default: unique per folder)
#   TRIBUTARY_STACK_PG_URL      the PostgreSQL server (default postgresql://postgres@127.0.0.1:5432)
#   TRIBUTARY_STACK_REDIS_URL   the broker, a dedicated db number (default redis://127.0.0.1:6379/1);
#                               keys are prefixed with the stack's name, so stacks can share it
#   TRIBUTARY_STACK_PORT        the API and UI (default 8080, on 127.0.0.1)
#   TRIBUTARY_STACK_WORKER_LOG_PORT, TRIBUTARY_STACK_LANE_WORKER_LOG_PORT,
#   TRIBUTARY_STACK_TRIGGER_LOG_PORT   log servers (default 8793, 8795, 8794; one per process)
#   TRIBUTARY_LANES             private lanes (default: acme → pool tributary_acme, queue acme);
#                               every lane's pool is created with TRIBUTARY_STACK_LANE_SLOTS (4)
#   TRIBUTARY_STACK_LANE_QUEUES the lane worker's queues (default: the first lane's queue and
#                               default, so both workers share the default queue's work)
#   TRIBUTARY_STACK_CONCURRENCY task slots per worker (default 4)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
STACK="${TRIBUTARY_STACK_DIR:-$REPO/.stack}"
mkdir -p "$STACK"
STACK="$(cd "$STACK" && pwd)"
PIDS="$STACK/pids"
LOGS="$STACK/logs"
PY="$REPO/.venv/bin/python"
DEFAULT_LANES='{"acme": {"pool": "tributary_acme", "queue": "acme"}}'
COMPONENTS=(api-server scheduler dag-processor triggerer worker-default worker-lane)

pgid_of() { cat "$PIDS/$1.pid" 2>/dev/null || true; }
alive() { local g; g="$(pgid_of "$1")"; [ -n "$g" ] && kill -0 -- "-$g" 2>/dev/null; }

stop_component() {
  local name="$1" pgid
  pgid="$(pgid_of "$name")"
  [ -n "$pgid" ] || return 0
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 -- "-$pgid" 2>/dev/null || break
    sleep 1
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  rm -f "$PIDS/$name.pid"
}

stop_all() {
  local name pgid running=()
  # Every group at once (SIGTERM: Celery workers finish nothing new, Airflow shuts down),
  # then SIGKILL whatever is left after 30 s.
  for name in "${COMPONENTS[@]}"; do
    pgid="$(pgid_of "$name")"
    [ -n "$pgid" ] || continue
    kill -TERM -- "-$pgid" 2>/dev/null || true
    running+=("$name")
  done
  for _ in $(seq 1 30); do
    local left=0
    for name in "${running[@]}"; do
      kill -0 -- "-$(pgid_of "$name")" 2>/dev/null && left=1
    done
    [ "$left" = 0 ] && break
    sleep 1
  done
  for name in "${running[@]}"; do
    kill -KILL -- "-$(pgid_of "$name")" 2>/dev/null || true
    rm -f "$PIDS/$name.pid"
    echo "stopped $name"
  done
}

# The databases and Redis keys of this stack: create (fresh) or drop. Prints nothing.
stack_storage() {
  "$PY" - "$1" <<'PY'
import os, sys
import psycopg, redis

action = sys.argv[1]
name = os.environ["TRIBUTARY_STACK_NAME"]
with psycopg.connect(os.environ["TRIBUTARY_STACK_PG_URL"] + "/postgres", autocommit=True) as pg:
    for db in (f"{name}_airflow", f"{name}_catalog"):
        pg.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        if action == "create":
            pg.execute(f'CREATE DATABASE "{db}"')
broker = redis.Redis.from_url(os.environ["TRIBUTARY_STACK_REDIS_URL"])
stale = list(broker.scan_iter(match=f"{name}:*", count=1000))
if stale:
    broker.delete(*stale)
PY
}

# Every setting of the stack, computed once per start and kept in env.sh.
write_env() {
  local lanes name lane_queue lane_queues pg_host
  name="${TRIBUTARY_STACK_NAME:-tributary_stack_$(printf %s "$STACK" | cksum | cut -d' ' -f1)}"
  lanes="${TRIBUTARY_LANES:-$DEFAULT_LANES}"
  lane_queue="$("$PY" -c 'import json, sys
lanes = json.loads(sys.argv[1])
print(next((l["queue"] for l in lanes.values() if l.get("queue")), ""))' "$lanes")"
  if [ -z "$lane_queue" ]; then
    echo "TRIBUTARY_LANES defines no lane with a queue: the lane worker needs one" >&2
    exit 2
  fi
  lane_queues="${TRIBUTARY_STACK_LANE_QUEUES:-$lane_queue,default}"
  local pg="${TRIBUTARY_STACK_PG_URL:-postgresql://postgres@127.0.0.1:5432}"
  pg="${pg%/}"
  pg_host="${pg#postgresql://}"
  local port="${TRIBUTARY_STACK_PORT:-8080}"
  local secrets
  secrets="$("$PY" -c 'import secrets
from cryptography.fernet import Fernet
print(secrets.token_urlsafe(32), Fernet.generate_key().decode())')"
  local home="$STACK/airflow"
  {
    echo "# The environment of the stack started by scripts/stack.sh on $(date -u +%FT%TZ)."
    echo "# source it to run airflow and tributary against this stack."
    printf 'export %s=%q\n' \
      TRIBUTARY_STACK_DIR "$STACK" \
      TRIBUTARY_STACK_NAME "$name" \
      TRIBUTARY_STACK_PG_URL "$pg" \
      TRIBUTARY_STACK_REDIS_URL "${TRIBUTARY_STACK_REDIS_URL:-redis://127.0.0.1:6379/1}" \
      TRIBUTARY_STACK_PORT "$port" \
      TRIBUTARY_STACK_WORKER_LOG_PORT "${TRIBUTARY_STACK_WORKER_LOG_PORT:-8793}" \
      TRIBUTARY_STACK_LANE_WORKER_LOG_PORT "${TRIBUTARY_STACK_LANE_WORKER_LOG_PORT:-8795}" \
      TRIBUTARY_STACK_LANE_QUEUES "$lane_queues" \
      TRIBUTARY_STACK_LANE_SLOTS "${TRIBUTARY_STACK_LANE_SLOTS:-4}" \
      TRIBUTARY_STACK_CONCURRENCY "${TRIBUTARY_STACK_CONCURRENCY:-4}" \
      PATH "$REPO/.venv/bin:$PATH" \
      AIRFLOW_HOME "$home" \
      AIRFLOW__CORE__DAGS_FOLDER "$REPO/dags" \
      AIRFLOW__CORE__PLUGINS_FOLDER "$REPO/plugins" \
      AIRFLOW__CORE__LOAD_EXAMPLES False \
      AIRFLOW__CORE__EXECUTOR CeleryExecutor \
      AIRFLOW__CORE__FERNET_KEY "${secrets#* }" \
      AIRFLOW__API_AUTH__JWT_SECRET "${secrets%% *}" \
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN "postgresql+psycopg://$pg_host/${name}_airflow" \
      AIRFLOW__CELERY__BROKER_URL "${TRIBUTARY_STACK_REDIS_URL:-redis://127.0.0.1:6379/1}" \
      AIRFLOW__CELERY__RESULT_BACKEND "db+postgresql+psycopg://$pg_host/${name}_airflow" \
      AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX "$name:" \
      AIRFLOW__API__HOST 127.0.0.1 \
      AIRFLOW__API__PORT "$port" \
      AIRFLOW__API__WORKERS "${TRIBUTARY_STACK_API_WORKERS:-2}" \
      AIRFLOW__API__BASE_URL "http://localhost:$port" \
      AIRFLOW__CORE__EXECUTION_API_SERVER_URL "http://localhost:$port/execution/" \
      AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT "${TRIBUTARY_STACK_TRIGGER_LOG_PORT:-8794}" \
      AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS "admin:admin" \
      AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE "$home/passwords.json" \
      AIRFLOW_CONN_TRIBUTARY_CATALOG "postgres://$pg_host/${name}_catalog" \
      TRIBUTARY_LANES "$lanes" \
      TRIBUTARY_AIRFLOW_URL "http://localhost:$port" \
      TRIBUTARY_AIRFLOW_USER admin \
      TRIBUTARY_AIRFLOW_PASSWORD admin
    # Surviving a lost worker or scheduler (README, "The production stack"). Each can be
    # overridden by setting it before `start`.
    printf 'export %s=%q\n' \
      AIRFLOW__CELERY__TASK_ACKS_LATE "${AIRFLOW__CELERY__TASK_ACKS_LATE:-True}" \
      AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER "${AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER:-1}" \
      AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT \
      "${AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT:-21600}" \
      AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT \
      "${AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT:-60}" \
      AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT "${AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT:-300}" \
      AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL \
      "${AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL:-30}" \
      AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL \
      "${AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL:-60}"
  } > "$STACK/env.sh"
}

# launch NAME COMMAND...: one process in a process group of its own.
launch() {
  local name="$1"
  shift
  setsid "$@" > "$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/$name.pid"
}

launch_worker() {
  local name="$1" queues="$2" log_port="$3"
  # Each worker: its own log server port, its own Celery node name, and the hostname its
  # task instances record (tributary.tasks.worker_hostname), so one can tell them apart.
  AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$log_port" \
    AIRFLOW__CORE__HOSTNAME_CALLABLE=tributary.tasks.worker_hostname.hostname \
    TRIBUTARY_WORKER_HOSTNAME="$name.$(hostname)" \
    launch "$name" airflow celery worker --queues "$queues" \
    --concurrency "$TRIBUTARY_STACK_CONCURRENCY" \
    --celery-hostname "$name@%h" --pid "$PIDS/$name.celery.pid"
}

start_component() {
  case "$1" in
    api-server | scheduler | dag-processor | triggerer) launch "$1" airflow "$1" ;;
    worker-default) launch_worker worker-default default "$TRIBUTARY_STACK_WORKER_LOG_PORT" ;;
    worker-lane)
      launch_worker worker-lane "$TRIBUTARY_STACK_LANE_QUEUES" "$TRIBUTARY_STACK_LANE_WORKER_LOG_PORT"
      ;;
    *)
      echo "unknown component $1 (one of: ${COMPONENTS[*]})" >&2
      exit 2
      ;;
  esac
}

api() {
  curl -fsS --max-time 10 "$@"
}

wait_ready() {
  local url="http://127.0.0.1:$TRIBUTARY_STACK_PORT" health token
  for _ in $(seq 1 240); do
    for name in "${COMPONENTS[@]}"; do
      if ! alive "$name"; then
        echo "$name exited at start; last lines of $LOGS/$name.log:" >&2
        tail -30 "$LOGS/$name.log" >&2
        exit 1
      fi
    done
    health="$(api "$url/api/v2/monitor/health" 2>/dev/null || true)"
    if [ -n "$health" ] && "$PY" -c 'import json, sys
h = json.loads(sys.argv[1])
sys.exit(any(h.get(k, {}).get("status") != "healthy"
             for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")))' "$health" &&
      grep -q "ready" "$LOGS/worker-default.log" && grep -q "ready" "$LOGS/worker-lane.log"; then
      # Ready for work once Tributary's DAGs are parsed.
      token="$(api -X POST "$url/auth/token" -H 'Content-Type: application/json' \
        -d '{"username": "admin", "password": "admin"}' |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
      if api -H "Authorization: Bearer $token" \
        "$url/api/v2/dags/tributary_initial_sync" > /dev/null 2>&1; then
        return 0
      fi
    fi
    sleep 1
  done
  echo "the stack did not become healthy within 240 s; logs in $LOGS" >&2
  exit 1
}

start() {
  if [ ! -x "$PY" ]; then
    echo "no .venv: run scripts/setup.sh first" >&2
    exit 2
  fi
  stop_all > /dev/null
  write_env
  # shellcheck source=/dev/null
  . "$STACK/env.sh"
  mkdir -p "$PIDS" "$LOGS" "$AIRFLOW_HOME"
  echo '{"admin": "admin"}' > "$AIRFLOW_HOME/passwords.json"

  echo "==> fresh databases ${TRIBUTARY_STACK_NAME}_airflow and _catalog; Redis keys ${TRIBUTARY_STACK_NAME}:*"
  stack_storage create
  echo "==> migrating Airflow's metadata and the catalog"
  airflow db migrate > "$LOGS/migrate.log" 2>&1 || {
    tail -30 "$LOGS/migrate.log" >&2
    exit 1
  }
  tributary db upgrade >> "$LOGS/migrate.log" 2>&1 || {
    tail -30 "$LOGS/migrate.log" >&2
    exit 1
  }
  "$PY" - "$STACK/pools.json" <<'PY'
import json, os, sys
from tributary import config

pools = {
    lane["pool"]: {"slots": int(os.environ["TRIBUTARY_STACK_LANE_SLOTS"]),
                   "description": f"Tributary lane {name}", "include_deferred": False}
    for name, lane in config.lanes().items() if lane.get("pool")
}
json.dump(pools, open(sys.argv[1], "w"))
PY
  airflow pools import "$STACK/pools.json" >> "$LOGS/migrate.log" 2>&1 || {
    tail -30 "$LOGS/migrate.log" >&2
    exit 1
  }

  echo "==> starting Airflow (CeleryExecutor) on port $TRIBUTARY_STACK_PORT; logs in $LOGS"
  for name in "${COMPONENTS[@]}"; do
    start_component "$name"
  done
  wait_ready
  cat <<MSG
Tributary stack is up.
  Airflow UI : http://localhost:$TRIBUTARY_STACK_PORT   (login: admin / admin)
  workers    : worker-default (queue default), worker-lane (queues $TRIBUTARY_STACK_LANE_QUEUES)
  databases  : ${TRIBUTARY_STACK_NAME}_airflow, ${TRIBUTARY_STACK_NAME}_catalog
  use it     : source $STACK/env.sh; tributary dataset list
  stop       : scripts/stack.sh stop [--drop]
MSG
}

status() {
  local down=0 name
  for name in "${COMPONENTS[@]}"; do
    if alive "$name"; then
      echo "$name: running (process group $(pgid_of "$name"))"
    else
      echo "$name: not running"
      down=1
    fi
  done
  if [ -f "$STACK/env.sh" ]; then
    # shellcheck source=/dev/null
    . "$STACK/env.sh"
    echo "health: $(api "http://127.0.0.1:$TRIBUTARY_STACK_PORT/api/v2/monitor/health" 2>&1 || true)"
  fi
  return $((down * 3))
}

case "${1:-}" in
  start) start ;;
  stop)
    stop_all
    if [ "${2:-}" = "--drop" ] && [ -f "$STACK/env.sh" ]; then
      # shellcheck source=/dev/null
      . "$STACK/env.sh"
      stack_storage drop
      echo "dropped ${TRIBUTARY_STACK_NAME}_airflow, ${TRIBUTARY_STACK_NAME}_catalog and its Redis keys"
    fi
    ;;
  status) status ;;
  restart)
    # One process, e.g. after a crash: stopped if still running, started again.
    name="${2:?usage: scripts/stack.sh restart COMPONENT}"
    # shellcheck source=/dev/null
    . "$STACK/env.sh"
    stop_component "$name"
    start_component "$name"
    echo "restarted $name (process group $(pgid_of "$name"))"
    ;;
  *)
    echo "usage: scripts/stack.sh start|stop [--drop]|status|restart COMPONENT" >&2
    exit 2
    ;;
esac
