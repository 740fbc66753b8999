"""``tributary_downstream_sync``: parsed like every Tributary DAG, and run with ``dag.test()``."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from tests.dags.runner import load_dag, run_dag
from tests.dags.test_dag_integrity import form_marks_required
from tests.dags.test_initial_sync import items_created_events
from tributary.catalog import datasets, drivers
from tributary.catalog.schema import items
from tributary.catalog.schema import outbox as outbox_table
from tributary.usecases.uploads import upload

DAG_ID = "tributary_downstream_sync"


def test_the_dag_is_tagged_documented_retrying_and_one_at_a_time():
    dag = load_dag(DAG_ID)

    assert dag.dag_id == DAG_ID
    assert {"tributary", "sync"} <= set(dag.tags)
    assert dag.doc_md and len(dag.doc_md) > 200
    assert dag.max_active_runs == 1
    assert dag.is_paused_upon_creation is False
    assert not dag.catchup
    for task in dag.tasks:
        assert task.retries >= 2 and task.retry_exponential_backoff, task.task_id
    dataset = dag.params.get_param("dataset")
    assert not form_marks_required(dataset) and dataset.resolve(None) is None
    assert dag.params.get_param("retry_failed").resolve() is False


def test_it_drains_every_five_minutes_by_default_and_the_schedule_is_configurable(monkeypatch):
    assert load_dag(DAG_ID).timetable.expression == "*/5 * * * *"
    monkeypatch.setenv("TRIBUTARY_DOWNSTREAM_SCHEDULE", "* * * * *")
    assert load_dag(DAG_ID).timetable.expression == "* * * * *"


@pytest.fixture
def two_datasets(catalog, tmp_path, monkeypatch):
    """A dataset on a local driver and one on the internal storage."""
    monkeypatch.setenv("TRIBUTARY_STORAGE_ROOT", str(tmp_path / "internal"))
    root = tmp_path / "bucket"
    root.mkdir()
    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket=str(root))
        datasets.create(conn, name="cams", driver_name="d")
        datasets.create(conn, name="notes")
    return root


def test_a_run_writes_the_waiting_uploads_and_announces_them_per_dataset(
    airflow_db, catalog, two_datasets
):
    made = [
        upload(catalog, "cams", f"/c{i}.jpg", io.BytesIO(b"jpeg %d" % i), apply_now=False)
        for i in range(3)
    ]
    note = upload(catalog, "notes", "/n.txt", io.BytesIO(b"note"))

    run = run_dag(DAG_ID, {})

    assert run.state == "success"
    assert sorted(p.name for p in two_datasets.iterdir()) == [
        ".tributary",
        "c0.jpg",
        "c1.jpg",
        "c2.jpg",
    ]
    with catalog.begin() as conn:
        waiting = conn.execute(sa.select(items.c.id).where(items.c.downstream.is_not(None))).all()
        pending = conn.execute(
            sa.select(outbox_table.c.id).where(outbox_table.c.status != "done")
        ).all()
    assert waiting == [] and pending == []
    ids = [m["item"]["id"] for m in made]
    assert sorted(items_created_events(run), key=lambda e: e["dataset"]) == [
        {"dataset": "cams", "count": 3, "min_id": min(ids), "max_id": max(ids)},
        {
            "dataset": "notes",
            "count": 1,
            "min_id": note["item"]["id"],
            "max_id": note["item"]["id"],
        },
    ]

    again = run_dag(DAG_ID, {"dataset": "cams"})

    assert again.state == "success" and items_created_events(again) == []  # announced once


def test_an_operation_given_up_fails_the_run(airflow_db, catalog, two_datasets, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_DOWNSTREAM_MAX_ATTEMPTS", "1")
    upload(catalog, "cams", "/lost.jpg", io.BytesIO(b"x"), apply_now=False)
    with catalog.begin() as conn:
        spool = conn.execute(sa.select(outbox_table.c.spool_key)).scalar()
    (two_datasets / spool).unlink()

    run = run_dag(DAG_ID, {"dataset": "cams"})

    assert run.state == "failed"
    with catalog.begin() as conn:
        (status, error) = conn.execute(
            sa.select(outbox_table.c.status, outbox_table.c.error).where(outbox_table.c.op == "put")
        ).one()
    assert status == "failed" and "upload lost" in error
