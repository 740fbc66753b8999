"""Datasets: named sets of items, bound to a storage driver or to the internal storage."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tributary.catalog import drivers as driver_queries
from tributary.catalog.drivers import Driver
from tributary.catalog.schema import datasets, items, quotas
from tributary.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class Dataset:
    """A dataset and the driver it reads from (None: the internal storage)."""

    id: int
    name: str
    driver: Driver | None
    sync_enabled: bool


def create(
    conn: Connection,
    *,
    name: str,
    driver_name: str | None = None,
    quota: int | None = None,
    sync_enabled: bool = True,
) -> Dataset:
    """Insert a dataset; the name must be new and the driver must exist."""
    if not name.strip() or "/" in name:
        raise InvalidInput("a dataset name must be non-empty and contain no '/'")
    if conn.execute(sa.select(datasets.c.id).where(datasets.c.name == name)).first():
        raise InvalidInput(f"dataset {name!r} already exists")
    driver = driver_queries.get(conn, driver_name) if driver_name else None
    dataset_id = conn.execute(
        datasets.insert()
        .values(
            name=name,
            driver_id=driver.id if driver else None,
            sync_enabled=sync_enabled,
            created_at=dt.datetime.now(dt.UTC),
        )
        .returning(datasets.c.id)
    ).scalar_one()
    if quota is not None:
        set_quota(conn, f"dataset:{dataset_id}", quota)
    return get(conn, name)


def _from_row(conn: Connection, row) -> Dataset:
    driver = driver_queries.get_by_id(conn, row.driver_id) if row.driver_id else None
    return Dataset(id=row.id, name=row.name, driver=driver, sync_enabled=bool(row.sync_enabled))


def get(conn: Connection, name: str) -> Dataset:
    """The dataset called ``name``."""
    row = conn.execute(sa.select(datasets).where(datasets.c.name == name)).first()
    if row is None:
        raise NotFound(f"no dataset named {name!r} (see: tributary dataset list)")
    return _from_row(conn, row)


def get_by_id(conn: Connection, dataset_id: int) -> Dataset:
    """The dataset with this id."""
    row = conn.execute(sa.select(datasets).where(datasets.c.id == dataset_id)).first()
    if row is None:
        raise NotFound(f"no dataset with id {dataset_id}")
    return _from_row(conn, row)


def list_all(conn: Connection) -> list[dict]:
    """Every dataset with its driver name, item count and quota."""
    counts = (
        sa.select(items.c.dataset_id, sa.func.count().label("n"))
        .group_by(items.c.dataset_id)
        .subquery()
    )
    scope = sa.literal("dataset:") + sa.cast(datasets.c.id, sa.String)
    query = (
        sa.select(
            datasets.c.name,
            datasets.c.sync_enabled,
            datasets.c.driver_id,
            sa.func.coalesce(counts.c.n, 0).label("items"),
            quotas.c.max_data_points.label("quota"),
        )
        .outerjoin(counts, counts.c.dataset_id == datasets.c.id)
        .outerjoin(quotas, quotas.c.scope == scope)
        .order_by(datasets.c.name)
    )
    result = []
    for row in conn.execute(query):
        driver = driver_queries.get_by_id(conn, row.driver_id) if row.driver_id else None
        result.append(
            {
                "name": row.name,
                "driver": driver.name if driver else None,
                "storage": f"{driver.provider}://{driver.bucket}/{driver.prefix}"
                if driver
                else "internal",
                "sync_enabled": bool(row.sync_enabled),
                "items": row.items,
                "quota": row.quota,
            }
        )
    return result


def set_quota(conn: Connection, scope: str, max_data_points: int | None) -> None:
    """Set (or with None, remove) the data-point quota of a scope."""
    if max_data_points is not None and max_data_points < 0:
        raise InvalidInput("a quota is a number of data points, zero or more")
    conn.execute(quotas.delete().where(quotas.c.scope == scope))
    if max_data_points is not None:
        conn.execute(quotas.insert().values(scope=scope, max_data_points=max_data_points))
