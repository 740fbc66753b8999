"""Uploads through Tributary's REST API against the plain baseline, in the same run.

Starts moto (S3) and a real ``airflow api-server`` (which mounts Tributary's API) on free
ports, makes two datasets — one on a moto S3 driver, one in the internal storage (a local
folder) — and uploads into each:

- many small files (default 1,000 of 1 MB) with ``tributary upload --jobs N`` (the CLI,
  a subprocess) against boto3's ``upload_file`` (its transfer manager) in a pool of N
  threads straight into moto, or, for the local folder, a pool of N threads copying;
- one big file (default 2 GB) the same way (boto3 with ``max_concurrency=N``);
- the same small files again: all skipped, how long that takes;
- tiny files (default 200 of 1 KB) one at a time with the Python client against one
  ``put_object`` (or a file write) each: the API's overhead per file.

It prints throughput ratios (Tributary / baseline: the target is ≥ 0.9), the peak RSS
of the CLI process and of the API server during the big upload (target ≤ 150 MB; the
server's figure is its growth over its idle size — Airflow's own API server is several
hundred MB before any upload), and writes everything to ``bench/.work/uploads/results.json``.

    .venv/bin/python bench/uploads.py                       # the issue's sizes
    .venv/bin/python bench/uploads.py --big-mb 256 --small-files 200   # a quick run

Needs the API (``include/tributary/api``) and the uploads use case; generated files are
kept in ``bench/.work/uploads/data`` and reused.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV_BIN = REPO / ".venv" / "bin"
WORK = HERE / ".work" / "uploads"
MB = 1_000_000
BUCKET = "bench-uploads"

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "include"))


# -- data ----------------------------------------------------------------------------------


def make_files(folder: Path, count: int, size: int) -> Path:
    """``count`` files of ``size`` random bytes in ``folder`` (kept if already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        path = folder / f"{n:05d}.bin"
        if not path.exists() or path.stat().st_size != size:
            path.write_bytes(os.urandom(size))
    return folder


def make_big_file(path: Path, size: int) -> Path:
    """One file of ``size`` bytes: 8 MB of random bytes repeated (hashing costs the same
    as for any content; generating it costs no more than writing it)."""
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(8 * 1024 * 1024)
    with path.open("wb") as out:
        left = size
        while left:
            out.write(block[: min(left, len(block))])
            left -= min(left, len(block))
    return path


# -- the servers ---------------------------------------------------------------------------


def free_port() -> int:
    from tests.emulators import free_port as port

    return port()


def airflow_environment(moto_endpoint: str, workers: int, catalog_url: str) -> dict[str, str]:
    """A throwaway Airflow home with the simple auth manager, the catalog in SQLite and
    the internal storage in the work folder; moto's connection as ``bench_s3``."""
    port = free_port()
    home = WORK / "airflow"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TRIBUTARY"))}
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": "us-east-1", "endpoint_url": moto_endpoint},
    }
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env['PATH']}",
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__WORKERS=str(workers),
        AIRFLOW__API__BASE_URL=f"http://localhost:{port}",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://localhost:{port}/execution/",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        AIRFLOW_CONN_BENCH_S3=json.dumps(conn),
        TRIBUTARY_STORAGE_ROOT=str(WORK / "internal-storage"),
        TRIBUTARY_CATALOG_URL=catalog_url,
        TRIBUTARY_AIRFLOW_URL=f"http://127.0.0.1:{port}",
        TRIBUTARY_AIRFLOW_USER="admin",
        TRIBUTARY_AIRFLOW_PASSWORD="admin",  # noqa: S106 - the bench's throwaway Airflow
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's fixed test credentials
    )
    return env


def start_api_server(env: dict[str, str]) -> subprocess.Popen:
    """``airflow api-server`` alone (no scheduler: nothing else competes for the cores)."""
    home = Path(env["AIRFLOW_HOME"])
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).write_text('{"admin": "admin"}')
    subprocess.run(
        [str(VENV_BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True
    )
    log = (WORK / "api-server.log").open("w")
    server = subprocess.Popen(
        [str(VENV_BIN / "airflow"), "api-server"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # stopped by its process group id
    )
    url = f"{env['TRIBUTARY_AIRFLOW_URL']}/api/v2/monitor/health"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"airflow api-server exited; see {WORK / 'api-server.log'}")
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 - http, ours
                return server
        except OSError:
            time.sleep(1)
    stop(server)
    raise SystemExit("airflow api-server did not answer within 240 s")


_LIVE_SERVER = """
import sys, time
sys.path[:0] = [{repo!r}, {include!r}]
from tributary.catalog import Catalog
from tests.live_api import start
live = start(Catalog({catalog!r}))
print(live.url, flush=True)
while True:
    time.sleep(3600)
"""


def start_uvicorn_server(env: dict[str, str]) -> subprocess.Popen:
    """Tributary's API alone on uvicorn (``tests/live_api.py``: the real app, a test
    login) in a process of its own, as the Airflow API server would mount it."""
    code = _LIVE_SERVER.format(
        repo=str(REPO), include=str(REPO / "include"), catalog=env["TRIBUTARY_CATALOG_URL"]
    )
    log = (WORK / "api-server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
    )
    url = server.stdout.readline().strip()
    if not url:
        raise SystemExit(f"the uvicorn API server did not start; see {WORK / 'api-server.log'}")
    from tests.live_api import USERS

    env.update(
        TRIBUTARY_AIRFLOW_URL=url,
        TRIBUTARY_AIRFLOW_USER="admin",
        TRIBUTARY_AIRFLOW_PASSWORD=USERS["admin"][0],
    )
    return server


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def tributary(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "tributary"), *argv], env=env, capture_output=True, text=True
    )


# -- measuring -----------------------------------------------------------------------------


class PeakRss:
    """Samples the RSS of processes (a pid and its children) every 50 ms; the peak of
    the largest one."""

    def __init__(self, pid: int, *, children: bool = True) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.children = children
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        import psutil

        largest = 0
        try:
            others = self.root.children(recursive=True) if self.children else []
            for proc in [self.root, *others]:
                try:
                    largest = max(largest, proc.memory_info().rss)
                except psutil.Error:
                    continue
        except psutil.Error:
            pass
        return largest

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its living children so far."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


class CpuSeconds:
    """CPU seconds spent, between enter and exit, by the servers (each with its children)
    and by the client: this process (``client="self"``, the in-process baselines) or the
    subprocesses it waited for (``client="children"``, the CLI). On a shared, loaded
    machine, wall time says how much of the cores each side got; CPU time says what
    each byte costs."""

    def __init__(self, servers: dict[str, int], client: str) -> None:
        self.servers = servers
        self.who = resource.RUSAGE_SELF if client == "self" else resource.RUSAGE_CHILDREN
        self.spent: dict[str, float] = {}

    def _client(self) -> float:
        usage = resource.getrusage(self.who)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> CpuSeconds:
        self._before = {name: tree_cpu(pid) for name, pid in self.servers.items()}
        self._client_before = self._client()
        return self

    def __exit__(self, *exc) -> None:
        self.spent = {"client": self._client() - self._client_before}
        for name, pid in self.servers.items():
            self.spent[name] = tree_cpu(pid) - self._before[name]


@contextlib.contextmanager
def profiled(pid: int, name: str | None):
    """With a ``name``, py-spy samples process ``pid`` meanwhile; its hottest functions
    are written to ``WORK/profile-<name>.txt`` (and the raw stacks beside it)."""
    if name is None:
        yield
        return
    raw = WORK / f"profile-{name}.raw"
    spy = subprocess.Popen(
        [str(VENV_BIN / "py-spy"), "record", "-p", str(pid), "-r", "100", "-f", "raw",
         "-o", str(raw), "--nonblocking", "-d", "3600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled, then exits
        spy.wait(timeout=60)
    (WORK / f"profile-{name}.txt").write_text(hottest(raw))


def hottest(raw: Path, top: int = 30) -> str:
    """Functions by the share of samples they appear in (inclusive), from py-spy's
    collapsed stacks."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        for frame in set(stack.split(";")):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]
    return "\n".join(f"{100 * n / max(total, 1):5.1f}%  {frame}" for frame, n in ranked) + "\n"


def timed_cli_upload(
    env: dict[str, str],
    servers: dict[str, int],
    dataset: str,
    paths: list[Path],
    to: str,
    jobs: int,
    profile: str | None = None,
) -> dict:
    """``tributary upload`` in a subprocess: seconds, statuses, CPU seconds per process,
    peak RSS of the CLI and of the API server (before and during)."""
    server_rss = PeakRss(servers["api"])
    idle = server_rss.sample()
    argv = [str(VENV_BIN / "tributary"), "upload", dataset, *map(str, paths)]
    argv += ["--to", to, "--jobs", str(jobs), "--json"]
    started = time.monotonic()
    with (
        server_rss,
        CpuSeconds(servers, client="children") as cpu,
        profiled(servers["api"], profile),
    ):
        cli = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with PeakRss(cli.pid) as cli_rss:
            out, err = cli.communicate()
    seconds = time.monotonic() - started
    statuses: dict[str, int] = {}
    for line in out.decode().splitlines():
        status = json.loads(line)["status"]
        statuses[status] = statuses.get(status, 0) + 1
    if cli.returncode and not statuses:
        raise SystemExit(f"tributary upload failed ({cli.returncode}): {err.decode()[-2000:]}")
    # A failed file is reported with the figures (the first few lines), not hidden.
    errors = [line for line in err.decode().splitlines() if line.startswith("error: ")]
    return {
        "errors": errors[:3],
        "seconds": seconds,
        "statuses": statuses,
        "cpu_seconds": cpu.spent,
        "cli_peak_rss_mb": cli_rss.peak / MB,
        "server_idle_rss_mb": idle / MB,
        "server_peak_rss_mb": server_rss.peak / MB,
    }


def s3_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fixed test credentials
    )


def baseline_s3(endpoint: str, files: list[Path], prefix: str, jobs: int) -> float:
    """boto3's transfer manager: ``upload_file`` per file in a pool of ``jobs`` threads
    (one file: its own ``max_concurrency=jobs`` multipart upload)."""
    from boto3.s3.transfer import TransferConfig

    client = s3_client(endpoint)
    config = TransferConfig(max_concurrency=jobs)
    started = time.monotonic()
    if len(files) == 1:
        client.upload_file(str(files[0]), BUCKET, f"{prefix}/{files[0].name}", Config=config)
    else:
        with ThreadPoolExecutor(jobs) as pool:
            list(
                pool.map(
                    lambda f: client.upload_file(
                        str(f), BUCKET, f"{prefix}/{f.name}", Config=config
                    ),
                    files,
                )
            )
    return time.monotonic() - started


def drop_big_objects(endpoint: str, size: int) -> None:
    """Delete the big file's copies from moto, which keeps objects in memory."""
    client = s3_client(endpoint)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for entry in page.get("Contents", []):
            if entry["Size"] >= size:
                client.delete_object(Bucket=BUCKET, Key=entry["Key"])


def baseline_local(files: list[Path], target: Path, jobs: int) -> float:
    """A plain copy into a local folder, ``jobs`` files at a time."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    started = time.monotonic()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda f: shutil.copyfile(f, target / f.name), files))
    return time.monotonic() - started


def tiny_baseline(target: str, files: list[Path], endpoint: str) -> float:
    """Milliseconds per file, one at a time: one ``put_object`` (S3) or a file copy."""
    if target == "s3":
        s3 = s3_client(endpoint)
        started = time.monotonic()
        for n, local in enumerate(files):
            s3.put_object(Bucket=BUCKET, Key=f"tiny-baseline/{n:05d}.bin", Body=local.read_bytes())
    else:
        out = WORK / "tiny-baseline"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        started = time.monotonic()
        for local in files:
            shutil.copyfile(local, out / local.name)
    return (time.monotonic() - started) * 1000 / len(files)


def tiny_overhead(env: dict[str, str], target: str, files: list[Path], endpoint: str) -> dict:
    """Per-file milliseconds, one at a time: the Python client through the API against a
    direct ``put_object`` (S3) or a file write (local)."""
    client = _client(env)
    dataset = f"bench-{target}"
    client.upload_file(dataset, files[0], "/tiny-warmup/0.bin")  # the login, a warm pool
    started = time.monotonic()
    for n, local in enumerate(files):
        client.upload_file(dataset, local, f"/tiny-{int(started)}/{n:05d}.bin")
    api_ms = (time.monotonic() - started) * 1000 / len(files)
    client.close()
    base_ms = tiny_baseline(target, files, endpoint)
    return {"tributary_ms": api_ms, "baseline_ms": base_ms, "overhead_ms": api_ms - base_ms}


# -- the use case in-process (no HTTP) -------------------------------------------------------


class UseCase:
    """``tributary.usecases.uploads.upload`` called in this process (no HTTP, no CLI):
    the cost of the use case itself, the catalog in SQLite as the API server has it."""

    def __init__(self, endpoint: str, catalog_url: str) -> None:
        conn = {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"region_name": "us-east-1", "endpoint_url": endpoint},
        }
        os.environ["AIRFLOW_CONN_BENCH_S3"] = json.dumps(conn)
        os.environ["TRIBUTARY_STORAGE_ROOT"] = str(WORK / "internal-storage")
        os.environ["TRIBUTARY_CATALOG_URL"] = catalog_url
        shutil.rmtree(WORK / "internal-storage", ignore_errors=True)
        from tributary.catalog import Catalog, datasets, drivers

        self.catalog = Catalog(catalog_url)
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        with self.catalog.begin() as conn_:
            drivers.create(conn_, name="bench-s3", provider="s3", bucket=BUCKET, conn_id="bench_s3")
            datasets.create(conn_, name="bench-s3", driver_name="bench-s3")
            datasets.create(conn_, name="bench-local")
        # A long-lived server: the SDK client built (Airflow imported) before any timing.
        warmup = WORK / "data" / "warmup.bin"
        warmup.parent.mkdir(parents=True, exist_ok=True)
        warmup.write_bytes(b"warm")
        for dataset in ("bench-s3", "bench-local"):
            self.one(dataset, warmup, "/warmup.bin")

    def one(self, dataset: str, local: Path, path: str) -> str:
        from tributary.usecases.uploads import upload

        with local.open("rb") as body:
            done = upload(self.catalog, dataset, path, body, size=local.stat().st_size)
        return done["status"]

    def timed(self, dataset: str, files: list[Path], to: str, jobs: int, servers) -> dict:
        """Upload ``files`` ``jobs`` at a time: seconds, statuses, CPU, peak RSS of this
        process (its growth over the idle size)."""
        rss = PeakRss(os.getpid(), children=False)  # moto is a child: not counted
        idle = rss.sample()
        statuses: dict[str, int] = {}
        errors: list[str] = []

        def send(local: Path) -> None:
            try:
                status = self.one(dataset, local, f"{to}{local.name}")
            except Exception as exc:  # reported beside the figures, never hidden
                status = "error"
                errors.append(f"error: {local.name}: {type(exc).__name__}: {exc}")
            statuses[status] = statuses.get(status, 0) + 1

        started = time.monotonic()
        with rss, CpuSeconds(servers, client="self") as cpu:
            if len(files) == 1:
                send(files[0])
            else:
                with ThreadPoolExecutor(jobs) as pool:
                    list(pool.map(send, files))
        return {
            "errors": errors[:3],
            "seconds": time.monotonic() - started,
            "statuses": statuses,
            "cpu_seconds": cpu.spent,
            "cli_peak_rss_mb": rss.peak / MB,
            "server_idle_rss_mb": idle / MB,
            "server_peak_rss_mb": rss.peak / MB,
        }

    def tiny(self, target: str, files: list[Path], endpoint: str) -> dict:
        dataset = f"bench-{target}"
        self.one(dataset, files[0], "/tiny-warmup/0.bin")
        started = time.monotonic()
        for n, local in enumerate(files):
            self.one(dataset, local, f"/tiny-{int(started)}/{n:05d}.bin")
        ours_ms = (time.monotonic() - started) * 1000 / len(files)
        base_ms = tiny_baseline(target, files, endpoint)
        return {"tributary_ms": ours_ms, "baseline_ms": base_ms, "overhead_ms": ours_ms - base_ms}


def run_usecase(args, usecase: UseCase, servers, endpoint, small, big) -> list[dict]:
    """Every phase of ``run_target``, with the use case called in-process."""
    found_all = []
    for target in args.targets.split(","):
        dataset = f"bench-{target}"
        stamp = int(time.time())
        found: dict = {"target": target}
        base_seconds, base_cpu = baseline(target, endpoint, small, "small", args.jobs, servers)
        ours = usecase.timed(dataset, small, f"/run-{stamp}/", args.jobs, servers)
        small_bytes = sum(f.stat().st_size for f in small)
        found["small"] = {
            **compared(ours, base_seconds, base_cpu, small_bytes),
            "files": len(small),
        }
        again = usecase.timed(dataset, small, f"/run-{stamp}/", args.jobs, servers)
        found["small_again"] = {"seconds": again["seconds"], "statuses": again["statuses"]}
        if not args.skip_big:
            base_seconds, base_cpu = baseline(target, endpoint, [big], "big", args.jobs, servers)
            ours = usecase.timed(dataset, [big], f"/big-{stamp}/", args.jobs, servers)
            found["big"] = compared(ours, base_seconds, base_cpu, big.stat().st_size)
            if target == "s3":
                drop_big_objects(endpoint, big.stat().st_size)
        tiny = make_files(WORK / "data" / f"tiny-{args.tiny_files}", args.tiny_files, 1000)
        found["tiny"] = usecase.tiny(target, sorted(tiny.iterdir()), endpoint)
        found_all.append(found)
    return found_all


# -- the run -------------------------------------------------------------------------------


def _client(env: dict[str, str]):
    from tributary.client import Client

    return Client(
        env["TRIBUTARY_AIRFLOW_URL"],
        user=env["TRIBUTARY_AIRFLOW_USER"],
        password=env["TRIBUTARY_AIRFLOW_PASSWORD"],
    )


def prepare_datasets(env: dict[str, str], endpoint: str) -> None:
    s3_client(endpoint).create_bucket(Bucket=BUCKET)
    made = tributary(
        env, "driver", "create", "bench-s3", "--provider", "s3", "--bucket", BUCKET,
        "--conn-id", "bench_s3",
    )  # fmt: skip
    if made.returncode:
        raise SystemExit(f"driver create failed: {made.stderr.strip()}")
    with _client(env) as client:
        client.create_dataset("bench-local", sync=False)
        client.create_dataset("bench-s3", driver="bench-s3", sync=False)
        # A long-lived server: its SDK clients built before any timing.
        warmup = WORK / "data" / "warmup.bin"
        warmup.parent.mkdir(parents=True, exist_ok=True)
        warmup.write_bytes(b"warm")
        for dataset in ("bench-local", "bench-s3"):
            client.upload_file(dataset, warmup, "/warmup.bin")


def baseline(target: str, endpoint: str, files: list[Path], name: str, jobs: int, servers):
    """The baseline upload of ``files``: seconds and CPU seconds per process."""
    with CpuSeconds({"moto": servers["moto"]}, client="self") as cpu:
        if target == "s3":
            seconds = baseline_s3(endpoint, files, f"baseline-{int(time.time())}/{name}", jobs)
        else:
            seconds = baseline_local(files, WORK / "baseline-local" / name, jobs)
    return seconds, cpu.spent


def compared(ours: dict, base_seconds: float, base_cpu: dict, size: int) -> dict:
    """Tributary's run beside the baseline's: throughputs, their ratio, CPU per GB."""
    return {
        **ours,
        "bytes": size,
        "baseline_seconds": base_seconds,
        "baseline_cpu_seconds": base_cpu,
        "tributary_mb_s": size / MB / ours["seconds"],
        "baseline_mb_s": size / MB / base_seconds,
        "ratio": base_seconds / ours["seconds"],
        "tributary_cpu_s_per_gb": sum(ours["cpu_seconds"].values()) / (size / 1e9),
        "baseline_cpu_s_per_gb": sum(base_cpu.values()) / (size / 1e9),
    }


def run_target(target: str, args, env, servers, endpoint, small: list[Path], big: Path) -> dict:
    dataset = f"bench-{target}"
    stamp = int(time.time())
    found: dict = {"target": target}
    base_seconds, base_cpu = baseline(target, endpoint, small, "small", args.jobs, servers)
    folder = [small[0].parent]
    profile = f"api-{target}-small" if args.profile else None
    ours = timed_cli_upload(
        env, servers, dataset, folder, f"/run-{stamp}/", args.jobs, profile=profile
    )
    small_bytes = sum(f.stat().st_size for f in small)
    found["small"] = {**compared(ours, base_seconds, base_cpu, small_bytes), "files": len(small)}
    again = timed_cli_upload(env, servers, dataset, folder, f"/run-{stamp}/", args.jobs)
    found["small_again"] = {"seconds": again["seconds"], "statuses": again["statuses"]}
    if not args.skip_big:
        # One stream each: boto3 splits the file in parts sent max_concurrency at a time.
        base_seconds, base_cpu = baseline(target, endpoint, [big], "big", args.jobs, servers)
        ours = timed_cli_upload(env, servers, dataset, [big], f"/big-{stamp}/", args.jobs)
        found["big"] = compared(ours, base_seconds, base_cpu, big.stat().st_size)
        if target == "s3":
            drop_big_objects(endpoint, big.stat().st_size)
    tiny = make_files(WORK / "data" / f"tiny-{args.tiny_files}", args.tiny_files, 1000)
    found["tiny"] = tiny_overhead(env, target, sorted(tiny.iterdir()), endpoint)
    return found


def _cpu(spent: dict) -> str:
    return " + ".join(f"{name} {seconds:.1f}" for name, seconds in spent.items())


def report(results: dict) -> None:
    print(f"\n{results['date']} · {results['machine']} · jobs={results['jobs']}")
    for found in results["targets"]:
        target = found["target"]
        for phase in ("small", "big"):
            if phase not in found:
                continue
            run = found[phase]
            what = f"{run['files']} files" if phase == "small" else "one file"
            print(
                f"{target:5} {what} ({run['bytes'] / MB:.0f} MB): Tributary "
                f"{run['tributary_mb_s']:.1f} MB/s, baseline {run['baseline_mb_s']:.1f} MB/s, "
                f"ratio {run['ratio']:.2f}"
            )
            print(
                f"      CPU s: Tributary {_cpu(run['cpu_seconds'])} "
                f"({run['tributary_cpu_s_per_gb']:.1f} s/GB); baseline "
                f"{_cpu(run['baseline_cpu_seconds'])} ({run['baseline_cpu_s_per_gb']:.1f} s/GB)"
            )
            for line in run["errors"]:
                print(f"      {line}")
            print(
                f"      statuses {run['statuses']}; peak RSS: "
                f"CLI {run['cli_peak_rss_mb']:.0f} MB, API server "
                f"{run['server_peak_rss_mb']:.0f} MB (idle {run['server_idle_rss_mb']:.0f} MB, "
                f"+{run['server_peak_rss_mb'] - run['server_idle_rss_mb']:.0f} MB)"
            )
        again = found["small_again"]
        print(f"{target:5} the same files again: {again['seconds']:.1f} s, {again['statuses']}")
        tiny = found["tiny"]
        print(
            f"{target:5} 1 KB files one at a time: Tributary {tiny['tributary_ms']:.1f} ms/file, "
            f"baseline {tiny['baseline_ms']:.1f} ms/file, overhead {tiny['overhead_ms']:.1f} ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-files", type=int, default=1000)
    parser.add_argument("--small-mb", type=float, default=1.0, help="size of each small file")
    parser.add_argument("--big-mb", type=int, default=2000, help="size of the big file (MB)")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--tiny-files", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=4, help="concurrency, both sides")
    parser.add_argument("--api-workers", type=int, default=1, help="API server workers")
    parser.add_argument("--targets", default="s3,local")
    parser.add_argument(
        "--level",
        choices=("api", "usecase"),
        default="api",
        help="api: the CLI through an airflow api-server; usecase: upload() in-process",
    )
    parser.add_argument(
        "--server",
        choices=("airflow", "uvicorn"),
        default="airflow",
        help="api level: airflow api-server (needs the plugin) or the app alone on uvicorn",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the API server during the small files"
    )
    parser.add_argument(
        "--catalog-url", help="an empty catalog database (default: a fresh SQLite file)"
    )
    args = parser.parse_args()

    from tests import emulators

    WORK.mkdir(parents=True, exist_ok=True)
    size = int(args.small_mb * MB)
    small_folder = make_files(
        WORK / "data" / f"small-{args.small_files}x{size}", args.small_files, size
    )
    small = sorted(small_folder.iterdir())
    big = make_big_file(WORK / "data" / "big" / "big.bin", args.big_mb * MB)
    moto = emulators.start_moto(WORK / "logs")
    server = None
    try:
        catalog_url = args.catalog_url or f"sqlite:///{WORK / 'catalog.db'}"
        if catalog_url.startswith("sqlite:///"):
            Path(catalog_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        results = {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.1f}",
            "jobs": args.jobs,
            "args": vars(args),
            "targets": [],
        }
        if args.level == "usecase":
            os.environ["TRIBUTARY_UPLOAD_CONCURRENCY"] = str(args.jobs)
            usecase = UseCase(moto.endpoint, catalog_url)
            servers = {"moto": moto.process.pid}
            results["targets"] = run_usecase(args, usecase, servers, moto.endpoint, small, big)
        else:
            env = airflow_environment(moto.endpoint, args.api_workers, catalog_url)
            shutil.rmtree(env["TRIBUTARY_STORAGE_ROOT"], ignore_errors=True)
            if args.server == "airflow":
                server = start_api_server(env)
            else:
                server = start_uvicorn_server(env)
            prepare_datasets(env, moto.endpoint)
            for target in args.targets.split(","):
                servers = {"api": server.pid, "moto": moto.process.pid}
                results["targets"].append(
                    run_target(target, args, env, servers, moto.endpoint, small, big)
                )
        (WORK / f"results-{args.level}.json").write_text(json.dumps(results, indent=2))
        report(results)
    finally:
        if server is not None:
            stop(server)
        moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
