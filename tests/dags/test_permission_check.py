"""``tributary_permission_check`` through ``dag.test()``: every driver probed in a task of
its own, the results stored, a missing required permission fails the run by name."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from tests.dags.runner import load_dag, run_dag
from tests.test_cli import json_lines, tributary
from tributary.catalog import drivers

DAG_ID = "tributary_permission_check"

on_sqlite = pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)


def local_driver(catalog, folder, name: str):
    folder.mkdir(exist_ok=True)
    with catalog.begin() as conn:
        drivers.create(conn, name=name, provider="local", bucket=str(folder))


def lose_write_permission(folder) -> None:
    """The probe's put fails whoever runs the test (root ignores chmod): a file takes the
    hidden folder's place."""
    shutil.rmtree(folder / ".tributary", ignore_errors=True)
    (folder / ".tributary").write_bytes(b"not a folder")


def checks(run) -> dict[str, tuple[str, int]]:
    """Each mapped check task by its label (the driver): (state, tries)."""
    return {
        ti.rendered_map_index: (ti.state, ti.try_number)
        for ti in run.get_task_instances()
        if ti.task_id == "check_permissions"
    }


@on_sqlite
def test_a_healthy_driver_passes_and_its_check_is_recorded(airflow_db, catalog, tmp_path):
    local_driver(catalog, tmp_path / "cams", "cams")
    started = dt.datetime.now(dt.UTC)

    run = run_dag(DAG_ID, {})

    assert run.state == "success"
    assert checks(run) == {"cams": ("success", 1)}
    with catalog.begin() as conn:
        status = drivers.check_status(conn, "cams")
    assert status.last_check["ok"] is True
    assert dt.datetime.fromisoformat(status.last_check["checked_at"]) >= started
    assert status.failing_since is None


@on_sqlite
def test_a_lost_permission_fails_the_run_naming_driver_and_permission(
    airflow_db, catalog, tmp_path, capsys, monkeypatch
):
    local_driver(catalog, tmp_path / "cams", "cams")
    local_driver(catalog, tmp_path / "scans", "scans")
    lose_write_permission(tmp_path / "scans")

    run = run_dag(DAG_ID, {"driver": None})

    assert run.state == "failed"
    # The healthy driver is still checked; the failing one fails at once (no retries:
    # probing again cannot grant a permission).
    assert checks(run) == {"cams": ("success", 1), "scans": ("failed", 1)}
    out, err = capsys.readouterr()
    assert "AirflowFailException: driver 'scans' is missing a required permission: put " in (
        out + err
    )

    code, out, _ = tributary(capsys, monkeypatch, "driver", "list", "--json")
    listed = {d["name"]: d for d in json_lines(out)}
    assert code == 0
    assert (listed["cams"]["check_ok"], listed["cams"]["failing_since"]) == (True, None)
    assert listed["scans"]["check_ok"] is False
    since = dt.datetime.fromisoformat(listed["scans"]["failing_since"])
    assert since <= dt.datetime.now(dt.UTC)

    code, out, _ = tributary(capsys, monkeypatch, "driver", "list")
    (line,) = [line for line in out.splitlines() if line.startswith("scans ")]
    assert line.endswith(f" FAILED since {since:%Y-%m-%d %H:%M} UTC")


@on_sqlite
def test_the_driver_param_checks_only_that_driver(airflow_db, catalog, tmp_path):
    local_driver(catalog, tmp_path / "cams", "cams")
    local_driver(catalog, tmp_path / "scans", "scans")
    lose_write_permission(tmp_path / "scans")

    run = run_dag(DAG_ID, {"driver": "cams"})

    assert run.state == "success"
    assert checks(run) == {"cams": ("success", 1)}
    with catalog.begin() as conn:
        assert drivers.check_status(conn, "scans").last_check is None  # never probed


@on_sqlite
def test_checking_an_unknown_driver_fails_at_once(airflow_db, catalog):
    run = run_dag(DAG_ID, {"driver": "nope"})

    assert run.state == "failed"
    (select,) = [ti for ti in run.get_task_instances() if ti.task_id == "select_drivers"]
    assert (select.state, select.try_number) == ("failed", 1)


def test_daily_by_default_configurable_and_on_from_installation(monkeypatch):
    dag = load_dag(DAG_ID)
    assert dag.timetable.expression == "0 3 * * *"
    assert dag.is_paused_upon_creation is False
    assert dag.params["driver"] is None  # the trigger form's "every driver"

    monkeypatch.setenv("TRIBUTARY_PERMISSION_CHECK_SCHEDULE", "15 6 * * 1")
    assert load_dag(DAG_ID).timetable.expression == "15 6 * * 1"
