"""The REST API's Airflow side: who the caller is and what Airflow lets them do, DAG runs
started with the caller's own token, and downstream syncs requested after uploads.

Only the API server imports this module (``tributary.api.create_app`` does, lazily, when
no other authorizer, runs or drains are given): it runs inside Airflow's API server, whose
auth manager it asks.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from jwt import ExpiredSignatureError, InvalidTokenError

from tributary.airflow_rest import AirflowClient, AirflowRefused, AirflowUnreachable
from tributary.api.auth import NotAuthenticated
from tributary.errors import Conflict, InvalidInput, NotFound, TributaryError
from tributary.usecases.airflow_runs import DagPaused, RunNotStarted

log = logging.getLogger(__name__)

DOWNSTREAM_SYNC = "tributary_downstream_sync"

# Tributary's DAGs (DESIGN.md: their ids are part of the interface). The catalog the API
# serves is what these DAGs write, and the API's writes start runs of them (dataset
# creation the initial sync, uploads the downstream sync, "sync" the upstream sync, …).
# A caller needs the permission on every one of them, not on a representative one: with
# an auth manager that grants DAGs one by one (FAB, Keycloak), a user allowed only some of
# Tributary's DAGs would otherwise pass the API's check and then have Airflow refuse the
# run it starts, or read the results of DAGs Airflow hides from them.
TRIBUTARY_DAG_IDS = (
    "tributary_initial_sync",
    "tributary_upstream_sync",
    "tributary_event_sync",
    DOWNSTREAM_SYNC,
    "tributary_preprocess",
    "tributary_csv_ingest",
    "tributary_permission_check",
)


def _default_auth_manager():
    # Airflow's API server initialises its auth manager after loading plugins (and so after
    # create_app): look it up on each call, never at construction.
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


@dataclass
class AirflowAuthorizer:
    """The API's ``Authorizer``: Airflow's auth manager decides, exactly as it does for
    Airflow's own REST API.

    read  = the user may see Tributary's DAGs (GET on each of them);
    write = the user may start runs of them (POST on their DAG runs).

    With ``airflow standalone``'s SimpleAuthManager: role viewer reads only; user, op and
    admin also write.
    """

    auth_manager: Callable[[], object] = _default_auth_manager
    dag_ids: tuple[str, ...] = TRIBUTARY_DAG_IDS

    async def user(self, token: str) -> object:
        """The user the token names; ``NotAuthenticated`` if it is expired, forged or revoked."""
        try:
            return await self.auth_manager().get_user_from_token(token)
        except ExpiredSignatureError:
            raise NotAuthenticated("expired") from None
        except InvalidTokenError:
            # Airflow's own API answers 403 here; a token that proves no identity is a 401
            # for us (the contract), and the reason never repeats the token.
            raise NotAuthenticated("not a valid Airflow token") from None

    def allowed(self, user: object, access: str) -> bool:
        """Whether ``user`` may ``access`` ("read" or "write") Tributary's data."""
        if access == "read":
            method, entity = "GET", None
        elif access == "write":
            method, entity = "POST", DagAccessEntity.RUN
        else:
            raise ValueError(f"unknown access {access!r}")
        teams = _team_names(self.dag_ids)
        requests = [
            {
                "method": method,
                "access_entity": entity,
                "details": DagDetails(id=dag_id, team_name=teams.get(dag_id)),
            }
            for dag_id in self.dag_ids
        ]
        return bool(self.auth_manager().batch_is_authorized_dag(requests, user=user))


def _team_names(dag_ids: tuple[str, ...]) -> dict[str, str | None]:
    """The team owning each DAG, as Airflow's own checks pass it; only asked of Airflow's
    database in multi-team mode (otherwise no DAG has a team)."""
    from airflow.configuration import conf

    if not conf.getboolean("core", "multi_team", fallback=False):
        return {}
    from airflow.models.dag import DagModel

    return DagModel.get_dag_id_to_team_name_mapping(list(dag_ids))


def api_base_url() -> str:
    """Where this API server's own REST API answers: ``TRIBUTARY_AIRFLOW_URL`` (as for
    every Tributary client of Airflow), else Airflow's ``[api] base_url``, else
    ``http://localhost:<[api] port>``. Credentials written into the URL are not used (the
    caller's token is) and never shown."""
    from airflow.configuration import conf

    url = os.environ.get("TRIBUTARY_AIRFLOW_URL") or conf.get("api", "base_url", fallback="")
    if not url:
        url = f"http://localhost:{conf.getint('api', 'port', fallback=8080)}"
    return url


@dataclass
class _CallerClient(AirflowClient):
    """An ``AirflowClient`` that speaks with the caller's token instead of a login, so that
    Airflow applies the caller's own permissions to what Tributary asks in their name."""

    token: str = field(default="", repr=False)

    @property
    def _auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


class RunRefused(RunNotStarted):
    """Airflow refused to start the run in the caller's name: its own permission check
    (403), or the token expired meanwhile (401). ``http_status`` is the status to answer."""

    permanent = True  # an administrator must grant the permission, or the caller log in

    def __init__(self, message: str, http_status: int = 403) -> None:
        super().__init__(message)
        self.http_status = http_status


@dataclass
class AirflowRuns:
    """The API's ``Runs``: starts DAG runs through Airflow's REST API
    (``POST /api/v2/dags/{dag_id}/dagRuns``) on this API server, with the caller's token."""

    base_url: Callable[[], str] = api_base_url
    timeout: float = 30.0

    def client(self, token: str) -> AirflowClient:
        """An ``AirflowClient`` of this API server that speaks with the caller's ``token``
        (for the use cases that take one: ``create_dataset``, ``start_upstream_sync``, …)."""
        return _CallerClient(self.base_url(), "", "", timeout=self.timeout, token=token)

    def trigger(self, dag_id: str, conf: dict, token: str) -> dict:
        """Start a run of ``dag_id`` with ``conf`` now: ``{"dag_id", "dag_run_id"}``.

        A paused DAG is refused (``DagPaused``: Tributary never unpauses one); Airflow's
        refusals become Tributary's errors (401 and 403 ``RunRefused``, 404 ``NotFound``,
        409 ``Conflict``, 400/422 ``InvalidInput``); an unreachable or failing Airflow
        ``RunNotStarted``. Blocking: call it from a worker thread, never on
        the API server's event loop (it asks that same server).
        """
        client = self.client(token)
        try:
            dag = client._request("GET", f"/api/v2/dags/{dag_id}", headers=client._auth)
            if dag.get("is_paused"):
                raise DagPaused(dag_id, scheduled=bool(dag.get("timetable_periodic")))
            run_id = client.trigger(dag_id, conf)
        except AirflowRefused as exc:
            raise _refusal(dag_id, exc) from None
        except AirflowUnreachable as exc:
            raise RunNotStarted(f"{dag_id} not started: {exc}") from None
        return {"dag_id": dag_id, "dag_run_id": run_id}

    def queued(self, dag_id: str, dataset: str, token: str) -> bool:
        """Whether Airflow holds a run of ``dag_id`` for ``dataset`` (or for every dataset)
        that has not started yet: it will see whatever is due when it starts."""
        client = self.client(token)
        params = {"state": "queued", "limit": 100}
        try:
            path = f"/api/v2/dags/{dag_id}/dagRuns"
            answer = client._request("GET", path, headers=client._auth, params=params)
        except (AirflowRefused, AirflowUnreachable) as exc:
            raise RunNotStarted(f"{dag_id}: its queued runs are unknown: {exc}") from None
        return any(
            (run.get("conf") or {}).get("dataset") in (dataset, None)
            for run in answer.get("dag_runs", [])
        )


def _refusal(dag_id: str, exc: AirflowRefused) -> Exception:
    """Tributary's error for Airflow's HTTP refusal ``exc`` (its message has Airflow's
    answer, which never repeats the token)."""
    message = f"{dag_id} not started: {exc}"
    status = exc.status_code
    if status in (401, 403):
        return RunRefused(message, status)
    if status == 404:
        return NotFound(message)
    if status == 409:
        return Conflict(message)
    if status in (400, 422):
        return InvalidInput(message)
    return RunNotStarted(message)


@dataclass
class AirflowDrains:
    """The API's ``Drains``: after an upload, asks for a ``tributary_downstream_sync`` run
    of the dataset so that the upload reaches the bucket soon (the DAG's schedule is the
    safety net).

    ``request`` returns at once: the run is started from a worker thread. Requests are
    coalesced per dataset: while one is being sent, the next ones wait as a single pending
    request (sent with the newest token once the first is through), and none is sent while
    Airflow holds a run for the dataset that has not started yet. A burst of uploads thus
    starts one or two runs, not one per file — each run drains every operation of the
    dataset that is due when it runs. Failures are logged (never the token), never raised
    into the request.
    """

    runs: AirflowRuns = field(default_factory=AirflowRuns)
    max_workers: int = 2
    _pending: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _busy: set[str] = field(default_factory=set, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    def request(self, dataset: str, token: str) -> None:
        """Ask for a downstream sync of ``dataset`` in the caller's name; never raises."""
        try:
            with self._lock:
                self._pending[dataset] = token  # the newest token sends the request
                if dataset in self._busy:  # a worker is on it and will send this one too
                    return
                self._busy.add(dataset)
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.max_workers, "tributary-drains")
                self._pool.submit(self._send_pending, dataset)
        except Exception:  # an upload must not fail for want of a drain
            log.exception("Could not ask for a downstream sync of dataset %r", dataset)

    def _send_pending(self, dataset: str) -> None:
        """Send the dataset's pending request, and again while new ones came meanwhile."""
        while True:
            with self._lock:
                token = self._pending.pop(dataset, None)
                if token is None:
                    self._busy.discard(dataset)
                    return
            self._send(dataset, token)

    def _send(self, dataset: str, token: str) -> None:
        try:
            # The drain's DAG runs one at a time: during a burst of uploads its runs queue
            # up, and one not started yet will drain this upload too.
            if self.runs.queued(DOWNSTREAM_SYNC, dataset, token):
                log.info("Downstream sync of dataset %r already queued", dataset)
                return
            run = self.runs.trigger(DOWNSTREAM_SYNC, {"dataset": dataset}, token)
        except TributaryError as exc:
            log.warning("Downstream sync of dataset %r not started: %s", dataset, exc)
        except Exception:  # a worker thread has no one else to tell
            log.exception("Downstream sync of dataset %r not started", dataset)
        else:
            log.info("Downstream sync of dataset %r requested: %s", dataset, run["dag_run_id"])

    def wait_idle(self) -> None:
        """Block until every request made so far was sent (for tests and shutdown)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
