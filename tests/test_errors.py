"""Every Tributary error class says, in its own body, whether a retry can fix it."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import tributary
from tributary.errors import TributaryError

# Modules that are not importable as library code (Alembic runs env.py itself).
NOT_LIBRARY = ("tributary.catalog.migrations",)


def every_error_class() -> list[type[TributaryError]]:
    """Import every module of the package, then collect all subclasses of TributaryError."""
    for module in pkgutil.walk_packages(tributary.__path__, prefix="tributary."):
        if not module.name.startswith(NOT_LIBRARY):
            importlib.import_module(module.name)
    found, todo = [], [TributaryError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


ERRORS = every_error_class()


def test_the_walk_finds_errors_of_every_layer():
    names = {cls.__name__ for cls in ERRORS}
    # errors.py, the storage adapters' base, the listing's probe, the REST client
    assert {"NotFound", "AccessDenied", "PermissionsMissing", "AirflowRefused"} <= names
    assert len(ERRORS) >= 15


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_each_error_declares_its_permanence_itself(cls):
    assert "permanent" in vars(cls), (
        f"{cls.__module__}.{cls.__qualname__} must say `permanent = True|False` in its own "
        "body: can a retry fix it?"
    )
    assert isinstance(cls.permanent, bool)


PERMANENT = ["NotFound", "InvalidInput", "QuotaExceeded", "SyncLocked", "MassDeleteRefused"]
PERMANENT += ["ListingIncomplete", "PermissionsMissing"]
PERMANENT += ["AccessDenied", "BadCredentials", "BucketNotFound"]
TRANSIENT = ["TributaryError", "StorageError", "Unreachable", "ObjectNotFound", "ItemsDeferred"]


@pytest.mark.parametrize(
    ("name", "permanent"),
    [pytest.param(n, True, id=n) for n in PERMANENT]
    + [pytest.param(n, False, id=n) for n in TRANSIENT],
)
def test_the_documented_classification(name, permanent):
    """The README promises these: a denied permission fails at once, a network error retries."""
    # The REST client's errors mirror HTTP statuses (its NotFound is a 404), not these.
    (cls,) = [c for c in ERRORS if c.__name__ == name and c.__module__ != "tributary.client"]
    assert cls.permanent is permanent


def test_permission_missing_is_one_error_for_everyone():
    from tributary.errors import PermissionsMissing
    from tributary.sync import listing

    assert listing.PermissionsMissing is PermissionsMissing
