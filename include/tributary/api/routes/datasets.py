"""Datasets: list, describe, create (starting the initial sync), update, quota, clone."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from tributary.api.auth import Reader, Writer
from tributary.api.deps import CatalogDep, RunsDep
from tributary.api.errors import one_line
from tributary.usecases import datasets as usecase
from tributary.usecases.edits import clone_dataset
from tributary.usecases.syncs import INITIAL_SYNC_DAG

router = APIRouter(tags=["datasets"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewDataset(Strict):
    name: str
    driver: str | None = Field(None, description="a driver's name; none: internal storage")
    folder: str = ""
    quota: int | None = Field(None, ge=0)
    sync: bool | None = Field(None, description="false: no initial or nightly sync")
    ghost_grace_days: int = Field(7, ge=0)
    mass_delete_threshold: float = Field(0.1, ge=0, le=1)
    lane: str | None = None


class DatasetSettings(Strict):
    ghost_grace_days: int | None = Field(None, ge=0)
    mass_delete_threshold: float | None = Field(None, ge=0, le=1)
    sync_enabled: bool | None = None
    lane: str | None = None


class Quota(Strict):
    limit: int | None = Field(..., ge=0, description="data points; null lifts the quota")


class CloneRequest(Strict):
    target: str
    driver: str | None = None


@router.get("/datasets")
def list_datasets(catalog: CatalogDep, _: Reader) -> dict:
    """Every dataset, with its storage, item counts, quota and policy."""
    return {"datasets": usecase.list_datasets(catalog)}


@router.get("/datasets/{dataset}")
def get_dataset(dataset: str, catalog: CatalogDep, _: Reader) -> dict:
    """One dataset: storage, policy, quota, items per state, last sync runs."""
    return usecase.describe_dataset(catalog, dataset).as_dict()


@router.post("/datasets", status_code=status.HTTP_201_CREATED)
def create_dataset(body: NewDataset, catalog: CatalogDep, runs: RunsDep, caller: Writer) -> dict:
    """A new dataset. On a driver its initial sync starts (``sync`` false: not now); the
    answer's ``initial_sync`` is the Airflow run, or why none started (the dataset stays)."""
    start_sync = body.sync is not False and body.driver is not None
    usecase.create_dataset(
        catalog,
        name=body.name,
        driver=body.driver,
        quota=body.quota,
        sync_enabled=body.sync is not False,
        folder=body.folder,
        ghost_grace_days=body.ghost_grace_days,
        mass_delete_threshold=body.mass_delete_threshold,
        lane=body.lane,
        start_sync=False,
    )
    answer = usecase.describe_dataset(catalog, body.name).as_dict()
    if start_sync:
        try:
            answer["initial_sync"] = runs.trigger(
                INITIAL_SYNC_DAG, {"dataset": body.name}, caller.token
            )
        except Exception as exc:  # the dataset is made: say why its sync did not start
            answer["initial_sync"] = {"error": one_line(exc)}
    return answer


@router.patch("/datasets/{dataset}")
def update_dataset(dataset: str, body: DatasetSettings, catalog: CatalogDep, _: Writer) -> dict:
    """Change the sync policy or the preprocessing lane (fields left out stay)."""
    usecase.update_dataset(catalog, dataset, **body.model_dump(exclude_unset=True))
    return usecase.describe_dataset(catalog, dataset).as_dict()


@router.get("/datasets/{dataset}/quota")
def get_quota(dataset: str, catalog: CatalogDep, _: Reader) -> dict:
    """The dataset's data-point quota: limit, used, available."""
    return usecase.quota_usage(catalog, dataset).as_dict()


@router.put("/datasets/{dataset}/quota")
def set_quota(dataset: str, body: Quota, catalog: CatalogDep, _: Writer) -> dict:
    """Set (or, with null, lift) the dataset's data-point quota."""
    return usecase.set_quota(catalog, dataset, body.limit).as_dict()


@router.post("/datasets/{dataset}/clone", status_code=status.HTTP_201_CREATED)
def clone(dataset: str, body: CloneRequest, catalog: CatalogDep, _: Writer) -> dict:
    """Clone the dataset's active items (metadata, not binaries where the storage is the
    same) into a new dataset, which can never be synced."""
    return clone_dataset(catalog, dataset, body.target, driver=body.driver)
