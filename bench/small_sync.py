"""How long a small initial sync takes end to end, the way the demo runs it.

Starts ``airflow standalone`` (SQLite, LocalExecutor) on free ports over a 6-file local
folder, then times ``tributary dataset create NAME --driver D --wait`` a few times (a new
dataset each time, so each is a full initial sync). What it measures is Airflow's fixed
cost per run (scheduling, one process per task instance), which is the whole time of a
small sync. ``--repo`` points at another checkout (its ``dags/`` and ``include/``), so a
before/after pair runs back to back in one session on the same machine load.

    .venv/bin/python bench/small_sync.py                   # this checkout
    .venv/bin/python bench/small_sync.py --repo /work/main # the code before a change
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_BIN = HERE.parent / ".venv" / "bin"
# The demo's layout (camera/day), six files: the old planner made one partition per day
# folder plus one, 10 mapped listing tasks, as issue 14 saw on the demo. Three day folders
# are still empty (a camera that has not uploaded yet).
FILES = {
    f"{camera}/2026-11-2{day}/1.jpg": f"{camera} {day}".encode()
    for camera in ("cam-north", "cam-south", "cam-east")
    for day in (0, 1)
}
EMPTY_FOLDERS = [f"{camera}/2026-11-22" for camera in ("cam-north", "cam-south", "cam-east")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(repo: Path, work: Path) -> dict[str, str]:
    """demo.sh's environment, on free ports, with ``repo``'s code first on the path."""
    port = free_port()
    home = work / "airflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TRIBUTARY"))}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env['PATH']}",
        # Ahead of the editable install's .pth: the checkout under test supplies the code.
        PYTHONPATH=os.pathsep.join([str(repo / "include"), str(repo)]),
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(repo / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(repo / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS="tributary.config.AIRFLOW_SQLITE_CONNECT_ARGS",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__BASE_URL=f"http://localhost:{port}",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://localhost:{port}/execution/",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        TRIBUTARY_AIRFLOW_URL=f"http://localhost:{port}",
        TRIBUTARY_AIRFLOW_USER="admin",
        TRIBUTARY_AIRFLOW_PASSWORD="admin",  # noqa: S106 - the bench's throwaway Airflow
    )
    return env


def wait_healthy(env: dict[str, str], airflow: subprocess.Popen, timeout: float = 180) -> None:
    url = f"{env['TRIBUTARY_AIRFLOW_URL']}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if airflow.poll() is not None:
            raise SystemExit("airflow standalone exited; see its log")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - http only
                health = json.load(response)
            if health.get("scheduler", {}).get("status") == "healthy":
                return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit("airflow standalone did not become healthy")


def tributary(env: dict[str, str], *argv: str) -> str:
    result = subprocess.run(
        [str(VENV_BIN / "tributary"), *argv], env=env, capture_output=True, text=True
    )
    # `--wait` printed "failed" with exit code 0 before issue 14's fix: read the output too.
    if result.returncode or ": failed" in result.stdout:
        raise SystemExit(f"tributary {' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def rest(
    env: dict[str, str], path: str, body: dict | None = None, token: str = "", method: str = ""
) -> dict:
    """One call to Airflow's REST API (the run's own start and end, beside the CLI's)."""
    request = urllib.request.Request(  # noqa: S310 - an http URL built here
        env["TRIBUTARY_AIRFLOW_URL"] + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method=method or None,
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http, ours
        return json.load(response)


def login_token(env: dict[str, str]) -> str:
    login = {"username": "admin", "password": env["TRIBUTARY_AIRFLOW_PASSWORD"]}
    return rest(env, "/auth/token", login)["access_token"]


def unpause_initial_sync(env: dict[str, str], timeout: float = 120) -> None:
    """As demo.sh does: the CLI no longer unpauses DAGs itself (issue 14, item 3)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            path = "/api/v2/dags/tributary_initial_sync"
            rest(env, path, {"is_paused": False}, login_token(env), method="PATCH")
            return
        except urllib.error.HTTPError:  # not parsed yet
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def airflow_side(env: dict[str, str]) -> list[tuple[float, int]]:
    """Per initial-sync run, oldest first: seconds from queued to end, task instances."""
    bearer = login_token(env)
    base = "/api/v2/dags/tributary_initial_sync/dagRuns"
    runs = rest(env, base, token=bearer)["dag_runs"]
    found = []
    for run in sorted(runs, key=lambda r: r["queued_at"]):
        queued, ended = (dt.datetime.fromisoformat(run[k]) for k in ("queued_at", "end_date"))
        tasks = rest(env, f"{base}/{run['dag_run_id']}/taskInstances", token=bearer)
        found.append(((ended - queued).total_seconds(), tasks["total_entries"]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=HERE.parent, help="checkout to measure")
    parser.add_argument("--runs", type=int, default=3, help="initial syncs to time")
    args = parser.parse_args()
    repo = args.repo.resolve()
    work = HERE / ".work" / "small_sync"
    shutil.rmtree(work, ignore_errors=True)
    bucket = work / "bucket"
    for key, data in FILES.items():
        (bucket / key).parent.mkdir(parents=True, exist_ok=True)
        (bucket / key).write_bytes(data)
    for folder in EMPTY_FOLDERS:
        (bucket / folder).mkdir(parents=True)
    env = environment(repo, work)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True)
    Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).write_text('{"admin": "admin"}')
    subprocess.run(
        [str(VENV_BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True
    )
    with open(work / "airflow.log", "w") as log:
        airflow = subprocess.Popen(
            [str(VENV_BIN / "airflow"), "standalone"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped by that id below
        )
    try:
        wait_healthy(env, airflow)
        unpause_initial_sync(env)
        tributary(env, "driver", "create", "small", "--provider", "local", "--bucket", str(bucket))
        times = []
        for n in range(args.runs):
            started = time.monotonic()
            tributary(env, "dataset", "create", f"small-{n}", "--driver", "small", "--wait")
            times.append(time.monotonic() - started)
            print(f"run {n + 1}: dataset create --wait of {len(FILES)} files: {times[-1]:.1f} s")
        for n, (seconds, tasks) in enumerate(airflow_side(env), 1):
            print(f"run {n}: in Airflow, queued to end: {seconds:.1f} s, {tasks} task instances")
        load = os.getloadavg()[0]
        print(
            f"{repo}: median {statistics.median(times):.1f} s, best {min(times):.1f} s "
            f"over {len(times)} runs (load average {load:.1f} on {os.cpu_count()} cores)"
        )
    finally:
        os.killpg(airflow.pid, signal.SIGTERM)
        try:
            airflow.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(airflow.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
