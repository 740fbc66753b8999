"""Datasets: create (and start the initial sync), change the policy, quotas, list, show
everything about one, delete one."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import sqlalchemy as sa

from tributary import config
from tributary.airflow_rest import AirflowClient
from tributary.catalog import Catalog
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import outbox as outbox_queries
from tributary.catalog import preprocessing as preprocessing_queries
from tributary.catalog import syncs as sync_queries
from tributary.catalog.datasets import CATALOG_SCOPE, Dataset, QuotaUsage
from tributary.catalog.syncs import RunAlive
from tributary.errors import InvalidInput, SyncLocked, TributaryError
from tributary.storage import StorageError, open_dataset_store
from tributary.usecases.airflow_runs import RunNotStarted, TriggeredRun
from tributary.usecases.syncs import SyncRunSummary, start_initial_sync

log = logging.getLogger(__name__)

SHARED_LANE_NAMES = ("", "shared")
LAST_RUNS = 5  # sync runs a dataset's report shows


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


def _quota_scope(conn, name: str) -> str:
    if name == CATALOG_SCOPE:
        return CATALOG_SCOPE
    return dataset_queries.quota_scope(dataset_queries.get(conn, name).id)


def set_quota(catalog: Catalog, name: str, max_data_points: int | None) -> QuotaUsage:
    """Set (None: remove) the data-point quota of a dataset, or of the whole catalog when
    ``name`` is ``catalog``; returns the quota and its use after the change."""
    with catalog.begin() as conn:
        scope = _quota_scope(conn, name)
        dataset_queries.set_quota(conn, scope, max_data_points)
        return dataset_queries.quota_usage(conn, scope)


def quota_usage(catalog: Catalog, name: str) -> QuotaUsage:
    """The data-point quota of a dataset (or of the catalog, ``name`` ``catalog``): its
    limit, the data points used and those available."""
    with catalog.begin() as conn:
        return dataset_queries.quota_usage(conn, _quota_scope(conn, name))


def list_datasets(catalog: Catalog) -> list[dict]:
    """Every dataset, by name, with its storage, item counts, quota and policy."""
    with catalog.begin() as conn:
        return dataset_queries.list_all(conn)


@dataclass(frozen=True)
class DatasetReport:
    """Everything known about one dataset: where its files are, its policy, its quota,
    its items per state and per preprocessing state, and its last sync runs."""

    dataset: Dataset
    storage: str
    quota: QuotaUsage
    items: dict[str, int]
    preprocessing: dict[str, int]
    locked_by: int | None
    last_runs: list[SyncRunSummary]

    def as_dict(self) -> dict:
        """The JSON shape (``dataset show --json`` today, the REST API tomorrow)."""
        dataset = self.dataset
        return {
            "name": dataset.name,
            "driver": dataset.driver.name if dataset.driver else None,
            "provider": dataset.driver.provider if dataset.driver else "internal",
            "storage": self.storage,
            "folder": dataset.folder,
            "lane": dataset.lane or "shared",
            "sync": {
                "enabled": dataset.sync_enabled,
                "ghost_grace_days": dataset.ghost_grace_days,
                "mass_delete_threshold": dataset.mass_delete_threshold,
            },
            "quota": self.quota.as_dict(),
            "items": self.items,
            "preprocessing": self.preprocessing,
            "locked_by_sync": self.locked_by,
            "last_runs": [asdict(run) for run in self.last_runs],
        }


def describe_dataset(catalog: Catalog, name: str, *, runs: int = LAST_RUNS) -> DatasetReport:
    """Everything known about one dataset, read in one transaction."""
    with catalog.begin() as conn:
        dataset = dataset_queries.get(conn, name)
        return DatasetReport(
            dataset=dataset,
            storage=dataset_queries.storage_of(dataset.driver),
            quota=dataset_queries.quota_usage(conn, dataset_queries.quota_scope(dataset.id)),
            items=dataset_queries.item_counts(conn, dataset.id),
            preprocessing=preprocessing_queries.states(conn, dataset.id),
            locked_by=sync_queries.lock_holder(conn, dataset.id),
            last_runs=[
                SyncRunSummary.from_record(record)
                for record in sync_queries.history(conn, name, limit=runs)
            ],
        )


class DatasetBusy(SyncLocked):
    """A dataset cannot be deleted while one of its syncs is running."""

    permanent = False  # the sync ends: asking again then goes through

    def __init__(self, dataset: str, reason: str) -> None:
        super().__init__(f"dataset {dataset!r} not deleted: {reason}")
        self.dataset = dataset


@dataclass(frozen=True)
class DeletedDataset:
    """What deleting a dataset removed; ``thumbnails_left`` says why some thumbnails stay
    in the hidden folder (None: every one went)."""

    name: str
    items: int
    sync_runs: int
    thumbnails_deleted: int
    thumbnails_left: str | None


def delete_dataset(
    catalog: Catalog, name: str, *, run_alive: RunAlive | None = None
) -> DeletedDataset:
    """Delete a dataset: its items, sync history, staging rows and lock in one catalog
    transaction, then its thumbnails from the hidden folder (best effort). The files of
    its bucket or folder are never touched: they are the user's, not Tributary's.

    Refused (``DatasetBusy``) while a sync of it is running: deleting under a live sync
    would leave it writing items of a dataset that no longer exists; and while uploads or
    bucket deletes wait in its outbox (their bytes and decisions would be lost). A sync counts as
    over by the lock's takeover rule (``run_alive``, or no heartbeat for an hour).
    """
    try:
        with catalog.begin() as conn:
            dataset = dataset_queries.get(conn, name)
            live = sync_queries.live_syncs(conn, dataset.id, run_alive=run_alive)
            if live:
                raise DatasetBusy(name, sync_queries.held_by(live[0]))
            waiting = outbox_queries.waiting_writes(conn, dataset.id)
            if waiting:
                # Deleting now would strand uploaded bytes in the hidden folder and forget
                # deletes a user asked for: let the drain carry them to the bucket first.
                raise DatasetBusy(
                    name,
                    f"{waiting} upload(s) or delete(s) are still on their way to the bucket; "
                    "the downstream sync (tributary_downstream_sync) applies them, then the "
                    "dataset can be deleted",
                )
            outbox_queries.forget_dataset(conn, dataset.id)
            sync_runs = sync_queries.delete_history(conn, dataset.id)
            items = dataset_queries.delete(conn, dataset.id)
    except sa.exc.IntegrityError as exc:
        # PostgreSQL: a sync inserted its run between our check and our delete; its row
        # refers to the dataset, so the whole transaction was rolled back.
        raise DatasetBusy(name, "a sync of it started meanwhile; nothing was deleted") from exc
    deleted, left = delete_thumbnails(dataset)
    return DeletedDataset(name, items, sync_runs, deleted, left)


def thumbnail_folder(store_hidden_prefix: str, dataset_id: int) -> str:
    """The folder holding one dataset's thumbnails (see preprocess.batch.thumbnail_key):
    per dataset id, so datasets sharing a bucket never share one."""
    return f"{store_hidden_prefix}thumbnails/{dataset_id}/"


def delete_thumbnails(dataset: Dataset) -> tuple[int, str | None]:
    """Delete a deleted dataset's thumbnails, page by page as the storage lists them.

    Best effort, after the catalog is committed (as the purge of tombstones does): a
    storage error stops it, is logged and returned; the thumbnails left are orphans that
    nothing refers to. Returns (deleted, why some are left or None).
    """
    deleted = 0
    try:
        store = open_dataset_store(dataset)
        folder = thumbnail_folder(store.hidden_prefix, dataset.id)
        for page in store.list_raw(folder):
            for obj in page:
                if obj.key.startswith(folder):  # never anything outside the hidden folder
                    store.delete(obj.key)
                    deleted += 1
    except StorageError as exc:
        log.warning("Deleted %d thumbnails of dataset %s, then: %s", deleted, dataset.name, exc)
        return deleted, str(exc)
    return deleted, None
