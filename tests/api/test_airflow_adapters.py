"""The REST API's Airflow adapters: the authorizer on Airflow's auth manager, DAG runs
started through Airflow's REST API with the caller's token, downstream syncs requested
after uploads. Airflow's HTTP answers come from a fake transport; authorization decisions
from Airflow's real SimpleAuthManager."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import httpx
import jwt
import pytest
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

from tributary.api.airflow import (
    DOWNSTREAM_SYNC,
    TRIBUTARY_DAG_IDS,
    AirflowAuthorizer,
    AirflowDrains,
    AirflowRuns,
    RunRefused,
    api_base_url,
)
from tributary.api.auth import NotAuthenticated
from tributary.errors import Conflict, InvalidInput, NotFound, TributaryError
from tributary.usecases.airflow_runs import DagPaused, RunNotStarted

TOKEN = "eyJ.caller-token.sig"  # noqa: S105 - a stand-in, never a real secret


# -- the authorizer ---------------------------------------------------------------------------


class FakeTokens:
    """Airflow's auth manager as far as tokens go: its own errors for bad ones."""

    def __init__(self, manager: SimpleAuthManager | None = None) -> None:
        self.manager = manager or SimpleAuthManager()
        self.requests: list[list[dict]] = []

    async def get_user_from_token(self, token: str):
        errors = {
            "expired": jwt.ExpiredSignatureError("Signature has expired"),
            "forged": jwt.InvalidSignatureError("Signature verification failed"),
            "garbage": jwt.DecodeError("Not enough segments"),
        }
        if token in errors:
            raise errors[token]
        return SimpleAuthManagerUser(username=token, role=token)  # token = role

    def batch_is_authorized_dag(self, requests, *, user):
        self.requests.append(list(requests))
        return self.manager.batch_is_authorized_dag(requests, user=user)


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()


@pytest.fixture
def authorizer(tokens) -> AirflowAuthorizer:
    return AirflowAuthorizer(auth_manager=lambda: tokens)


def test_a_valid_token_names_its_user(authorizer):
    user = asyncio.run(authorizer.user("viewer"))
    assert (user.username, user.role) == ("viewer", "viewer")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param("expired", "expired", id="expired"),
        pytest.param("forged", "not a valid Airflow token", id="forged"),
        pytest.param("garbage", "not a valid Airflow token", id="not-a-jwt"),
    ],
)
def test_a_bad_token_is_not_authenticated_and_not_repeated(authorizer, token, reason):
    with pytest.raises(NotAuthenticated) as refused:
        asyncio.run(authorizer.user(token))
    assert str(refused.value) == reason
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


@pytest.mark.parametrize(
    ("role", "reads", "writes"),
    [
        pytest.param("viewer", True, False, id="viewer"),
        pytest.param("user", True, True, id="user"),
        pytest.param("op", True, True, id="op"),
        pytest.param("admin", True, True, id="admin"),
    ],
)
def test_simple_auth_manager_roles(authorizer, role, reads, writes):
    user = SimpleAuthManagerUser(username=role, role=role)
    assert authorizer.allowed(user, "read") is reads
    assert authorizer.allowed(user, "write") is writes


def test_a_user_without_a_role_gets_nothing(authorizer):
    user = SimpleAuthManagerUser(username="nobody", role=None)
    assert not authorizer.allowed(user, "read")
    assert not authorizer.allowed(user, "write")


def test_reads_ask_get_and_writes_ask_to_trigger_on_every_tributary_dag(authorizer, tokens):
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

    user = SimpleAuthManagerUser(username="admin", role="admin")
    authorizer.allowed(user, "read")
    authorizer.allowed(user, "write")

    read, write = tokens.requests
    assert [r["details"].id for r in read] == list(TRIBUTARY_DAG_IDS)
    assert {(r["method"], r["access_entity"]) for r in read} == {("GET", None)}
    assert [r["details"].id for r in write] == list(TRIBUTARY_DAG_IDS)
    assert {(r["method"], r["access_entity"]) for r in write} == {("POST", DagAccessEntity.RUN)}


def test_the_dag_ids_are_the_repositorys_tributary_dags():
    from tests.conftest import REPO

    assert sorted(TRIBUTARY_DAG_IDS) == sorted(
        path.stem for path in (REPO / "dags").glob("tributary_*.py")
    )


def test_one_dag_refused_refuses_the_access(tokens):
    """An auth manager granting DAGs one by one (FAB): all of Tributary's or nothing."""

    class OneDagMissing(FakeTokens):
        def batch_is_authorized_dag(self, requests, *, user):
            return all(r["details"].id != "tributary_csv_ingest" for r in requests)

    authorizer = AirflowAuthorizer(auth_manager=lambda: OneDagMissing())
    assert not authorizer.allowed(SimpleAuthManagerUser(username="u", role="user"), "write")


def test_an_unknown_access_is_a_programming_error(authorizer):
    with pytest.raises(ValueError, match="unknown access"):
        authorizer.allowed(SimpleAuthManagerUser(username="admin", role="admin"), "delete")


# -- DAG runs -------------------------------------------------------------------------------


class FakeAirflowApi:
    """Airflow's REST API behind a fake transport: answers as told, records requests."""

    def __init__(self) -> None:
        self.paused = False
        self.refuse: tuple[str, int] | None = None  # (method, status)
        self.unreachable = False
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.unreachable:
            raise httpx.ConnectError("connection refused", request=request)
        if self.refuse and request.method == self.refuse[0]:
            return httpx.Response(self.refuse[1], json={"detail": "refused by Airflow"})
        dag_id = request.url.path.split("/")[4]
        if request.method == "GET" and request.url.path.endswith("/dagRuns"):
            return httpx.Response(200, json={"dag_runs": [], "total_entries": 0})
        if request.method == "GET":
            periodic = dag_id != "tributary_initial_sync"
            return httpx.Response(
                200,
                json={"dag_id": dag_id, "is_paused": self.paused, "timetable_periodic": periodic},
            )
        return httpx.Response(200, json={"dag_id": dag_id, "dag_run_id": "manual__2026-12-05"})


def answer_with(monkeypatch, handle) -> None:
    """Every request of ``tributary.airflow_rest`` answered by ``handle``."""
    transport = httpx.MockTransport(handle)

    def request(method, url, **kwargs):
        with httpx.Client(transport=transport) as client:
            return client.request(method, url, **kwargs)

    monkeypatch.setattr("tributary.airflow_rest.httpx.request", request)


@pytest.fixture
def airflow_api(monkeypatch) -> FakeAirflowApi:
    fake = FakeAirflowApi()
    answer_with(monkeypatch, fake.handle)
    return fake


@pytest.fixture
def runs() -> AirflowRuns:
    return AirflowRuns(base_url=lambda: "http://airflow.test:8080")


def test_a_run_is_triggered_with_the_callers_token(airflow_api, runs):
    run = runs.trigger("tributary_upstream_sync", {"dataset": "ds", "dry_run": True}, TOKEN)

    assert run == {"dag_id": "tributary_upstream_sync", "dag_run_id": "manual__2026-12-05"}
    look, post = airflow_api.requests
    assert (look.method, str(look.url)) == (
        "GET",
        "http://airflow.test:8080/api/v2/dags/tributary_upstream_sync",
    )
    assert (post.method, post.url.path) == ("POST", "/api/v2/dags/tributary_upstream_sync/dagRuns")
    assert json.loads(post.content) == {
        "logical_date": None,
        "conf": {"dataset": "ds", "dry_run": True},
    }
    assert {r.headers["Authorization"] for r in airflow_api.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in repr(runs)


def test_a_paused_dag_is_refused_and_not_triggered(airflow_api, runs):
    airflow_api.paused = True

    with pytest.raises(DagPaused) as refused:
        runs.trigger("tributary_preprocess", {"dataset": "ds"}, TOKEN)

    assert [r.method for r in airflow_api.requests] == ["GET"]
    assert "`airflow dags unpause tributary_preprocess`" in str(refused.value)


@pytest.mark.parametrize(
    ("method", "status", "error"),
    [
        pytest.param("POST", 401, RunRefused, id="401"),
        pytest.param("POST", 403, RunRefused, id="403"),
        pytest.param("GET", 404, NotFound, id="404-unknown-dag"),
        pytest.param("POST", 409, Conflict, id="409"),
        pytest.param("POST", 422, InvalidInput, id="422"),
        pytest.param("POST", 400, InvalidInput, id="400"),
        pytest.param("POST", 500, RunNotStarted, id="500"),
    ],
)
def test_airflows_refusals_become_tributary_errors(airflow_api, runs, method, status, error):
    airflow_api.refuse = (method, status)

    with pytest.raises(error) as refused:
        runs.trigger("tributary_upstream_sync", {"dataset": "ds"}, TOKEN)

    message = str(refused.value)
    assert message.startswith("tributary_upstream_sync not started: Airflow answered")
    assert "refused by Airflow" in message
    assert "\n" not in message and TOKEN not in message
    assert isinstance(refused.value, TributaryError)  # the API answers it as one line
    if status in (401, 403):
        assert refused.value.http_status == status


def test_an_unreachable_airflow_is_a_run_not_started(airflow_api, runs):
    airflow_api.unreachable = True

    with pytest.raises(RunNotStarted, match=r"not reachable at http://airflow\.test:8080"):
        runs.trigger("tributary_upstream_sync", {"dataset": "ds"}, TOKEN)


def test_the_use_cases_client_speaks_with_the_callers_token(airflow_api, runs):
    from tributary.usecases.airflow_runs import trigger_dag

    run = trigger_dag("tributary_initial_sync", {"dataset": "ds"}, client=runs.client(TOKEN))

    assert run.run_id == "manual__2026-12-05"
    assert [r.method for r in airflow_api.requests] == ["GET", "POST"]
    assert {r.headers["Authorization"] for r in airflow_api.requests} == {f"Bearer {TOKEN}"}


def test_the_base_url_is_tributarys_airflow_url_without_credentials(airflow_api, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_AIRFLOW_URL", "http://robot:pw@airflow.internal:8080/")
    AirflowRuns().trigger("tributary_upstream_sync", {"dataset": "ds"}, TOKEN)

    assert {str(r.url.copy_with(path="/")) for r in airflow_api.requests} == {
        "http://airflow.internal:8080/"
    }
    assert {r.headers["Authorization"] for r in airflow_api.requests} == {f"Bearer {TOKEN}"}


def test_the_base_url_falls_back_to_airflows_config(monkeypatch):
    monkeypatch.delenv("TRIBUTARY_AIRFLOW_URL", raising=False)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example:9999")
    assert api_base_url() == "http://airflow.example:9999"

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")
    monkeypatch.setenv("AIRFLOW__API__PORT", "8181")
    assert api_base_url() == "http://localhost:8181"


# -- downstream syncs after uploads ---------------------------------------------------------


class BlockingRuns:
    """Records triggers; the first one waits until released (a slow Airflow)."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict, str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail = fail
        self.queued_for: set[str] = set()

    def queued(self, dag_id: str, dataset: str, token: str) -> bool:
        return dataset in self.queued_for

    def trigger(self, dag_id: str, conf: dict, token: str) -> dict:
        self.calls.append((dag_id, conf, token))
        self.started.set()
        assert self.release.wait(10)
        if self.fail is not None:
            raise self.fail
        return {"dag_id": dag_id, "dag_run_id": f"manual__{len(self.calls)}"}


def test_a_drain_request_returns_at_once_and_triggers_in_the_background():
    runs = BlockingRuns()
    drains = AirflowDrains(runs=runs)

    drains.request("ds", "t1")  # returns although the trigger blocks

    assert runs.started.wait(10)
    runs.release.set()
    drains.wait_idle()
    assert runs.calls == [(DOWNSTREAM_SYNC, {"dataset": "ds"}, "t1")]


def test_requests_during_a_trigger_coalesce_into_one_per_dataset():
    runs = BlockingRuns()
    drains = AirflowDrains(runs=runs, max_workers=4)

    drains.request("ds", "t1")
    assert runs.started.wait(10)
    for token in ("t2", "t3", "t4"):  # a burst of uploads while the first is being sent
        drains.request("ds", token)
    drains.request("other", "t5")
    runs.release.set()
    drains.wait_idle()

    calls = [(conf["dataset"], token) for _, conf, token in runs.calls]
    assert sorted(calls) == [("ds", "t1"), ("ds", "t4"), ("other", "t5")]


def test_a_failed_drain_request_is_logged_without_the_token_and_never_raised(caplog):
    runs = BlockingRuns(fail=RunRefused("tributary_downstream_sync not started: 403"))
    runs.release.set()
    drains = AirflowDrains(runs=runs)

    with caplog.at_level(logging.INFO, logger="tributary.api.airflow"):
        drains.request("ds", TOKEN)
        drains.wait_idle()

    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "Downstream sync of dataset 'ds' not started: tributary_downstream_sync not started: 403"
    )
    assert TOKEN not in caplog.text


def test_an_unexpected_error_is_logged_too(caplog):
    runs = BlockingRuns(fail=RuntimeError("boom"))
    runs.release.set()
    drains = AirflowDrains(runs=runs)

    with caplog.at_level(logging.INFO, logger="tributary.api.airflow"):
        drains.request("ds", TOKEN)
        drains.wait_idle()
        drains.request("ds", TOKEN)  # the dataset is not stuck as "being sent"
        drains.wait_idle()

    assert len(runs.calls) == 2
    assert [r.getMessage() for r in caplog.records] == [
        "Downstream sync of dataset 'ds' not started"
    ] * 2
    assert TOKEN not in caplog.text


def test_no_request_while_a_run_for_the_dataset_waits_in_airflow(caplog):
    runs = BlockingRuns()
    runs.release.set()
    runs.queued_for = {"busy"}
    drains = AirflowDrains(runs=runs)

    with caplog.at_level(logging.INFO, logger="tributary.api.airflow"):
        drains.request("busy", "t1")
        drains.request("idle", "t2")
        drains.wait_idle()

    assert [conf["dataset"] for _, conf, _ in runs.calls] == ["idle"]
    assert "Downstream sync of dataset 'busy' already queued" in caplog.text


@pytest.mark.parametrize(
    ("conf", "covered"),
    [
        pytest.param({"dataset": "ds"}, True, id="this-dataset"),
        pytest.param({}, True, id="every-dataset"),
        pytest.param({"dataset": None}, True, id="every-dataset-null"),
        pytest.param({"dataset": "other"}, False, id="another-dataset"),
    ],
)
def test_queued_asks_airflow_for_runs_not_started(monkeypatch, runs, conf, covered):
    seen = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"dag_runs": [{"conf": conf, "state": "queued"}]})

    answer_with(monkeypatch, handle)

    assert runs.queued(DOWNSTREAM_SYNC, "ds", TOKEN) is covered
    (asked,) = seen
    assert asked.url.path == f"/api/v2/dags/{DOWNSTREAM_SYNC}/dagRuns"
    assert asked.url.params["state"] == "queued"
    assert asked.headers["Authorization"] == f"Bearer {TOKEN}"


def test_drains_over_real_runs_reach_airflow(airflow_api):
    drains = AirflowDrains(runs=AirflowRuns(base_url=lambda: "http://airflow.test:8080"))

    drains.request("ds", TOKEN)
    drains.wait_idle()

    queued, look, post = airflow_api.requests
    assert (queued.method, queued.url.params["state"]) == ("GET", "queued")
    assert (look.method, post.method) == ("GET", "POST")
    assert post.url.path == f"/api/v2/dags/{DOWNSTREAM_SYNC}/dagRuns"
    assert json.loads(post.content)["conf"] == {"dataset": "ds"}
