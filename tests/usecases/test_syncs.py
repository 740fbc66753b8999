"""Syncs: starting them through Airflow, their history and the summary of each run."""

from __future__ import annotations

import pytest

from tests.sync.upstream_steps import upstream_sync
from tributary.errors import DatasetNotFound
from tributary.sync import listing
from tributary.usecases.airflow_runs import TriggeredRun
from tributary.usecases.datasets import create_dataset, update_dataset
from tributary.usecases.drivers import create_driver
from tributary.usecases.syncs import (
    SyncRunSummary,
    start_initial_sync,
    start_upstream_sync,
    sync_history,
    syncs_of_run,
)


@pytest.fixture
def dataset(catalog, bucket):
    create_driver(catalog, name="d", provider="local", bucket=str(bucket))
    create_dataset(catalog, name="ds", driver="d", start_sync=False)
    return "ds"


def test_an_upstream_sync_is_started_with_its_options(catalog, dataset, airflow):
    run = start_upstream_sync(catalog, dataset, dry_run=True, client=airflow)

    assert airflow.calls[-1] == (
        "trigger",
        "tributary_upstream_sync",
        {"dataset": "ds", "dry_run": True, "allow_mass_delete": False},
    )
    assert (run.dag_id, run.dataset) == ("tributary_upstream_sync", "ds")


def test_a_sync_of_an_unknown_dataset_asks_nothing_of_airflow(catalog, airflow):
    with pytest.raises(DatasetNotFound):
        start_upstream_sync(catalog, "nope", client=airflow)
    with pytest.raises(DatasetNotFound):
        start_initial_sync(catalog, "nope", client=airflow)

    assert airflow.calls == []


def test_the_summary_of_a_run_counts_each_kind_of_change(catalog, dataset, bucket):
    upstream_sync(catalog, dataset, run_id="first")
    (bucket / "b.png").rename(bucket / "c.png")
    (bucket / "new.txt").write_bytes(b"n")
    upstream_sync(catalog, dataset, run_id="second")

    (summary,) = syncs_of_run(catalog, TriggeredRun("test", "second", "ds", "http://x"))

    assert summary.dataset == "ds" and summary.status == "succeeded"
    assert summary.counts == {
        "new": 1,
        "changed": 0,
        "renamed": 1,
        "ghosted": 0,
        "revived": 0,
        "purged": 0,
    }
    assert summary.objects_listed == 3 and not summary.dry_run and summary.error is None
    assert summary.samples["renamed"] and summary.samples["new"]


def test_a_refused_run_keeps_the_reason_and_names_the_option(catalog, dataset, bucket):
    upstream_sync(catalog, dataset, run_id="first")
    update_dataset(catalog, dataset, mass_delete_threshold=0)
    (bucket / "b.png").unlink()
    with pytest.raises(Exception, match="allow_mass_delete"):
        upstream_sync(catalog, dataset, run_id="refused")

    (summary,) = syncs_of_run(catalog, TriggeredRun("test", "refused", "ds", "http://x"))

    assert summary.status == "failed"
    assert "set allow_mass_delete to apply anyway" in summary.error
    assert "tributary" not in summary.error and "--" not in summary.error


def test_history_is_newest_first_as_records(catalog, dataset):
    upstream_sync(catalog, dataset, run_id="first")
    upstream_sync(catalog, dataset, run_id="second", dry_run=True)

    history = sync_history(catalog, dataset)

    assert [r["run_id"] for r in history] == ["second", "first"]
    assert {"id", "status", "items_new", "report", "started_at"} <= set(history[0])
    summaries = [SyncRunSummary.from_record(r) for r in history]
    assert [s.dry_run for s in summaries] == [True, False]
    assert summaries[1].counts["new"] == 2 and summaries[1].dataset is None


def test_history_of_an_unknown_dataset(catalog):
    with pytest.raises(DatasetNotFound):
        sync_history(catalog, "nope")


def test_a_dry_run_summary_counts_what_it_planned(catalog, dataset, bucket):
    upstream_sync(catalog, dataset, run_id="first")
    (bucket / "b.png").rename(bucket / "sub" / "b2.png")
    (bucket / "sub" / "a.jpg").unlink()
    update_dataset(catalog, dataset, mass_delete_threshold=1)
    upstream_sync(catalog, dataset, run_id="dry", dry_run=True)

    (summary,) = syncs_of_run(catalog, TriggeredRun("test", "dry", "ds", "http://x"))

    assert summary.planned and summary.dry_run
    assert summary.counts == {"new": 0, "changed": 0, "renamed": 1, "ghosted": 1, "revived": 0}
    applied = SyncRunSummary.from_record(sync_history(catalog, dataset)[1])
    assert not applied.planned and applied.counts["new"] == 2


def test_sample_paths_are_item_paths(catalog, bucket):
    """Under a driver path, a sample is the item's path (leading '/', no driver folder),
    as in every other listing."""
    (bucket / "sub" / "deep").mkdir()
    (bucket / "sub" / "deep" / "c.jpg").write_bytes(b"c")
    create_driver(catalog, name="d", provider="local", bucket=str(bucket), path="sub")
    create_dataset(catalog, name="ds", driver="d", start_sync=False)
    upstream_sync(catalog, "ds")
    (bucket / "sub" / "a.jpg").rename(bucket / "sub" / "deep" / "a.jpg")
    (bucket / "sub" / "deep" / "c.jpg").unlink()
    (bucket / "sub" / "new.jpg").write_bytes(b"new")
    update_dataset(catalog, "ds", mass_delete_threshold=1)

    report = upstream_sync(catalog, "ds", run_id="second")

    assert report["samples"]["renamed"] == ["/a.jpg -> /deep/a.jpg"]
    assert report["samples"]["vanished"] == ["/deep/c.jpg"]
    assert report["samples"]["new"] == ["/new.jpg"]
    (summary,) = syncs_of_run(catalog, TriggeredRun("test", "second", "ds", "http://x"))
    assert summary.samples["renamed"] == ["/a.jpg -> /deep/a.jpg"]


def test_a_quota_refusal_says_how_to_get_through(catalog, bucket):
    from tributary.errors import QuotaExceeded
    from tributary.sync import initial

    create_driver(catalog, name="d", provider="local", bucket=str(bucket))
    create_dataset(catalog, name="ds", driver="d", quota=1, start_sync=False)
    sync_id = listing.start(catalog, dataset_name="ds", kind="initial", dag_id="d", run_id="r")
    for pointer in listing.plan(catalog, sync_id):
        listing.list_partition(catalog, sync_id, pointer["index"])

    with pytest.raises(QuotaExceeded) as refused:
        initial.check_quota(catalog, sync_id)

    assert str(refused.value).endswith(
        "nothing was indexed. Raise the quota of dataset 'ds' to at least 2 (or remove it), "
        "then run the sync again"
    )
    assert "tributary" not in str(refused.value)
