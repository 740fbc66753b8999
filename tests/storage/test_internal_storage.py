"""The internal storage: a local folder by default, or a driver named in config
(``TRIBUTARY_STORAGE_DRIVER``) with one folder per dataset under the driver's folder."""

from __future__ import annotations

import io

import pytest

from tests.sync.upstream_steps import upstream_sync
from tributary.catalog import datasets, drivers
from tributary.errors import DriverNotFound
from tributary.storage import internal_driver, open_dataset_store
from tributary.usecases.uploads import upload


def test_without_a_driver_the_internal_storage_is_the_local_folder(catalog, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_STORAGE_ROOT", str(tmp_path / "root"))
    monkeypatch.delenv("TRIBUTARY_STORAGE_DRIVER", raising=False)
    with catalog.begin() as conn:
        dataset = datasets.create(conn, name="notes")

    store = open_dataset_store(dataset)

    assert internal_driver() is None
    assert store.provider == "local" and store.root == tmp_path / "root" / "notes"


def test_internal_datasets_live_under_the_configured_driver(catalog, bucket, monkeypatch):
    with catalog.begin() as conn:
        drivers.create(
            conn,
            name="internal",
            provider=bucket.provider,
            bucket=bucket.name,
            conn_id=bucket.conn_id,
            path="tributary/datasets",
        )
        datasets.create(conn, name="notes")
        datasets.create(conn, name="scans")
    monkeypatch.setenv("TRIBUTARY_STORAGE_DRIVER", "internal")

    upload(catalog, "notes", "/a/n.txt", io.BytesIO(b"a note"))
    upload(catalog, "scans", "/n.txt", io.BytesIO(b"a scan"))

    assert bucket.get("tributary/datasets/notes/a/n.txt") == b"a note"
    assert bucket.get("tributary/datasets/scans/n.txt") == b"a scan"
    with catalog.begin() as conn:
        notes = datasets.get(conn, "notes")
    assert open_dataset_store(notes).prefix == "tributary/datasets/notes/"
    # Its own writes are recognised by a sync of the internal dataset, as on any driver.
    assert upstream_sync(catalog, "notes")["counts"]["new"] == 0


def test_a_configured_driver_that_does_not_exist_is_named(catalog, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_STORAGE_DRIVER", "nowhere")
    with catalog.begin() as conn:
        dataset = datasets.create(conn, name="notes")

    with pytest.raises(DriverNotFound, match="TRIBUTARY_STORAGE_DRIVER names the driver 'nowhere'"):
        open_dataset_store(dataset)
