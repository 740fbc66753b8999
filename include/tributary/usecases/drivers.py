"""Storage drivers: create one (probed, kept only if the probe passes), check, list,
delete."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tributary.catalog import Catalog
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import drivers as driver_queries
from tributary.catalog.drivers import Driver
from tributary.errors import InvalidInput, PermissionsMissing, TributaryError
from tributary.storage import ObjectStore, StorageError, open_store
from tributary.storage.probe import probe


class DriverNotCreated(TributaryError):
    """A new driver failed its permission probe, so nothing was kept.

    ``driver`` is the driver as it would have been, ``check`` the probe's report: a front
    end shows which permission is missing.
    """

    permanent = True  # a person must grant the permission first

    def __init__(self, driver: Driver, check: dict) -> None:
        # A probe stopped by a missing bucket (or bad credentials, a dead endpoint) says so:
        # "a permission is missing" would send the user after the wrong cause.
        why = check.get("cause") or "a required permission is missing"
        super().__init__(f"driver {driver.name!r} not created: {why}")
        self.driver = driver
        self.check = check


class DriverFailing(PermissionsMissing):
    """A driver's check found required permissions missing (lost since an earlier check,
    or never granted: the same to whoever must grant them). ``driver`` is its name,
    ``missing`` the permissions, ``failing_since`` when its checks started failing."""

    permanent = True  # a person must grant the permission; probing again cannot

    def __init__(self, driver: str, missing: list[str], failing_since: dt.datetime) -> None:
        super().__init__(
            f"driver {driver!r} is missing a required permission: {'; '.join(missing)} "
            f"(failing since {failing_since:%Y-%m-%d %H:%M} UTC); grant it, then "
            f"`tributary driver check {driver}` clears the failure"
        )
        self.driver = driver
        self.missing = missing
        self.failing_since = failing_since


@dataclass(frozen=True)
class ProbedDriver:
    """A driver and the report of the permission probe just run on it (with, once the
    report is recorded, since when the driver's checks fail)."""

    driver: Driver
    check: dict
    failing_since: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        """True when every required permission holds."""
        return bool(self.check["ok"])


@dataclass(frozen=True)
class DriverStatus:
    """A driver with the result of its last permission probe (None: never probed)."""

    driver: Driver
    last_check: dict | None
    failing_since: dt.datetime | None = None

    @property
    def check_ok(self) -> bool | None:
        """Whether the last probe passed; None when the driver was never probed."""
        return self.last_check["ok"] if self.last_check else None

    def as_dict(self) -> dict:
        """The driver's JSON shape with ``check_ok`` and ``failing_since``."""
        return {
            **self.driver.as_dict(),
            "check_ok": self.check_ok,
            "failing_since": self.failing_since,
        }


def create_driver(
    catalog: Catalog,
    *,
    name: str,
    provider: str,
    bucket: str,
    conn_id: str | None = None,
    path: str = "",
    storage_class: str = "standard",
    region: str | None = None,
    allow_delete: bool = False,
) -> ProbedDriver:
    """Create a driver: validate it, probe its permissions, keep it only if they hold.

    Raises ``InvalidInput`` (a bad field, a taken name, a folder path naming one file),
    ``ConnectionNotFound`` (Airflow has no such connection) or ``DriverNotCreated`` (the
    probe failed; it carries the report).
    """
    driver = driver_queries.build(
        name=name,
        provider=provider,
        bucket=bucket,
        conn_id=conn_id,
        path=path,
        storage_class=storage_class,
        region=region,
        allow_delete=allow_delete,
    )
    with catalog.begin() as conn:
        driver_queries.ensure_name_free(conn, name)
    require_connection(driver, f"driver {name!r} not created")
    store = open_store(driver)
    refuse_single_file_path(store, path)
    check = probe(store, allow_delete=allow_delete).as_dict()
    if not check["ok"]:
        raise DriverNotCreated(driver, check)
    with catalog.begin() as conn:
        stored = driver_queries.insert(conn, driver, check=check)
    return ProbedDriver(stored, check)


def refuse_single_file_path(store: ObjectStore, path: str) -> None:
    """The folder path must be a folder: a path naming one file is refused (as the spec
    says). A path that cannot be read is let through: the probe will say why."""
    key = path.strip().strip("/")
    if not key:
        return
    try:
        store.read(key, 0, 1)
    except StorageError:
        return
    raise InvalidInput(f"folder path {path!r} is a single file; give a folder")


def require_connection(driver: Driver, outcome: str) -> None:
    """Raise ``ConnectionNotFound`` (its message led by ``outcome``) when the driver's
    Airflow connection does not exist.

    Asked before any hook is built: a provider hook given an unknown connection id falls
    back to the machine's default credentials, and the probe would then blame them
    ("no usable credentials") or another account's bucket instead of the missing connection.
    """
    if driver.provider == "local" or not driver.conn_id:
        return
    # Imported here: Airflow is only needed (and only paid for) by cloud drivers.
    from tributary.hooks.connections import ConnectionNotFound, connection_exists

    if not connection_exists(driver.conn_id):
        raise ConnectionNotFound(
            f"{outcome}: Airflow has no connection {driver.conn_id!r}", driver.conn_id
        )


def check_driver(catalog: Catalog, name: str) -> ProbedDriver:
    """Probe a driver's permissions again and record the result on it."""
    with catalog.begin() as conn:
        driver = driver_queries.get(conn, name)
    # Not recorded as a failed probe: nothing was probed, and the fix is in Airflow.
    require_connection(driver, f"driver {name!r} not checked")
    check = probe(open_store(driver), allow_delete=driver.allow_delete).as_dict()
    with catalog.begin() as conn:
        failing_since = driver_queries.record_check(conn, name, check)
    return ProbedDriver(driver, check, failing_since)


def drivers_to_check(catalog: Catalog, name: str | None = None) -> list[str]:
    """The driver called ``name`` (raises ``DriverNotFound`` if there is none), or, with no
    name, every driver: what a permission check run covers."""
    with catalog.begin() as conn:
        if name:
            return [driver_queries.get(conn, name).name]
        return [driver.name for driver in driver_queries.list_all(conn)]


def require_permissions(catalog: Catalog, name: str) -> dict:
    """Check a driver (recording the result, as ``check_driver``) and raise
    ``DriverFailing`` naming every required permission that does not hold.

    Returns the passing check's summary: the driver, its location and when it was checked.
    """
    checked = check_driver(catalog, name)
    if not checked.ok:
        missing = [
            f"{permission} ({result['message']})"
            for permission, result in checked.check["permissions"].items()
            if result["required"] and not result["ok"]
        ]
        raise DriverFailing(name, missing, checked.failing_since)
    return {
        "driver": name,
        "location": checked.check["location"],
        "checked_at": checked.check["checked_at"],
    }


def list_drivers(catalog: Catalog) -> list[DriverStatus]:
    """Every driver, by name, with its last probe result and since when it fails."""
    with catalog.begin() as conn:
        statuses = []
        for driver in driver_queries.list_all(conn):
            status = driver_queries.check_status(conn, driver.name)
            statuses.append(DriverStatus(driver, status.last_check, status.failing_since))
        return statuses


class DriverInUse(InvalidInput):
    """A driver cannot be deleted while datasets are bound to it; ``datasets`` names them."""

    permanent = True  # until someone deletes those datasets

    def __init__(self, driver: str, datasets: list[str]) -> None:
        names = ", ".join(repr(name) for name in datasets)
        super().__init__(
            f"driver {driver!r} not deleted: dataset{'s' if len(datasets) > 1 else ''} "
            f"{names} use{'' if len(datasets) > 1 else 's'} it; delete "
            f"{'them' if len(datasets) > 1 else 'it'} first"
        )
        self.driver = driver
        self.datasets = datasets


def delete_driver(catalog: Catalog, name: str) -> Driver:
    """Delete a driver's record; its connection and its bucket stay as they are.

    Refused (``DriverInUse``, naming them) while datasets use it: their items would lose
    the storage they are read from.
    """
    with catalog.begin() as conn:
        driver = driver_queries.get(conn, name)
        users = dataset_queries.names_using_driver(conn, driver.id)
        if users:
            raise DriverInUse(name, users)
        driver_queries.delete(conn, driver.id)
    return driver
