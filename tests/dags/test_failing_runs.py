"""Runs that must fail, fail: at once when a retry cannot help, and never end green."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dags.runner import run_dag
from tests.dags.test_initial_sync import make_dataset, seed

pytestmark = pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)


def task_states(run) -> dict[str, set[str]]:
    states: dict[str, set[str]] = {}
    for ti in run.get_task_instances():
        states.setdefault(ti.task_id, set()).add(ti.state)
    return states


def tries(run, task_id: str) -> set[int]:
    return {ti.try_number for ti in run.get_task_instances() if ti.task_id == task_id}


@pytest.fixture
def counted_probes(monkeypatch) -> list[str]:
    """Every permission probe a sync makes (the DAG runs in this process)."""
    from tributary.sync import listing

    calls, real = [], listing.probe

    def probe(store, **kwargs):
        calls.append(store.location)
        return real(store, **kwargs)

    monkeypatch.setattr(listing, "probe", probe)
    return calls


def unwritable_local_bucket(bucket):
    """A folder where the probe's put fails whoever runs the test (root ignores chmod):
    the hidden folder's place is taken by a file."""
    seed(bucket, {"photo.jpg": b"jpeg"})
    (Path(bucket.name) / ".tributary").write_bytes(b"not a folder")
    return bucket


@pytest.mark.parametrize("bucket", ["local"], indirect=True)
@pytest.mark.parametrize("dag_id", ["tributary_initial_sync", "tributary_upstream_sync"])
def test_a_denied_permission_fails_the_run_at_once(
    airflow_db, catalog, bucket, counted_probes, dag_id
):
    make_dataset(catalog, unwritable_local_bucket(bucket))

    run = run_dag(dag_id, {"dataset": "ds"})

    assert run.state == "failed"
    probe_task = "plan_partitions" if dag_id == "tributary_initial_sync" else "prepare"
    assert task_states(run)[probe_task] == {"failed"}
    assert len(counted_probes) == 1, "PermissionsMissing was retried"
    assert tries(run, probe_task) == {1}


def test_an_upstream_sync_of_an_unknown_dataset_fails_at_once(airflow_db, catalog):
    run = run_dag("tributary_upstream_sync", {"dataset": "no-such-dataset"})

    assert run.state == "failed"
    states = task_states(run)
    assert states["start"] == {"failed"}
    assert tries(run, "start") == {1}  # NotFound: AirflowFailException, no up_for_retry
    # Nothing downstream of a failed start runs (and retries) on a missing list of syncs.
    assert states["gather_partitions"] == states["list_partition"] == {"upstream_failed"}
    assert states["report"] == {"failed"}
    assert tries(run, "report") == {1}


@pytest.mark.parametrize("bucket", ["local"], indirect=True)
def test_any_failed_step_fails_the_upstream_run(airflow_db, catalog, bucket, monkeypatch):
    """A step that fails outside the sync runs' records (here: the announcement of new
    items) still fails the Airflow run, though the leaf tasks run on all_done."""
    from tributary.sync import upstream
    from tributary.tasks.errors import RETRY_POLICY

    monkeypatch.setitem(RETRY_POLICY, "retries", 0)  # the failure is the point, not retrying
    seed(bucket, {"a.jpg": b"a"})
    make_dataset(catalog, bucket)

    def broken(*args, **kwargs):
        raise RuntimeError("injected")

    monkeypatch.setattr(upstream, "created_events", broken)
    run = run_dag("tributary_upstream_sync", {"dataset": "ds"})

    assert task_states(run)["announce"] == {"failed"}
    assert task_states(run)["report"] == {"failed"}
    assert tries(run, "report") == {1}  # failed on purpose, not on a bug of its own
    assert run.state == "failed"
