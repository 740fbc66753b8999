"""Storage errors name the real cause (issue 14, item 4): a file given as a folder, a
folder or bucket that does not exist, a connection that does not exist."""

from __future__ import annotations

import re

import pytest

from tests.sync.upstream_steps import upstream_sync
from tributary.catalog import datasets, drivers
from tributary.catalog.drivers import build
from tributary.hooks.connections import ConnectionNotFound as NoSuchConnection
from tributary.storage import open_store
from tributary.storage.azure import AzureBlobStore
from tributary.storage.base import BucketNotFound, ConnectionNotFound
from tributary.storage.gcs import GCSStore
from tributary.storage.probe import probe
from tributary.storage.s3 import S3Store
from tributary.usecases.drivers import DriverNotCreated, create_driver


def test_a_file_given_as_the_local_bucket_is_called_a_file(catalog, tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"jpeg")

    with pytest.raises(DriverNotCreated) as refused:
        create_driver(catalog, name="f", provider="local", bucket=str(tmp_path / "photo.jpg"))

    message = str(refused.value)
    assert "photo.jpg is a file, not a folder" in message
    assert "does not exist" not in message and "permission" not in message
    assert refused.value.check["cause"].endswith("is a file, not a folder")


def test_a_missing_local_folder_is_called_missing_not_a_permission(catalog, tmp_path):
    with pytest.raises(DriverNotCreated) as refused:
        create_driver(catalog, name="m", provider="local", bucket=str(tmp_path / "nope"))

    assert str(refused.value) == (
        f"driver 'm' not created: local folder {tmp_path / 'nope'} does not exist"
    )


def test_a_probe_that_ran_through_has_no_cause(tmp_path):
    store = open_store(build(name="ok", provider="local", bucket=str(tmp_path)))

    report = probe(store, allow_delete=False)

    assert report.ok and report.cause is None and report.as_dict()["cause"] is None


def test_a_sync_of_a_vanished_folder_fails_saying_so(catalog, tmp_path):
    folder = tmp_path / "bucket"
    folder.mkdir()
    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket=str(folder))
        datasets.create(conn, name="ds", driver_name="d")
    folder.rmdir()

    with pytest.raises(
        BucketNotFound, match=rf"^local folder {re.escape(str(folder))} does not exist$"
    ):
        upstream_sync(catalog, "ds")


def test_a_missing_s3_bucket_is_called_missing(catalog, moto):
    with pytest.raises(DriverNotCreated, match="not created: bucket 'no-such-bucket' does not"):
        create_driver(catalog, name="s", provider="s3", bucket="no-such-bucket", conn_id="test_s3")


@pytest.fixture
def no_ambient_aws_credentials(monkeypatch, tmp_path):
    """Nothing for boto's own credential chain to find (S3Hook falls back to it)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_an_unknown_s3_connection_is_called_missing(no_ambient_aws_credentials):
    # The use case asks Airflow first; a task (or any other caller) meets it here.
    report = probe(S3Store("any", conn_id="typo_s3"), allow_delete=False)

    assert report.cause == "Airflow has no connection 'typo_s3'"
    assert isinstance(report.fatal, ConnectionNotFound)
    assert isinstance(report.fatal, NoSuchConnection)  # the CLI's hint applies
    assert report.fatal.permanent


def test_an_existing_s3_connection_without_credentials_keeps_its_message(
    monkeypatch, no_ambient_aws_credentials
):
    monkeypatch.setenv("AIRFLOW_CONN_EMPTY_S3", '{"conn_type": "aws"}')

    with pytest.raises(Exception, match="'empty_s3' has no usable AWS credentials") as raised:
        list(S3Store("any", conn_id="empty_s3").list_raw(""))
    assert not isinstance(raised.value, ConnectionNotFound)


@pytest.mark.parametrize("store_class", [AzureBlobStore, GCSStore], ids=["azure", "gcs"])
def test_an_unknown_azure_or_gcs_connection_is_called_missing(store_class):
    with pytest.raises(ConnectionNotFound, match=r"^Airflow has no connection 'typo'$"):
        list(store_class("any", conn_id="typo").list_raw(""))
