"""The README's demo command, for real: Airflow standalone, REST-triggered initial sync;
then, on that running Airflow, the README's upstream-sync and backfill commands."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import time

import pytest
import sqlalchemy as sa

from tests.conftest import REPO
from tests.emulators import free_port
from tributary.catalog import Catalog
from tributary.catalog.schema import items as items_table

pytestmark = pytest.mark.e2e
SQLITE_CONNECT_ARGS = "tributary.config.AIRFLOW_SQLITE_CONNECT_ARGS"


@pytest.mark.timeout(1200)
def test_demo_brings_up_airflow_with_the_synced_dataset(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TRIBUTARY"))}
    env.update(
        TRIBUTARY_DEMO_DIR=str(tmp_path / "demo"),
        TRIBUTARY_DEMO_PORT=str(free_port()),
        TRIBUTARY_DEMO_WORKER_LOG_PORT=str(free_port()),
        TRIBUTARY_DEMO_TRIGGER_LOG_PORT=str(free_port()),
        # Local drivers may use the demo's bucket and the date-partitioned folder made below.
        TRIBUTARY_LOCAL_ROOTS=os.pathsep.join(str(tmp_path / d) for d in ("demo/bucket", "dated")),
    )
    try:
        result = subprocess.run(
            ["bash", "scripts/demo.sh"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        log = tmp_path / "demo" / "airflow.log"
        detail = result.stdout[-4000:] + result.stderr[-4000:]
        if log.exists():
            detail += log.read_text()[-4000:]
        assert result.returncode == 0, detail
        assert f"http://localhost:{env['TRIBUTARY_DEMO_PORT']}" in result.stdout
        assert "login: admin / admin" in result.stdout
        match = re.search(r"dataset    : demo, (\d+) items indexed", result.stdout)
        assert match, result.stdout
        files = [
            p
            for p in (tmp_path / "demo" / "bucket").rglob("*")
            if p.is_file() and ".tributary" not in p.parts
        ]
        assert int(match.group(1)) == len(files) > 100
        assert "success" in result.stdout
        check_upstream_sync_and_backfill(env, tmp_path)
    finally:
        subprocess.run(["bash", "scripts/demo.sh", "stop"], cwd=REPO, env=env, check=False)


def finished_scheduled_runs(listed: str) -> list[dict]:
    """The finished scheduled runs in ``airflow dags list-runs -o json`` output (its JSON
    is one line; warnings may come before it)."""
    (runs,) = [json.loads(line) for line in listed.splitlines() if line.startswith("[")]
    return [
        r
        for r in runs
        if r["run_id"].startswith("scheduled__") and r["state"] in ("success", "failed")
    ]


def check_upstream_sync_and_backfill(env: dict, tmp_path) -> None:
    """``tributary sync --dry-run --wait`` through the REST API, then ``airflow backfill
    create`` over three days of a date-partitioned folder, run by the real scheduler."""
    demo = tmp_path / "demo"
    port = env["TRIBUTARY_DEMO_PORT"]
    cli_env = {
        **env,
        "AIRFLOW_HOME": str(demo / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # As demo.sh sets it: the Airflow CLI waits for the scheduler's SQLite writes.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": SQLITE_CONNECT_ARGS,
        "TRIBUTARY_AIRFLOW_URL": f"http://localhost:{port}",
        "TRIBUTARY_AIRFLOW_USER": "admin",
        "TRIBUTARY_AIRFLOW_PASSWORD": "admin",
        # The demo's catalog, named directly: CLI polls then skip importing Airflow.
        "TRIBUTARY_CATALOG_URL": f"sqlite:///{demo / 'airflow' / 'tributary.db'}",
    }
    bin_dir = REPO / ".venv" / "bin"

    def run(*argv, timeout=300):
        result = subprocess.run(
            argv, cwd=REPO, env=cli_env, capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result.stdout

    tributary = str(bin_dir / "tributary")

    def sync_runs(dataset: str) -> list[dict]:
        return json_lines(run(tributary, "runs", dataset, "--json"))

    def wait_for(condition, what: str) -> list[dict]:
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            if found := condition():
                return found
            time.sleep(5)
        raise AssertionError(f"timed out waiting for {what}")

    def backfill(dag_id: str, from_date: str, to_date: str, *extra: str) -> None:
        command = (
            str(bin_dir / "airflow"), "backfill", "create", "--dag-id", dag_id,
            "--from-date", from_date, "--to-date", to_date, *extra,
        )  # fmt: skip
        # On a SQLite metadata DB a write racing the scheduler's can fail at once with
        # "database is locked" (a stale WAL snapshot: no busy timeout helps). Airflow then
        # removes the partial backfill so that the command can simply be run again; the
        # README says so.
        for _ in range(5):
            result = subprocess.run(
                command, cwd=REPO, env=cli_env, capture_output=True, text=True, timeout=300
            )
            output = result.stdout + result.stderr
            if result.returncode == 0 or "database is locked" not in output:
                break
            time.sleep(2)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    check_preprocessing(run, wait_for, tributary, tmp_path)
    check_preprocess_backfill(run, wait_for, backfill, tributary, cli_env)

    # The nightly DAG is on from installation (the CLI never unpauses it), so Airflow ran
    # its latest interval when it first parsed it; let that run end so that the dry run
    # below is what sees the change.
    list_runs = (str(bin_dir / "airflow"), "dags", "list-runs", "tributary_upstream_sync")
    wait_for(
        lambda: finished_scheduled_runs(run(*list_runs, "-o", "json")),
        "the scheduled upstream sync",
    )
    (demo / "bucket" / "zz-new-file.txt").write_text("added after the initial sync")
    out = run(tributary, "sync", "demo", "--dry-run", "--wait")
    assert "run " in out and ": success" in out
    assert "zz-new-file.txt" in out  # the plan's sample of new items

    dated = tmp_path / "dated"
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        for i in range(2):
            path = dated / "camera-7" / day / f"{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(day.encode())
    run(tributary, "driver", "create", "dated", "--provider", "local", "--bucket", str(dated))
    run(
        tributary, "dataset", "create", "cam7", "--driver", "dated", "--no-sync",
        "--folder", "camera-7/{{ ds }}/",
    )  # fmt: skip
    backfill(
        "tributary_upstream_sync", "2026-11-01", "2026-11-04", "--max-active-runs", "1",
        "--dag-run-conf", json.dumps({"dataset": "cam7"}),
    )  # fmt: skip

    def three_succeeded() -> list[dict]:
        runs = sync_runs("cam7")
        return runs if sum(r["status"] == "succeeded" for r in runs) >= 3 else []

    runs = wait_for(three_succeeded, "three backfill runs")
    scopes = sorted(r["scope"] for r in runs if r["status"] == "succeeded")
    assert scopes == [f"camera-7/2026-11-0{d}/" for d in (1, 2, 3)], runs
    items = run(tributary, "items", "cam7").splitlines()
    assert len(items) == 6


def json_lines(output: str) -> list[dict]:
    """The records a ``--json`` CLI command printed, one per line."""
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def check_preprocessing(run, wait_for, tributary: str, tmp_path) -> None:
    """The initial sync's items-created event made the real scheduler run
    ``tributary_preprocess`` (on by default): every item is described, images have an
    upright thumbnail in the hidden folder, and ``tributary thumbnail`` fetches one."""

    def all_preprocessed() -> list[dict]:
        found = json_lines(run(tributary, "items", "demo", "--json"))
        return found if all(i["preprocess_state"] != "pending" for i in found) else []

    found = wait_for(all_preprocessed, "preprocessing of the demo items")
    done = [i for i in found if i["preprocess_state"] == "done"]
    assert len(done) > 100, [i for i in found if i["preprocess_state"] != "done"][:3]
    image = next(i for i in done if i["thumbnail"])
    assert image["thumbnail"].startswith(".tributary/thumbnails/")
    assert image["metadata"]["system"]["dimensions"]["width"] > 0
    out = tmp_path / "thumb.jpg"
    run(tributary, "thumbnail", "demo", image["path"], "-o", str(out))
    assert out.read_bytes()[:3] == b"\xff\xd8\xff"


def check_preprocess_backfill(run, wait_for, backfill, tributary: str, cli_env: dict) -> None:
    """``airflow backfill create --dag-id tributary_preprocess`` over a past day redoes the
    items created that day (fresh thumbnails), and only those."""

    def demo_items() -> dict[int, dict]:
        return {item["id"]: item for item in json_lines(run(tributary, "items", "demo", "--json"))}

    before = demo_items()
    # As if five items had been indexed on 2026-10-01: that day's backfill run takes them.
    chosen = sorted(i for i, item in before.items() if item["thumbnail"])[:5]
    catalog = Catalog(cli_env["TRIBUTARY_CATALOG_URL"])
    with catalog.begin() as conn:
        conn.execute(
            sa.update(items_table)
            .where(items_table.c.id.in_(chosen))
            .values(created_at=dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC))
        )
    backfill("tributary_preprocess", "2026-10-01", "2026-10-02")

    def chosen_redone() -> dict[int, dict]:
        now = demo_items()
        redone = all(
            now[i]["preprocessed_at"] != before[i]["preprocessed_at"]
            and now[i]["preprocess_state"] == "done"
            for i in chosen
        )
        return now if redone else {}

    after = wait_for(chosen_redone, "the preprocessing backfill run")
    others = [i for i in before if i not in chosen]
    changed = [i for i in others if after[i]["preprocessed_at"] != before[i]["preprocessed_at"]]
    assert changed == [], changed
    assert all(after[i]["thumbnail"] == before[i]["thumbnail"] for i in chosen)
