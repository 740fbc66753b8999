"""``scripts/stack.sh`` driven from Python, for tests/e2e/test_stack.py and bench/stack.py.

Starts the production topology (CeleryExecutor, Redis, PostgreSQL, two workers) in a
folder of its own on free ports, talks to its REST API, kills and restarts its processes,
and fills a moto bucket fast.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import os
import random
import shlex
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.emulators import REPO, free_port

BIN = REPO / ".venv" / "bin"


class Stack:
    """One ``scripts/stack.sh`` stack in ``folder``; ``extra_env`` reaches every process
    (storage connections, Tributary settings)."""

    def __init__(self, folder: Path, extra_env: dict[str, str] | None = None) -> None:
        self.folder = folder
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TRIBUTARY"))}
        self.launch_env = {
            **base,
            "TRIBUTARY_STACK_DIR": str(folder),
            "TRIBUTARY_STACK_PORT": str(free_port()),
            "TRIBUTARY_STACK_WORKER_LOG_PORT": str(free_port()),
            "TRIBUTARY_STACK_LANE_WORKER_LOG_PORT": str(free_port()),
            "TRIBUTARY_STACK_TRIGGER_LOG_PORT": str(free_port()),
            **(extra_env or {}),
        }
        self._token = ""

    # -- processes ---------------------------------------------------------------------

    def script(self, *argv: str, timeout: float = 600) -> str:
        """Run ``scripts/stack.sh ARGV``; its output, or an AssertionError with the logs."""
        result = subprocess.run(
            ["bash", "scripts/stack.sh", *argv],
            cwd=REPO,
            env=self.launch_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode:
            raise AssertionError(
                f"stack.sh {' '.join(argv)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        return result.stdout

    def start(self) -> str:
        return self.script("start")

    def stop(self, drop: bool = True) -> None:
        """Stop every process (and drop the databases): in a session of its own, so that a
        Ctrl-C of the test run does not interrupt the clean-up."""
        subprocess.run(
            ["bash", "scripts/stack.sh", "stop", *(["--drop"] if drop else [])],
            cwd=REPO,
            env=self.launch_env,
            capture_output=True,
            timeout=300,
            start_new_session=True,
        )

    def pgid(self, component: str) -> int:
        return int((self.folder / "pids" / f"{component}.pid").read_text())

    def kill(self, component: str, sig: int = signal.SIGKILL) -> None:
        """Signal a component's whole process group (a worker: the Celery parent, its pool
        processes, the task supervisors and the tasks) — as when its machine dies."""
        os.killpg(self.pgid(component), sig)

    def restart(self, component: str) -> None:
        self.script("restart", component)

    def log(self, component: str, tail: int = 4000) -> str:
        path = self.folder / "logs" / f"{component}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    @property
    def env(self) -> dict[str, str]:
        """The stack's environment (``env.sh``) over the launch environment: what the
        ``airflow`` and ``tributary`` commands need to reach this stack."""
        env = dict(self.launch_env)
        for line in (self.folder / "env.sh").read_text().splitlines():
            if line.startswith("export "):
                key, _, value = shlex.split(line[len("export ") :])[0].partition("=")
                env[key] = value
        return env

    def tributary(self, *argv: str, timeout: float = 900) -> str:
        """Run the ``tributary`` CLI against the stack; its stdout (fails on exit != 0)."""
        result = subprocess.run(
            [str(BIN / "tributary"), *argv],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, (
            f"tributary {' '.join(argv)}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
        return result.stdout

    @property
    def catalog_url(self) -> str:
        return self.env["AIRFLOW_CONN_TRIBUTARY_CATALOG"]

    # -- REST ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['TRIBUTARY_STACK_PORT']}"

    def rest(self, path: str, body: dict | None = None, method: str | None = None) -> dict:
        """One call to Airflow's REST API as admin (a token is fetched once, then again when
        it is refused)."""
        for attempt in range(2):
            if not self._token:
                self._token = self._call("/auth/token", {"username": "admin", "password": "admin"})[
                    "access_token"
                ]
            try:
                return self._call(path, body, method, self._token)
            except urllib.error.HTTPError as exc:
                if exc.code != 401 or attempt:
                    raise
                self._token = ""
        raise AssertionError("unreachable")

    def _call(self, path: str, body=None, method=None, token: str = "") -> dict:
        request = urllib.request.Request(  # noqa: S310 - http on loopback, built here
            self.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return json.load(response)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.rest(f"/api/v2/dags/{dag_id}", {"is_paused": paused}, method="PATCH")

    def dag_runs(self, dag_id: str) -> list[dict]:
        """Every run of ``dag_id``, oldest first."""
        found = self.rest(f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=run_after")
        return found["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """Every task instance of one run (mapped ones each), with ``hostname``, ``pid``,
        ``try_number``, ``state``, ``start_date``, ``end_date``."""
        found, offset = [], 0
        while True:
            page = self.rest(
                f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100&offset={offset}"
            )
            found += page["task_instances"]
            offset += 100
            if offset >= page["total_entries"]:
                return found

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 900) -> dict:
        """The run once it ended (success or failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.rest(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return run
            time.sleep(2)
        raise AssertionError(f"{dag_id} run {run_id} did not end within {timeout} s")


# -- a big bucket, fast ----------------------------------------------------------------------


def s3_client(endpoint: str, pool: int = 32):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fixed test credentials
        region_name="us-east-1",
        config=Config(max_pool_connections=pool, retries={"max_attempts": 8}),
    )


def put_objects(client, bucket: str, objects: dict[str, bytes], threads: int = 32) -> float:
    """Upload ``objects`` (key → bytes) with ``threads`` at once; seconds taken."""
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        futures = [
            pool.submit(client.put_object, Bucket=bucket, Key=key, Body=data)
            for key, data in objects.items()
        ]
        for future in concurrent.futures.as_completed(futures):
            future.result()
    return time.monotonic() - started


def bulk_objects(prefix: str, folders: int, per_folder: int) -> dict[str, bytes]:
    """``folders`` × ``per_folder`` small objects, each with content of its own (so every
    etag differs and a rename is recognisable)."""
    return {
        f"{prefix}f{f:02d}/obj-{i:05d}.bin": f"{f}/{i} tributary stack".encode()
        for f in range(folders)
        for i in range(per_folder)
    }


def jpeg_images(prefix: str, count: int, seed: int = 13) -> dict[str, bytes]:
    """``count`` real JPEG photos (small, each different), ``prefix``img-NNNNN.jpg."""
    from PIL import Image

    rng = random.Random(seed)
    images = {}
    for n in range(count):
        size = (rng.randint(64, 160), rng.randint(48, 120))
        image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
        image.paste(tuple(rng.randrange(256) for _ in range(3)), (0, 0, size[0] // 2, size[1]))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=80)
        images[f"{prefix}img-{n:05d}.jpg"] = out.getvalue()
    return images


def bucket_keys(client, bucket: str, prefix: str) -> set[str]:
    """Every key under ``prefix``, as the raw SDK lists it."""
    keys = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(obj["Key"] for obj in page.get("Contents", []))
    return keys


def wait_for(condition, what: str, timeout: float = 300, every: float = 1.0):
    """``condition()``'s first truthy value, polled; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
