"""Starting a DAG run through Airflow's REST API and waiting for its end."""

from __future__ import annotations

import pytest

from tributary.airflow_rest import AirflowRefused
from tributary.usecases.airflow_runs import (
    DagPaused,
    RunAliveQuery,
    RunNotStarted,
    trigger_dag,
    wait_for_run,
)
from tributary.usecases.syncs import start_upstream_sync


def test_an_unpaused_dag_is_triggered(airflow):
    run = trigger_dag("tributary_preprocess", {"dataset": "ds", "force": True}, client=airflow)

    assert airflow.calls == [("trigger", "tributary_preprocess", {"dataset": "ds", "force": True})]
    assert (run.dag_id, run.run_id, run.dataset) == ("tributary_preprocess", "manual__1", "ds")


def test_a_dry_run_on_a_paused_dag_is_refused_and_changes_nothing(catalog, airflow, tmp_path):
    """Unpausing the nightly DAG once made Airflow run its latest interval at once: a real,
    applying sync of every dataset, started by a dry run. A paused DAG is now refused."""
    from tributary.catalog import datasets, drivers

    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket=str(tmp_path))
        datasets.create(conn, name="ds", driver_name="d")
    airflow.paused = True

    with pytest.raises(DagPaused) as refused:
        start_upstream_sync(catalog, "ds", dry_run=True, client=airflow)

    assert airflow.calls == []  # no unpause, no trigger: Airflow is left exactly as it was
    assert airflow.paused
    message = str(refused.value)
    assert "\n" not in message and message.startswith(
        "tributary_upstream_sync is paused in Airflow, so nothing was started: unpause it "
        "(`airflow dags unpause tributary_upstream_sync`"
    )
    assert "switches its schedule on" in message  # what unpausing it will also do
    assert refused.value.permanent and isinstance(refused.value, RunNotStarted)


def test_a_paused_dag_without_a_schedule_is_refused_too(airflow):
    airflow.paused, airflow.periodic = True, False

    with pytest.raises(DagPaused, match=r"`airflow dags unpause tributary_initial_sync`") as e:
        trigger_dag("tributary_initial_sync", {"dataset": "ds"}, client=airflow)

    assert airflow.calls == []
    assert "schedule" not in str(e.value)


def test_a_refusal_says_which_dag_did_not_start(airflow):
    airflow.refuse = AirflowRefused("Airflow answered 403 to GET /api/v2/dags/x", 403)

    with pytest.raises(RunNotStarted, match=r"^x not started: Airflow answered 403"):
        trigger_dag("x", {"dataset": "ds"}, client=airflow)


def test_an_unreachable_airflow_is_one_clear_error():
    # conftest points TRIBUTARY_AIRFLOW_URL at a closed port.
    with pytest.raises(RunNotStarted, match=r"Airflow is not reachable at http://127.0.0.1:9"):
        trigger_dag("tributary_initial_sync", {"dataset": "ds"})


@pytest.mark.parametrize("state", ["success", "failed"])
def test_waiting_returns_the_final_state(airflow, state):
    airflow.final_state = state
    run = trigger_dag("tributary_upstream_sync", {"dataset": "ds"}, client=airflow)

    assert wait_for_run(run, client=airflow) == state
    assert airflow.calls[-1] == ("wait", "tributary_upstream_sync", run.run_id)


@pytest.mark.parametrize(
    ("state", "alive"),
    [
        pytest.param("queued", True, id="queued"),
        pytest.param("running", True, id="running"),
        pytest.param("success", False, id="success"),
        pytest.param("failed", False, id="failed"),
    ],
)
def test_run_alive_follows_airflows_state(airflow, state, alive):
    airflow.states["d", "r"] = state
    query = RunAliveQuery(airflow)

    assert query("d", "r") is alive
    assert query.why_unknown is None


def test_run_alive_is_unknown_when_airflow_cannot_say(airflow):
    query = RunAliveQuery(airflow)

    assert query("d", "unknown-run") is None  # a 404 is no proof that the run is over
    assert "404" in query.why_unknown
    airflow.refuse = AirflowRefused("Airflow at http://airflow.test refused the login", 401)
    assert query("d", "r") is None
    assert "refused the login" in query.why_unknown
