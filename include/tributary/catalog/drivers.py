"""Storage drivers: one integration (Airflow connection) bound to one bucket and prefix."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tributary.catalog.names import check_name
from tributary.catalog.schema import drivers
from tributary.config import outside_local_roots
from tributary.errors import DriverNotFound, InvalidInput, NotFound

PROVIDERS = ("local", "s3", "azure", "gcs")


@dataclass(frozen=True)
class Driver:
    """A storage driver as stored in the catalog."""

    id: int
    name: str
    provider: str
    conn_id: str | None
    bucket: str
    path: str
    storage_class: str
    region: str | None
    allow_delete: bool

    @property
    def prefix(self) -> str:
        """The folder path as a key prefix: no leading slash, one trailing slash, or ''."""
        return normalise_prefix(self.path)

    def as_dict(self) -> dict:
        """A JSON-ready view (holds no secret: credentials live in the connection)."""
        return asdict(self)


def normalise_prefix(path: str | None) -> str:
    """``/a/b`` → ``a/b/``; empty or ``/`` → ``''``."""
    cleaned = (path or "").strip().strip("/")
    return f"{cleaned}/" if cleaned else ""


def build(
    *,
    name: str,
    provider: str,
    bucket: str,
    conn_id: str | None = None,
    path: str = "",
    storage_class: str = "standard",
    region: str | None = None,
    allow_delete: bool = False,
) -> Driver:
    """A validated, not yet stored driver (id 0), so it can be probed before it is kept."""
    if provider not in PROVIDERS:
        raise InvalidInput(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
    check_name("driver", name)
    if not bucket.strip():
        raise InvalidInput("a driver needs a bucket (a directory for the local provider)")
    if provider != "local" and not conn_id:
        raise InvalidInput(f"a {provider} driver needs conn_id (an Airflow connection id)")
    if ".." in (path or "").split("/"):
        # Every provider: a key prefix with '..' leaves the folder on disk, and on a cloud
        # bucket it is a trap (a literal '..' prefix, or another tool resolving it).
        raise InvalidInput(f"a driver path may not contain '..': {path!r}")
    if provider == "local":
        # Workers run elsewhere than the shell that created the driver: keep no relative path.
        bucket = str(Path(bucket).expanduser().resolve())
        # Drivers come from the REST API too: a local one may not reach any folder at all.
        if reason := outside_local_roots(bucket):
            raise InvalidInput(reason)
    return Driver(
        id=0,
        name=name,
        provider=provider,
        conn_id=conn_id,
        bucket=bucket,
        path=normalise_prefix(path),
        storage_class=storage_class or "standard",
        region=region,
        allow_delete=allow_delete,
    )


def ensure_name_free(conn: Connection, name: str) -> None:
    """Raise when a driver called ``name`` exists already."""
    if conn.execute(sa.select(drivers.c.id).where(drivers.c.name == name)).first():
        raise InvalidInput(f"driver {name!r} already exists")


def insert(conn: Connection, driver: Driver, check: dict | None = None) -> Driver:
    """Store a built driver (with its probe results, if any); names are unique."""
    ensure_name_free(conn, driver.name)
    now = dt.datetime.now(dt.UTC)
    fields = {k: v for k, v in driver.as_dict().items() if k != "id"}
    conn.execute(
        drivers.insert().values(
            **fields,
            last_check=check,
            last_check_at=now if check else None,
            failing_since=now if check and not check["ok"] else None,
            created_at=now,
        )
    )
    return get(conn, driver.name)


def create(conn: Connection, **fields) -> Driver:
    """Build and store a driver without probing it (tests and scripts)."""
    return insert(conn, build(**fields))


def _from_row(row) -> Driver:
    values = {f.name: row._mapping[f.name] for f in dataclasses.fields(Driver)}
    return Driver(**{**values, "allow_delete": bool(values["allow_delete"])})


def get(conn: Connection, name: str) -> Driver:
    """The driver called ``name``."""
    row = conn.execute(sa.select(drivers).where(drivers.c.name == name)).first()
    if row is None:
        raise DriverNotFound(f"no driver named {name!r}")
    return _from_row(row)


def get_by_id(conn: Connection, driver_id: int) -> Driver:
    """The driver with this id."""
    row = conn.execute(sa.select(drivers).where(drivers.c.id == driver_id)).first()
    if row is None:
        raise NotFound(f"no driver with id {driver_id}")
    return _from_row(row)


def list_all(conn: Connection) -> list[Driver]:
    """Every driver, by name."""
    return [_from_row(r) for r in conn.execute(sa.select(drivers).order_by(drivers.c.name))]


def record_check(conn: Connection, name: str, results: dict) -> dt.datetime | None:
    """Store the latest permission-probe results of a driver; returns since when its
    checks fail (None when this one passed).

    A failing check keeps the time of the first failure of its streak, so a driver broken
    for a week reads "failing since" that day, not since this morning's check.
    """
    now = dt.datetime.now(dt.UTC)
    failing_since = (
        sa.func.coalesce(drivers.c.failing_since, now) if not results["ok"] else sa.null()
    )
    conn.execute(
        drivers.update()
        .where(drivers.c.name == name)
        .values(last_check=results, last_check_at=now, failing_since=failing_since)
    )
    return check_status(conn, name).failing_since


@dataclass(frozen=True)
class CheckStatus:
    """A driver's latest permission-probe results (None: never probed) and since when its
    checks fail (None: they pass, or it was never probed)."""

    last_check: dict | None
    failing_since: dt.datetime | None


def check_status(conn: Connection, name: str) -> CheckStatus:
    """The driver's latest check and since when its checks fail."""
    row = conn.execute(
        sa.select(drivers.c.last_check, drivers.c.failing_since).where(drivers.c.name == name)
    ).first()
    if row is None:
        raise DriverNotFound(f"no driver named {name!r}")
    return CheckStatus(row.last_check, _aware(row.failing_since))


def last_check(conn: Connection, name: str) -> dict | None:
    """The latest permission-probe results of a driver, if it was ever probed."""
    return conn.execute(sa.select(drivers.c.last_check).where(drivers.c.name == name)).scalar()


def delete(conn: Connection, driver_id: int) -> None:
    """Delete a driver's record (its connection and bucket are not Tributary's to touch).
    The caller checks first that no dataset uses it."""
    conn.execute(drivers.delete().where(drivers.c.id == driver_id))


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands timestamps back without their zone; every one stored here is UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment
