"""Preprocessing: start a run for a dataset, and its items per preprocessing state."""

from __future__ import annotations

from tributary.airflow_rest import AirflowClient
from tributary.catalog import Catalog
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import preprocessing as preprocessing_queries
from tributary.usecases.airflow_runs import TriggeredRun, trigger_dag

PREPROCESS_DAG = "tributary_preprocess"


def start_preprocessing(
    catalog: Catalog, dataset: str, *, force: bool = False, client: AirflowClient | None = None
) -> TriggeredRun:
    """Start preprocessing (metadata + thumbnails) of a dataset's pending items through
    Airflow; with ``force``, of every item."""
    with catalog.begin() as conn:
        dataset_queries.get(conn, dataset)
    return trigger_dag(PREPROCESS_DAG, {"dataset": dataset, "force": force}, client=client)


def preprocessing_states(catalog: Catalog, dataset: str) -> dict[str, int]:
    """A dataset's active items per preprocessing state: pending, done, failed."""
    with catalog.begin() as conn:
        dataset_id = dataset_queries.get(conn, dataset).id
        return preprocessing_queries.states(conn, dataset_id)
