"""Starting a Tributary DAG run through Airflow's REST API, waiting for it to end, and
asking whether one is still going."""

from __future__ import annotations

from dataclasses import dataclass

from tributary.airflow_rest import AirflowClient, AirflowRefused, AirflowUnreachable
from tributary.errors import TributaryError

# DagRun states in which a run may still work on a dataset.
LIVE_STATES = ("queued", "running")


class RunNotStarted(TributaryError):
    """Airflow could not be asked to start a DAG run (unreachable, refused, unknown DAG)."""

    permanent = False  # Airflow may be back in a moment


class RunFailed(TributaryError):
    """A DAG run that was waited for did not succeed (failed, or a sync in it refused)."""

    permanent = True  # the run is over: waiting for it again changes nothing


class DagPaused(RunNotStarted):
    """The DAG is paused in Airflow, so no run was started.

    Tributary never unpauses a DAG itself: a paused DAG is a person's decision, and
    unpausing a scheduled one also switches its schedule on, whereupon Airflow at once runs
    its latest interval for real (a ``--dry-run`` once started a full applying sync that
    way). Tributary's DAGs are created unpaused, so this means someone paused it.
    """

    permanent = True  # a person decides when a DAG runs again

    def __init__(self, dag_id: str, *, scheduled: bool) -> None:
        schedule = (
            "; that also switches its schedule on, and Airflow then at once runs the latest "
            "scheduled interval it missed"
            if scheduled
            else ""
        )
        super().__init__(
            f"{dag_id} is paused in Airflow, so nothing was started: unpause it "
            f"(`airflow dags unpause {dag_id}` or the toggle in the Airflow UI){schedule}"
        )
        self.dag_id = dag_id


@dataclass(frozen=True)
class TriggeredRun:
    """A DAG run Airflow accepted for one dataset."""

    dag_id: str
    run_id: str
    dataset: str
    airflow_url: str


def trigger_dag(dag_id: str, conf: dict, *, client: AirflowClient | None = None) -> TriggeredRun:
    """Start a run of ``dag_id`` with ``conf`` (which names its ``dataset``). Raises
    ``DagPaused`` if the DAG is paused (it is never unpaused from here, see there), else
    ``RunNotStarted`` with Airflow's reason."""
    client = client or AirflowClient.from_env()
    try:
        dag = client.wait_for_dag(dag_id)
        # A run triggered on a paused DAG would only wait, queued, for the unpause.
        run_id = None if dag["is_paused"] else client.trigger(dag_id, conf)
    except TributaryError as exc:
        raise RunNotStarted(f"{dag_id} not started: {exc}") from exc
    if run_id is None:
        raise DagPaused(dag_id, scheduled=bool(dag.get("timetable_periodic")))
    return TriggeredRun(dag_id, run_id, conf["dataset"], client.base_url)


def wait_for_run(run: TriggeredRun, *, client: AirflowClient | None = None) -> str:
    """Block until the run ends; its final Airflow state (``success`` or ``failed``)."""
    client = client or AirflowClient.from_env()
    return client.wait(run.dag_id, run.run_id)


@dataclass
class RunAliveQuery:
    """``run_alive`` for the catalog's lock rules, asked of Airflow's REST API.

    Called with a DAG id and run id: True while Airflow says the run is queued or running,
    False once Airflow says it ended, None when Airflow cannot say (unreachable, login
    refused, no such run). ``why_unknown`` keeps the last reason it could not say, so a
    refusal built on "unknown" can tell the user why Airflow was no help.
    """

    client: AirflowClient | None = None
    why_unknown: str | None = None

    def __call__(self, dag_id: str, run_id: str) -> bool | None:
        """Whether Airflow says run ``run_id`` of ``dag_id`` is still going (None: unknown)."""
        client = self.client or AirflowClient.from_env()
        try:
            state = client.run_state(dag_id, run_id)
        except (AirflowUnreachable, AirflowRefused) as exc:
            # A run Airflow does not know (404) is not proof it is over: it may be another
            # Airflow's, or the lookup may be wrong. Only a state Airflow gives settles it.
            self.why_unknown = str(exc)
            return None
        return state in LIVE_STATES
