"""Freeing a dataset's sync lock by hand, asking Airflow (a fake) whether the holder lives."""

from __future__ import annotations

import pytest

from tributary.airflow_rest import AirflowUnreachable
from tributary.catalog import datasets, syncs
from tributary.errors import NotFound, SyncLocked
from tributary.usecases.locks import unlock_dataset

DAG = "tributary_upstream_sync"


@pytest.fixture
def holder(catalog) -> int:
    """Dataset ``ds`` locked by sync run ``manual__1`` of the upstream sync, still running."""
    with catalog.begin() as conn:
        ds = datasets.create(conn, name="ds")
        sync_id = syncs.start(
            conn, dataset_id=ds.id, kind="upstream", dag_id=DAG, run_id="manual__1"
        )
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=sync_id)
    return sync_id


def _holder_of(catalog) -> int | None:
    with catalog.begin() as conn:
        return syncs._holder(conn, datasets.get(conn, "ds").id)


def test_refused_while_airflow_says_the_run_is_running(catalog, airflow, holder):
    airflow.states[DAG, "manual__1"] = "running"

    with pytest.raises(SyncLocked, match=r"^dataset ds not unlocked: sync \d+ .*manual__1"):
        unlock_dataset(catalog, "ds", client=airflow)

    assert airflow.calls == [("run_state", DAG, "manual__1")]
    assert _holder_of(catalog) == holder


@pytest.mark.parametrize("state", ["failed", "success"])
def test_freed_once_airflow_says_the_run_is_over(catalog, airflow, holder, state):
    airflow.states[DAG, "manual__1"] = state

    assert unlock_dataset(catalog, "ds", client=airflow) == holder

    assert _holder_of(catalog) is None
    with catalog.begin() as conn:
        run = syncs.get(conn, holder)
    assert run["status"] == "failed"
    assert run["error"].endswith("its lock was freed by hand")


def test_an_unreachable_airflow_frees_nothing_and_says_why(catalog, airflow, holder):
    airflow.refuse = AirflowUnreachable("Airflow is not reachable at http://airflow.test")

    with pytest.raises(SyncLocked) as refused:
        unlock_dataset(catalog, "ds", client=airflow)

    message = str(refused.value)
    assert "\n" not in message
    assert message.endswith(
        "(Airflow could not say: Airflow is not reachable at http://airflow.test)"
    )
    assert _holder_of(catalog) == holder


def test_a_run_airflow_does_not_know_is_not_taken_for_over(catalog, airflow, holder):
    with pytest.raises(SyncLocked, match="Airflow could not say: Airflow answered 404"):
        unlock_dataset(catalog, "ds", client=airflow)


def test_a_silent_holder_is_freed_even_when_airflow_cannot_say(
    catalog, airflow, holder, monkeypatch
):
    monkeypatch.setenv("TRIBUTARY_LOCK_STALE_SECONDS", "0")
    airflow.refuse = AirflowUnreachable("Airflow is not reachable at http://airflow.test")

    assert unlock_dataset(catalog, "ds", client=airflow) == holder


def test_an_unlocked_dataset_is_left_alone(catalog, airflow):
    with catalog.begin() as conn:
        datasets.create(conn, name="ds")

    assert unlock_dataset(catalog, "ds", client=airflow) is None
    assert airflow.calls == []
    with pytest.raises(NotFound):
        unlock_dataset(catalog, "nope", client=airflow)
