"""Sync runs (history, one run with a dry run's plan) and starting a sync or
preprocessing: Airflow runs, started with the caller's own token."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict

from tributary.api.auth import Reader, Writer
from tributary.api.deps import CatalogDep, RunsDep
from tributary.usecases import syncs
from tributary.usecases.datasets import describe_dataset
from tributary.usecases.preprocessing import PREPROCESS_DAG

router = APIRouter(tags=["syncs"])


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    allow_mass_delete: bool = False


class PreprocessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    force: bool = False


@router.get("/datasets/{dataset}/syncs")
def list_syncs(dataset: str, catalog: CatalogDep, _: Reader, limit: int = 50) -> dict:
    """The dataset's sync runs, newest first, with their counts."""
    return {"syncs": syncs.sync_history(catalog, dataset, limit=min(max(limit, 1), 500))}


@router.get("/datasets/{dataset}/syncs/{sync_id}")
def get_sync(dataset: str, sync_id: int, catalog: CatalogDep, _: Reader) -> dict:
    """One sync run: counts, partitions, error, and a dry run's plan."""
    return syncs.get_sync(catalog, dataset, sync_id)


@router.post("/datasets/{dataset}/sync", status_code=status.HTTP_202_ACCEPTED)
def start_sync(
    dataset: str, body: SyncRequest, catalog: CatalogDep, runs: RunsDep, caller: Writer
) -> dict:
    """Start an upstream sync (``dry_run``: plan only): ``{"dag_id", "dag_run_id"}``."""
    syncs.check_syncable(catalog, dataset)
    conf = {"dataset": dataset, **body.model_dump()}
    return runs.trigger(syncs.UPSTREAM_SYNC_DAG, conf, caller.token)


@router.post("/datasets/{dataset}/preprocess", status_code=status.HTTP_202_ACCEPTED)
def start_preprocess(
    dataset: str, body: PreprocessRequest, catalog: CatalogDep, runs: RunsDep, caller: Writer
) -> dict:
    """Start preprocessing the pending items (``force``: every item)."""
    describe_dataset(catalog, dataset, runs=0)  # 404 for an unknown dataset
    return runs.trigger(PREPROCESS_DAG, {"dataset": dataset, "force": body.force}, caller.token)
