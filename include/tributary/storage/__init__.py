"""Storage: one ``ObjectStore`` interface and an adapter per provider."""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import TYPE_CHECKING

from tributary.config import internal_storage_driver, internal_storage_root
from tributary.storage.base import ObjectInfo, ObjectStore, StorageError

if TYPE_CHECKING:
    from tributary.catalog.datasets import Dataset
    from tributary.catalog.drivers import Driver

__all__ = [
    "ObjectInfo",
    "ObjectStore",
    "StorageError",
    "internal_driver",
    "open_dataset_store",
    "open_store",
]


def open_store(driver: Driver) -> ObjectStore:
    """The adapter for a driver, one per driver per process (building an SDK client costs
    ~0.2 s; the listing partitions of a sync share one). Provider SDKs load only when used.

    A local driver's folder is checked against ``TRIBUTARY_LOCAL_ROOTS`` at every open, not
    only when the driver was created: its catalog row may predate the setting, or its folder
    may have been re-pointed through a link since.
    """
    if driver.provider == "local":
        from tributary.storage.local import check_local_root

        check_local_root(driver.bucket)
    return _cached_store(driver)


@functools.lru_cache(maxsize=64)
def _cached_store(driver: Driver) -> ObjectStore:
    if driver.provider == "local":
        from tributary.storage.local import LocalStore

        return LocalStore(driver.bucket, driver.prefix)
    if driver.provider == "s3":
        from tributary.storage.s3 import S3Store

        return S3Store(
            driver.bucket,
            driver.prefix,
            conn_id=driver.conn_id,
            region=driver.region,
            storage_class=driver.storage_class,
        )
    if driver.provider == "azure":
        from tributary.storage.azure import AzureBlobStore

        return AzureBlobStore(
            driver.bucket, driver.prefix, conn_id=driver.conn_id, storage_class=driver.storage_class
        )
    if driver.provider == "gcs":
        from tributary.storage.gcs import GCSStore

        return GCSStore(
            driver.bucket, driver.prefix, conn_id=driver.conn_id, storage_class=driver.storage_class
        )
    raise ValueError(f"unknown provider {driver.provider!r}")


def open_dataset_store(dataset: Dataset) -> ObjectStore:
    """The store a dataset's files live in: its driver's, or the internal storage.

    The internal storage is the local folder ``TRIBUTARY_STORAGE_ROOT`` (one sub-folder
    per dataset), or in production the driver ``TRIBUTARY_STORAGE_DRIVER`` names: a dataset
    then lives under ``<driver folder>/<dataset name>/`` in that driver's bucket.
    """
    if dataset.driver is not None:
        return open_store(dataset.driver)
    from tributary.catalog.names import check_name

    # The name is a folder here: a catalog older than the name rules may hold a '..'.
    name = check_name("dataset", dataset.name)
    driver = internal_driver()
    if driver is not None:
        return open_store(dataclasses.replace(driver, path=f"{driver.prefix}{name}/"))
    from tributary.storage.local import LocalStore

    root = internal_storage_root() / name
    root.mkdir(parents=True, exist_ok=True)
    return LocalStore(str(root))


# The internal storage's driver, per (catalog, name), for this many seconds: a store is
# opened per task, batch and request, and the driver row changes rarely.
INTERNAL_DRIVER_TTL = 30.0
_internal_drivers: dict[tuple[str, str], tuple[float, Driver]] = {}


def internal_driver() -> Driver | None:
    """The driver holding the internal storage (``TRIBUTARY_STORAGE_DRIVER``), read from
    the catalog (kept for 30 seconds); None: the local folder.

    It reads the catalog in a transaction of its own: open a dataset's store outside any
    transaction of yours (SQLite's writers take turns).
    """
    name = internal_storage_driver()
    if name is None:
        return None
    from tributary.catalog import drivers as driver_queries
    from tributary.errors import DriverNotFound
    from tributary.hooks.catalog import open_catalog

    catalog = open_catalog()
    cached = _internal_drivers.get((catalog.url, name))
    if cached is not None and time.monotonic() - cached[0] < INTERNAL_DRIVER_TTL:
        return cached[1]
    with catalog.begin() as conn:
        try:
            driver = driver_queries.get(conn, name)
        except DriverNotFound:
            raise DriverNotFound(
                f"TRIBUTARY_STORAGE_DRIVER names the driver {name!r}, which does not exist; "
                "create it or unset the setting"
            ) from None
    _internal_drivers[catalog.url, name] = (time.monotonic(), driver)
    return driver
