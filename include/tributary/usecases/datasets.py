"""Datasets: create (and start the initial sync), change the policy, quotas, list."""

from __future__ import annotations

from dataclasses import dataclass

from tributary import config
from tributary.airflow_rest import AirflowClient
from tributary.catalog import Catalog
from tributary.catalog import datasets as dataset_queries
from tributary.catalog.datasets import Dataset
from tributary.errors import InvalidInput, TributaryError
from tributary.usecases.airflow_runs import RunNotStarted, TriggeredRun
from tributary.usecases.syncs import start_initial_sync

SHARED_LANE_NAMES = ("", "shared")
CATALOG_SCOPE = "catalog"


class InitialSyncNotStarted(TributaryError):
    """The dataset was created, but Airflow could not start its initial sync."""

    permanent = False  # the sync can be started later

    def __init__(self, dataset: str, reason: RunNotStarted) -> None:
        super().__init__(f"{reason}. The dataset exists; start its sync later")
        self.dataset = dataset


@dataclass(frozen=True)
class CreatedDataset:
    """A new dataset and the run of its initial sync (None when it was not asked for)."""

    dataset: Dataset
    initial_sync: TriggeredRun | None


def known_lane(lane: str | None) -> str | None:
    """The lane as given, once checked against TRIBUTARY_LANES ('' and 'shared': the
    shared lane, returned as ''); None stays None (no change)."""
    if lane is None:
        return None
    if lane in SHARED_LANE_NAMES:
        return ""
    if lane not in config.lanes():
        raise InvalidInput(
            f"lane {lane!r} is not defined; define it in TRIBUTARY_LANES (JSON, e.g. "
            f'\'{{"{lane}": {{"pool": "tributary_{lane}", "queue": "{lane}"}}}}\') '
            "for the CLI and for Airflow"
        )
    return lane


def create_dataset(
    catalog: Catalog,
    *,
    name: str,
    driver: str | None = None,
    quota: int | None = None,
    sync_enabled: bool = True,
    folder: str = "",
    ghost_grace_days: int = 7,
    mass_delete_threshold: float = 0.1,
    lane: str | None = None,
    start_sync: bool = True,
    client: AirflowClient | None = None,
) -> CreatedDataset:
    """Create a dataset (``driver`` None: the internal storage) and, with ``start_sync``,
    start its initial sync. When Airflow cannot start it the dataset stays and
    ``InitialSyncNotStarted`` says so."""
    with catalog.begin() as conn:
        dataset = dataset_queries.create(
            conn,
            name=name,
            driver_name=driver,
            quota=quota,
            sync_enabled=sync_enabled,
            folder=folder,
            ghost_grace_days=ghost_grace_days,
            mass_delete_threshold=mass_delete_threshold,
            lane=known_lane(lane),
        )
    if not start_sync:
        return CreatedDataset(dataset, None)
    try:
        run = start_initial_sync(catalog, name, client=client)
    except RunNotStarted as exc:
        raise InitialSyncNotStarted(name, exc) from exc
    return CreatedDataset(dataset, run)


def update_dataset(
    catalog: Catalog,
    name: str,
    *,
    ghost_grace_days: int | None = None,
    mass_delete_threshold: float | None = None,
    sync_enabled: bool | None = None,
    lane: str | None = None,
) -> Dataset:
    """Change a dataset's sync policy or preprocessing lane (None keeps a value; lane ''
    or 'shared' puts it back in the shared lane)."""
    with catalog.begin() as conn:
        return dataset_queries.set_policy(
            conn,
            name,
            ghost_grace_days=ghost_grace_days,
            mass_delete_threshold=mass_delete_threshold,
            sync_enabled=sync_enabled,
            lane=known_lane(lane),
        )


def set_quota(catalog: Catalog, name: str, max_data_points: int | None) -> None:
    """Set (None: remove) the data-point quota of a dataset, or of the whole catalog when
    ``name`` is ``catalog``."""
    with catalog.begin() as conn:
        if name == CATALOG_SCOPE:
            scope = CATALOG_SCOPE
        else:
            scope = f"dataset:{dataset_queries.get(conn, name).id}"
        dataset_queries.set_quota(conn, scope, max_data_points)


def list_datasets(catalog: Catalog) -> list[dict]:
    """Every dataset, by name, with its storage, item count, quota and policy."""
    with catalog.begin() as conn:
        return dataset_queries.list_all(conn)
