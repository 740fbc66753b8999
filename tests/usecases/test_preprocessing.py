"""Preprocessing: starting a run through Airflow, and the items per state."""

from __future__ import annotations

import pytest

from tests.sync.upstream_steps import upstream_sync
from tributary.catalog.schema import items
from tributary.errors import DatasetNotFound
from tributary.usecases.datasets import create_dataset
from tributary.usecases.drivers import create_driver
from tributary.usecases.preprocessing import preprocessing_states, start_preprocessing


@pytest.fixture
def dataset(catalog, bucket):
    create_driver(catalog, name="d", provider="local", bucket=str(bucket))
    create_dataset(catalog, name="ds", driver="d", start_sync=False)
    upstream_sync(catalog, "ds")
    return "ds"


def test_a_run_is_started_with_force(catalog, dataset, airflow):
    run = start_preprocessing(catalog, dataset, force=True, client=airflow)

    conf = {"dataset": "ds", "force": True}
    assert airflow.calls[-1] == ("trigger", "tributary_preprocess", conf)
    assert run.dag_id == "tributary_preprocess"


def test_an_unknown_dataset_asks_nothing_of_airflow(catalog, airflow):
    with pytest.raises(DatasetNotFound):
        start_preprocessing(catalog, "nope", client=airflow)

    assert airflow.calls == []


def test_items_are_counted_per_state(catalog, dataset):
    assert preprocessing_states(catalog, dataset) == {"pending": 2, "done": 0, "failed": 0}
    with catalog.begin() as conn:
        conn.execute(items.update().where(items.c.path == "/b.png").values(preprocess_state="done"))

    assert preprocessing_states(catalog, dataset) == {"pending": 1, "done": 1, "failed": 0}


def test_the_outcome_names_failed_items_with_their_reason(catalog, dataset):
    from tributary.usecases.preprocessing import preprocessing_outcome

    assert preprocessing_outcome(catalog, dataset).failed == []
    with catalog.begin() as conn:
        conn.execute(
            items.update().values(preprocess_state="failed", preprocess_error="truncated file")
        )

    outcome = preprocessing_outcome(catalog, dataset, sample=1)

    assert outcome.counts == {"pending": 0, "done": 0, "failed": 2}
    assert outcome.failed == [{"path": "/b.png", "error": "truncated file"}]
