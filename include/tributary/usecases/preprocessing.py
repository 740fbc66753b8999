"""Preprocessing: start a run for a dataset, and its items per preprocessing state."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from tributary.airflow_rest import AirflowClient
from tributary.catalog import Catalog
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import items as item_queries
from tributary.catalog import preprocessing as preprocessing_queries
from tributary.usecases.airflow_runs import TriggeredRun, trigger_dag

PREPROCESS_DAG = "tributary_preprocess"
FAILED_SAMPLE = 5  # failed items a preprocessing outcome names


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


@dataclass(frozen=True)
class PreprocessingOutcome:
    """A dataset's active items per preprocessing state, and a few of the failed ones
    (``{"path", "error"}``, in path order) so a failure is named, not only counted."""

    counts: dict[str, int]
    failed: list[dict]


def preprocessing_outcome(
    catalog: Catalog, dataset: str, *, sample: int = FAILED_SAMPLE
) -> PreprocessingOutcome:
    """Where a dataset's preprocessing stands: counts per state and a few failed items
    with their reasons."""
    with catalog.begin() as conn:
        dataset_id = dataset_queries.get(conn, dataset).id
        counts = preprocessing_queries.states(conn, dataset_id)
        failed = item_queries.iterate(conn, dataset, "active", preprocess_state="failed")
        named = [
            {"path": row["path"], "error": row["preprocess_error"]}
            for row in itertools.islice(failed, sample if counts["failed"] else 0)
        ]
        failed.close()  # ends the server-side cursor before the transaction does
    return PreprocessingOutcome(counts, named)
