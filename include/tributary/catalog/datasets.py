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
from tributary.catalog.schema import datasets, imports, items, quotas
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
    # "clone" or "merge" for a dataset made on the platform from others (never synced).
    origin: str | None = None
    origin_detail: str | None = None


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
        set_quota(conn, quota_scope(dataset_id), quota)
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
        origin=row.origin,
        origin_detail=row.origin_detail,
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


def _state_counts():
    """Items per dataset, active and tombstones apart: one grouped pass over the items."""
    return (
        sa.select(
            items.c.dataset_id,
            sa.func.count().filter(items.c.state == "active").label("active"),
            sa.func.count().filter(items.c.state == "ghost").label("ghost"),
            sa.func.count().filter(items.c.state == "deleted").label("deleted"),
        )
        .group_by(items.c.dataset_id)
        .subquery()
    )


def list_all(conn: Connection) -> list[dict]:
    """Every dataset with its driver name, item counts (active and ghost apart) and quota."""
    counts = _state_counts()
    scope = sa.literal(QUOTA_SCOPE_PREFIX) + sa.cast(datasets.c.id, sa.String)
    query = (
        sa.select(
            datasets.c.name,
            datasets.c.sync_enabled,
            datasets.c.folder,
            datasets.c.ghost_grace_days,
            datasets.c.mass_delete_threshold,
            datasets.c.lane,
            datasets.c.driver_id,
            sa.func.coalesce(counts.c.active, 0).label("active"),
            sa.func.coalesce(counts.c.ghost, 0).label("ghost"),
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
                "storage": storage_of(driver),
                "folder": row.folder,
                "sync_enabled": bool(row.sync_enabled),
                "ghost_grace_days": row.ghost_grace_days,
                "mass_delete_threshold": row.mass_delete_threshold,
                "lane": row.lane or "shared",
                # Tombstones apart: they hold data points until purged but are no files.
                "items": {"active": row.active, "ghost": row.ghost},
                "quota": row.quota,
            }
        )
    return result


def storage_of(driver: Driver | None) -> str:
    """Where a dataset's files are, for people: ``provider://bucket/prefix`` or internal."""
    return f"{driver.provider}://{driver.bucket}/{driver.prefix}" if driver else "internal"


def item_counts(conn: Connection, dataset_id: int) -> dict[str, int]:
    """A dataset's items per state: ``{"active": n, "ghost": n}``."""
    counts = _state_counts()
    row = conn.execute(sa.select(counts).where(counts.c.dataset_id == dataset_id)).first()
    return {"active": row.active if row else 0, "ghost": row.ghost if row else 0}


QUOTA_SCOPE_PREFIX = "dataset:"
CATALOG_SCOPE = "catalog"


def quota_scope(dataset_id: int) -> str:
    """The quotas-table scope of one dataset."""
    return f"{QUOTA_SCOPE_PREFIX}{dataset_id}"


@dataclass(frozen=True)
class QuotaUsage:
    """A scope's data-point quota and what is in use (None limit: no quota).

    ``used`` counts every item, tombstones too: a ghost holds its data point until it is
    purged, which is what the sync's quota check counts as well.
    """

    scope: str
    limit: int | None
    used: int

    @property
    def available(self) -> int | None:
        """Data points left (never below 0); None without a quota."""
        return None if self.limit is None else max(self.limit - self.used, 0)

    def as_dict(self) -> dict:
        """The JSON shape: limit, used, available."""
        return {"limit": self.limit, "used": self.used, "available": self.available}


def quota_usage(conn: Connection, scope: str) -> QuotaUsage:
    """The quota of ``scope`` (``catalog`` or ``dataset:<id>``) and the data points in use."""
    limit = conn.execute(
        sa.select(quotas.c.max_data_points).where(quotas.c.scope == scope)
    ).scalar()
    used = sa.select(sa.func.count()).where(items.c.state != "deleted")
    if scope != CATALOG_SCOPE:
        used = used.where(items.c.dataset_id == int(scope.removeprefix(QUOTA_SCOPE_PREFIX)))
    return QuotaUsage(scope, limit, conn.execute(used).scalar_one())


def names_using_driver(conn: Connection, driver_id: int) -> list[str]:
    """The datasets bound to a driver, by name."""
    query = sa.select(datasets.c.name).where(datasets.c.driver_id == driver_id)
    return list(conn.execute(query.order_by(datasets.c.name)).scalars())


def delete(conn: Connection, dataset_id: int) -> int:
    """Delete a dataset's items, its CSV imports, its quota and the dataset itself; returns
    the items deleted. Its sync history goes first (``syncs.delete_history``): those rows refer to
    the dataset."""
    deleted = conn.execute(items.delete().where(items.c.dataset_id == dataset_id)).rowcount
    conn.execute(imports.delete().where(imports.c.dataset_id == dataset_id))
    conn.execute(quotas.delete().where(quotas.c.scope == quota_scope(dataset_id)))
    conn.execute(datasets.delete().where(datasets.c.id == dataset_id))
    return deleted


def set_quota(conn: Connection, scope: str, max_data_points: int | None) -> None:
    """Set (or with None, remove) the data-point quota of a scope."""
    if max_data_points is not None and max_data_points < 0:
        raise InvalidInput("a quota is a number of data points, zero or more")
    conn.execute(quotas.delete().where(quotas.c.scope == scope))
    if max_data_points is not None:
        conn.execute(quotas.insert().values(scope=scope, max_data_points=max_data_points))
