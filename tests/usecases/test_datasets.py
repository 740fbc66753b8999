"""Datasets: creation (with or without the initial sync), policy, lanes, quotas, listing."""

from __future__ import annotations

import pytest

from tributary.airflow_rest import AirflowUnreachable
from tributary.errors import DatasetNotFound, DriverNotFound, InvalidInput
from tributary.usecases.datasets import (
    InitialSyncNotStarted,
    create_dataset,
    known_lane,
    list_datasets,
    set_quota,
    update_dataset,
)
from tributary.usecases.drivers import create_driver


@pytest.fixture
def driver(catalog, bucket):
    return create_driver(catalog, name="d", provider="local", bucket=str(bucket)).driver


def test_creation_starts_the_initial_sync(catalog, driver, airflow):
    created = create_dataset(catalog, name="ds", driver="d", quota=5, client=airflow)

    assert created.dataset.driver == driver
    run = created.initial_sync
    assert (run.dag_id, run.dataset, run.airflow_url) == (
        "tributary_initial_sync",
        "ds",
        "http://airflow.test",
    )
    assert airflow.calls == [("trigger", "tributary_initial_sync", {"dataset": "ds"})]
    (listed,) = list_datasets(catalog)
    assert (listed["name"], listed["driver"], listed["quota"]) == ("ds", "d", 5)
    assert listed["items"] == {"active": 0, "ghost": 0}


def test_creation_without_sync_asks_nothing_of_airflow(catalog, airflow):
    created = create_dataset(catalog, name="ds", sync_enabled=False, start_sync=False)

    assert created.initial_sync is None and created.dataset.driver is None
    assert airflow.calls == []
    assert list_datasets(catalog)[0]["storage"] == "internal"


def test_the_dataset_stays_when_airflow_cannot_start_its_sync(catalog, airflow):
    airflow.refuse = AirflowUnreachable("Airflow is not reachable at http://airflow.test")

    with pytest.raises(InitialSyncNotStarted) as raised:
        create_dataset(catalog, name="ds", client=airflow)

    assert raised.value.dataset == "ds"
    assert str(raised.value) == (
        "tributary_initial_sync not started: Airflow is not reachable at http://airflow.test. "
        "The dataset exists; start its sync later"
    )
    assert [d["name"] for d in list_datasets(catalog)] == ["ds"]


def test_an_unknown_driver_creates_nothing(catalog, airflow):
    with pytest.raises(DriverNotFound):
        create_dataset(catalog, name="ds", driver="nope", client=airflow)

    assert list_datasets(catalog) == [] and airflow.calls == []


def test_an_undefined_lane_creates_nothing(catalog, airflow):
    with pytest.raises(InvalidInput, match="lane 'acme' is not defined"):
        create_dataset(catalog, name="ds", lane="acme", client=airflow)

    assert list_datasets(catalog) == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(None, None, id="unchanged"),
        pytest.param("", "", id="empty-is-shared"),
        pytest.param("shared", "", id="shared"),
        pytest.param("acme", "acme", id="defined"),
    ],
)
def test_known_lanes(monkeypatch, given, expected):
    monkeypatch.setenv("TRIBUTARY_LANES", '{"acme": {"pool": "p", "queue": "q"}}')

    assert known_lane(given) == expected


def test_the_policy_changes_and_keeps_what_is_not_given(catalog, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_LANES", '{"acme": {"pool": "p", "queue": "q"}}')
    create_dataset(catalog, name="ds", start_sync=False)

    changed = update_dataset(catalog, "ds", mass_delete_threshold=0.5, lane="acme")
    assert (changed.mass_delete_threshold, changed.lane, changed.ghost_grace_days) == (
        0.5,
        "acme",
        7,
    )
    back = update_dataset(catalog, "ds", sync_enabled=False, lane="shared")
    assert (back.sync_enabled, back.lane, back.mass_delete_threshold) == (False, None, 0.5)


def test_a_policy_out_of_range_is_refused(catalog):
    create_dataset(catalog, name="ds", start_sync=False)

    with pytest.raises(InvalidInput, match="from 0 to 1"):
        update_dataset(catalog, "ds", mass_delete_threshold=2)


def test_quotas_of_a_dataset_and_of_the_catalog(catalog):
    from tributary.catalog.schema import quotas

    create_dataset(catalog, name="ds", start_sync=False)

    set_quota(catalog, "ds", 10)
    set_quota(catalog, "catalog", 100)
    assert list_datasets(catalog)[0]["quota"] == 10
    set_quota(catalog, "ds", None)
    assert list_datasets(catalog)[0]["quota"] is None
    with catalog.begin() as conn:
        assert dict(conn.execute(quotas.select()).all()) == {"catalog": 100}


def test_an_unknown_dataset_is_named_without_a_command(catalog):
    with pytest.raises(DatasetNotFound, match=r"^no dataset named 'nope'$"):
        set_quota(catalog, "nope", 1)
    with pytest.raises(DatasetNotFound):
        update_dataset(catalog, "nope", sync_enabled=True)
