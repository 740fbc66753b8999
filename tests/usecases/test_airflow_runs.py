"""Starting a DAG run through Airflow's REST API and waiting for its end."""

from __future__ import annotations

import pytest

from tributary.airflow_rest import AirflowRefused
from tributary.usecases.airflow_runs import (
    RunAliveQuery,
    RunNotStarted,
    trigger_dag,
    wait_for_run,
)


def test_a_paused_dag_is_unpaused_then_triggered(airflow):
    run = trigger_dag("tributary_preprocess", {"dataset": "ds", "force": True}, client=airflow)

    assert airflow.calls == [
        ("unpause", "tributary_preprocess"),
        ("trigger", "tributary_preprocess", {"dataset": "ds", "force": True}),
    ]
    assert (run.dag_id, run.run_id, run.dataset) == ("tributary_preprocess", "manual__2", "ds")


def test_an_unpaused_dag_is_only_triggered(airflow):
    airflow.paused = False

    trigger_dag("tributary_preprocess", {"dataset": "ds"}, client=airflow)

    assert [call[0] for call in airflow.calls] == ["trigger"]


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
