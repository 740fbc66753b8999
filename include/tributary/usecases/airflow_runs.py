"""Starting a Tributary DAG run through Airflow's REST API, and waiting for it to end."""

from __future__ import annotations

from dataclasses import dataclass

from tributary.airflow_rest import AirflowClient
from tributary.errors import TributaryError


class RunNotStarted(TributaryError):
    """Airflow could not be asked to start a DAG run (unreachable, refused, unknown DAG)."""

    permanent = False  # Airflow may be back in a moment


@dataclass(frozen=True)
class TriggeredRun:
    """A DAG run Airflow accepted for one dataset."""

    dag_id: str
    run_id: str
    dataset: str
    airflow_url: str


def trigger_dag(dag_id: str, conf: dict, *, client: AirflowClient | None = None) -> TriggeredRun:
    """Start a run of ``dag_id`` with ``conf`` (which names its ``dataset``), unpausing the
    DAG first if it is paused. Raises ``RunNotStarted`` with Airflow's reason."""
    client = client or AirflowClient.from_env()
    try:
        if client.wait_for_dag(dag_id)["is_paused"]:
            client.unpause(dag_id)
        run_id = client.trigger(dag_id, conf)
    except TributaryError as exc:
        raise RunNotStarted(f"{dag_id} not started: {exc}") from exc
    return TriggeredRun(dag_id, run_id, conf["dataset"], client.base_url)


def wait_for_run(run: TriggeredRun, *, client: AirflowClient | None = None) -> str:
    """Block until the run ends; its final Airflow state (``success`` or ``failed``)."""
    client = client or AirflowClient.from_env()
    return client.wait(run.dag_id, run.run_id)
