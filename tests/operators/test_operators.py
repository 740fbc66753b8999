"""The operators users put in their DAGs: provider style, and real runs with dag.test()."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.dags.runner import run_dag
from tests.dags.test_initial_sync import items_created_events
from tributary.catalog import datasets, syncs
from tributary.catalog import items as item_queries
from tributary.operators import (
    AzureBlobToTributaryOperator,
    GCSToTributaryOperator,
    LocalFolderToTributaryOperator,
    S3ToTributaryOperator,
    TributaryPreprocessOperator,
    TributarySyncOperator,
)

OPERATORS = [
    pytest.param(S3ToTributaryOperator, {"bucket": "b"}, id="s3"),
    pytest.param(AzureBlobToTributaryOperator, {"bucket": "b"}, id="azure"),
    pytest.param(GCSToTributaryOperator, {"bucket": "b"}, id="gcs"),
    pytest.param(LocalFolderToTributaryOperator, {"directory": "/d"}, id="local"),
    pytest.param(TributarySyncOperator, {}, id="sync"),
    pytest.param(TributaryPreprocessOperator, {}, id="preprocess"),
]


@pytest.mark.parametrize(("cls", "args"), OPERATORS)
def test_construction_does_no_work_and_keeps_templates_unchanged(cls, args, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_CATALOG_URL", f"sqlite:///{tmp_path / 'never.db'}")

    operator = cls(task_id="t", dataset="{{ params.dataset }}", **args)

    assert not (tmp_path / "never.db").exists()
    assert "template_fields" in vars(cls) or "template_fields" in vars(cls.__mro__[1])
    for field in operator.template_fields:
        assert hasattr(operator, field)
    assert operator.dataset == "{{ params.dataset }}"
    assert operator.doc or cls.__doc__


def test_provider_connection_parameters_have_airflows_names():
    assert S3ToTributaryOperator(task_id="a", dataset="d", bucket="b").aws_conn_id == "aws_default"
    assert AzureBlobToTributaryOperator(task_id="a", dataset="d", bucket="b").wasb_conn_id == (
        "wasb_default"
    )
    assert GCSToTributaryOperator(task_id="a", dataset="d", bucket="b").gcp_conn_id == (
        "google_cloud_default"
    )


def by_path(catalog, name="ds", state="active") -> dict[str, dict]:
    with catalog.begin() as conn:
        return {i["path"].lstrip("/"): i for i in item_queries.iterate(conn, name, state)}


def states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_local_folder_is_indexed_preprocessed_and_kept_in_step(airflow_db, catalog, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"alpha")
    (folder / "sub").mkdir()
    (folder / "sub" / "b.txt").write_bytes(b"bravo")
    conf = {"dataset": "ds", "directory": str(folder)}

    first = run_dag("example_tributary_local_folder", conf)

    assert first.state == "success", states(first)
    items = by_path(catalog)
    assert set(items) == {"a.txt", "sub/b.txt"}
    assert {i["preprocess_state"] for i in items.values()} == {"done"}
    (event,) = items_created_events(first)
    assert event["dataset"] == "ds" and event["count"] == 2

    (folder / "a.txt").rename(folder / "renamed.txt")
    (folder / "c.txt").write_bytes(b"charlie")
    second = run_dag("example_tributary_sync_dataset", {"dataset": "ds"})

    assert second.state == "success", states(second)
    after = by_path(catalog)
    assert set(after) == {"renamed.txt", "sub/b.txt", "c.txt"}
    assert after["renamed.txt"]["id"] == items["a.txt"]["id"]
    with catalog.begin() as conn:
        newest = syncs.history(conn, "ds", limit=1)[0]
    assert (newest["items_new"], newest["items_renamed"]) == (1, 1)


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_a_dataset_bound_elsewhere_fails_at_once(airflow_db, catalog, tmp_path):
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    assert (
        run_dag(
            "example_tributary_local_folder", {"dataset": "ds", "directory": str(tmp_path / "one")}
        ).state
        == "success"
    )

    run = run_dag(
        "example_tributary_local_folder", {"dataset": "ds", "directory": str(tmp_path / "two")}
    )

    assert run.state == "failed"
    (ti,) = [ti for ti in run.get_task_instances() if ti.task_id == "index_folder"]
    assert (ti.state, ti.try_number) == ("failed", 1)  # InvalidInput: no retry
    with catalog.begin() as conn:
        assert datasets.get(conn, "ds").driver.bucket == str(tmp_path / "one")


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_unknown_dataset_sync_fails_at_once(airflow_db, catalog):
    run = run_dag("example_tributary_sync_dataset", {"dataset": "no-such"})

    assert run.state == "failed"
    (ti,) = [ti for ti in run.get_task_instances() if ti.task_id == "sync"]
    assert (ti.state, ti.try_number) == ("failed", 1)


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("bucket", ["s3"], indirect=True)
def test_s3_example_indexes_the_days_folder(airflow_db, catalog, bucket, monkeypatch):
    """Against moto: only the run's day under the prefix (the folder template rendered by
    Tributary), then its thumbnails step."""
    import os

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", os.environ["AIRFLOW_CONN_TEST_S3"])
    bucket.put("camera-7/2026-11-01/a.txt", b"day one")
    bucket.put("camera-7/2026-11-02/b.txt", b"day two")
    bucket.put("elsewhere/c.txt", b"not in the prefix")

    run = run_dag(
        "example_tributary_s3_to_dataset",
        {"dataset": "ds", "bucket": bucket.name},
        logical_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    )

    assert run.state == "success", states(run)
    items = by_path(catalog)
    assert set(items) == {"2026-11-01/a.txt"}
    assert items["2026-11-01/a.txt"]["preprocess_state"] == "done"
