"""Datasets: named sets of items, bound to a storage driver or to the internal storage."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tributary import folder_templates
from tributary.catalog import drivers as driver_queries
from tributary.catalog.drivers import Driver
from tributary.catalog.names import check_name
from tributary.catalog.schema import datasets, items, quotas
from tributary.errors import DatasetNotFound, InvalidInput, NotFound


@dataclass(frozen=True)
class Dataset:
    """A dataset and the driver it reads from (None: the internal storage)."""

    id: int
    name: str
    driver: Driver | None
    sync_enabled: bool
    folder: str = ""
    ghost_grace_days: int = 7
    mass_delete_threshold: float = 0.1
    lane: str | None = None


def create(
    conn: Connection,
    *,
    name: str,
    driver_name: str | None = None,
    quota: int | None = None,
    sync_enabled: bool = True,
    folder: str = "",
    ghost_grace_days: int = 7,
    mass_delete_threshold: float = 0.1,
    lane: str | None = None,
) -> Dataset:
    """Insert a dataset; the name must be new and the driver must exist."""
    check_name("dataset", name)
    _check_policy(ghost_grace_days, mass_delete_threshold)
    folder = normalise_folder(folder)
    if conn.execute(sa.select(datasets.c.id).where(datasets.c.name == name)).first():
        raise InvalidInput(f"dataset {name!r} already exists")
    driver = driver_queries.get(conn, driver_name) if driver_name else None
    dataset_id = conn.execute(
        datasets.insert()
        .values(
            name=name,
            driver_id=driver.id if driver else None,
            sync_enabled=sync_enabled,
            folder=folder,
            ghost_grace_days=ghost_grace_days,
            mass_delete_threshold=mass_delete_threshold,
            lane=lane or None,
            created_at=dt.datetime.now(dt.UTC),
        )
        .returning(datasets.c.id)
    ).scalar_one()
    if quota is not None:
        set_quota(conn, f"dataset:{dataset_id}", quota)
    return get(conn, name)


def normalise_folder(folder: str) -> str:
    """A dataset folder as a key prefix: no leading '/', one trailing '/', or empty."""
    folder = folder.strip().lstrip("/")
    if ".." in folder.split("/"):
        raise InvalidInput("a dataset folder may not contain '..'")
    folder_templates.check(folder)
    return f"{folder.rstrip('/')}/" if folder else ""


def _check_policy(ghost_grace_days: int | None, mass_delete_threshold: float | None) -> None:
    if ghost_grace_days is not None and ghost_grace_days < 0:
        raise InvalidInput("the ghost grace period is a number of days, zero or more")
    if mass_delete_threshold is not None and not 0 <= mass_delete_threshold <= 1:
        raise InvalidInput("the mass-delete threshold is a share of the items, from 0 to 1")


def set_policy(
    conn: Connection,
    name: str,
    *,
    ghost_grace_days: int | None = None,
    mass_delete_threshold: float | None = None,
    sync_enabled: bool | None = None,
    lane: str | None = None,
) -> Dataset:
    """Change a dataset's sync policy or preprocessing lane (None keeps a value; lane ""
    puts the dataset back in the shared lane)."""
    _check_policy(ghost_grace_days, mass_delete_threshold)
    dataset = get(conn, name)
    values = {
        "ghost_grace_days": ghost_grace_days,
        "mass_delete_threshold": mass_delete_threshold,
        "sync_enabled": sync_enabled,
    }
    values = {k: v for k, v in values.items() if v is not None}
    if lane is not None:
        values["lane"] = lane or None
    if values:
        conn.execute(datasets.update().where(datasets.c.id == dataset.id).values(**values))
    return get(conn, name)


def sync_enabled_names(conn: Connection) -> list[str]:
    """The datasets an unparameterised upstream sync covers."""
    query = sa.select(datasets.c.name).where(datasets.c.sync_enabled).order_by(datasets.c.name)
    return list(conn.execute(query).scalars())


def _from_row(conn: Connection, row) -> Dataset:
    driver = driver_queries.get_by_id(conn, row.driver_id) if row.driver_id else None
    return Dataset(
        id=row.id,
        name=row.name,
        driver=driver,
        sync_enabled=bool(row.sync_enabled),
        folder=row.folder,
        ghost_grace_days=row.ghost_grace_days,
        mass_delete_threshold=row.mass_delete_threshold,
        lane=row.lane,
    )


def get(conn: Connection, name: str) -> Dataset:
    """The dataset called ``name``."""
    row = conn.execute(sa.select(datasets).where(datasets.c.name == name)).first()
    if row is None:
        raise DatasetNotFound(f"no dataset named {name!r}")
    return _from_row(conn, row)


def get_by_id(conn: Connection, dataset_id: int) -> Dataset:
    """The dataset with this id."""
    row = conn.execute(sa.select(datasets).where(datasets.c.id == dataset_id)).first()
    if row is None:
        raise NotFound(f"no dataset with id {dataset_id}")
    return _from_row(conn, row)


def all_datasets(conn: Connection) -> list[Dataset]:
    """Every dataset, by name."""
    rows = conn.execute(sa.select(datasets).order_by(datasets.c.name)).all()
    return [_from_row(conn, row) for row in rows]


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
            datasets.c.folder,
            datasets.c.ghost_grace_days,
            datasets.c.mass_delete_threshold,
            datasets.c.lane,
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
                "folder": row.folder,
                "sync_enabled": bool(row.sync_enabled),
                "ghost_grace_days": row.ghost_grace_days,
                "mass_delete_threshold": row.mass_delete_threshold,
                "lane": row.lane or "shared",
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
