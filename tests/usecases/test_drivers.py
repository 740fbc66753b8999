"""Drivers: created only when their probe passes, checked again, listed."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from tributary.errors import DriverNotFound, InvalidInput, NotFound
from tributary.usecases.drivers import (
    DriverFailing,
    DriverNotCreated,
    check_driver,
    create_driver,
    drivers_to_check,
    list_drivers,
    require_permissions,
)


def test_a_driver_whose_probe_passes_is_kept(catalog, bucket):
    created = create_driver(catalog, name="cam", provider="local", bucket=str(bucket))

    assert created.ok and created.driver.id > 0
    assert created.check["location"].endswith("bucket")
    assert {name for name, r in created.check["permissions"].items() if r["ok"]} >= {
        "list",
        "get",
        "put",
    }
    (status,) = list_drivers(catalog)
    assert status.driver == created.driver and status.check_ok is True
    assert status.as_dict()["check_ok"] is True and status.as_dict()["name"] == "cam"


def test_a_driver_whose_probe_fails_is_not_kept(catalog, tmp_path):
    with pytest.raises(DriverNotCreated, match=r"'bad' not created: local folder .*exist") as e:
        create_driver(catalog, name="bad", provider="local", bucket=str(tmp_path / "nope"))

    assert e.value.check["ok"] is False and e.value.driver.name == "bad"
    assert list_drivers(catalog) == []


def test_a_folder_path_naming_one_file_is_refused(catalog, bucket):
    with pytest.raises(InvalidInput, match=r"'b.png' is a single file"):
        create_driver(catalog, name="f", provider="local", bucket=str(bucket), path="b.png")

    assert list_drivers(catalog) == []


def test_a_folder_path_naming_a_folder_is_kept(catalog, bucket):
    created = create_driver(catalog, name="f", provider="local", bucket=str(bucket), path="/sub")

    assert created.driver.path == "sub/"


def test_a_taken_name_is_refused_before_probing(catalog, bucket):
    create_driver(catalog, name="cam", provider="local", bucket=str(bucket))

    with pytest.raises(InvalidInput, match="'cam' already exists"):
        create_driver(catalog, name="cam", provider="local", bucket=str(bucket))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"provider": "ftp"}, "unknown provider 'ftp'", id="provider"),
        pytest.param({"provider": "s3"}, "needs conn_id", id="cloud-without-connection"),
    ],
)
def test_invalid_fields_are_refused(catalog, bucket, fields, message):
    with pytest.raises(InvalidInput, match=message):
        create_driver(catalog, name="x", bucket=str(bucket), **fields)


def test_a_check_records_its_result(catalog, bucket):
    create_driver(catalog, name="cam", provider="local", bucket=str(bucket))
    shutil.rmtree(bucket)

    checked = check_driver(catalog, "cam")

    assert checked.ok is False
    (status,) = list_drivers(catalog)
    assert status.check_ok is False
    assert status.last_check["checked_at"] == checked.check["checked_at"]


def test_a_driver_never_checked_says_so(catalog, bucket):
    from tributary.catalog import drivers

    with catalog.begin() as conn:
        drivers.create(conn, name="raw", provider="local", bucket=str(bucket))

    (status,) = list_drivers(catalog)
    assert status.check_ok is None and status.as_dict()["check_ok"] is None


def test_checking_an_unknown_driver_names_it(catalog):
    with pytest.raises(DriverNotFound, match=r"^no driver named 'nope'$"):
        check_driver(catalog, "nope")


@pytest.mark.parametrize("provider", ["s3", "azure", "gcs"])
def test_an_unknown_connection_is_named_before_any_probe(catalog, provider, monkeypatch):
    import tributary.usecases.drivers as usecase

    # The hook must not even be built: given an unknown conn id, provider hooks fall back to
    # the machine's default credentials, and the probe would blame those instead.
    monkeypatch.setattr(usecase, "open_store", lambda driver: pytest.fail("store opened"))
    monkeypatch.delenv("AIRFLOW_CONN_NOPE", raising=False)

    with pytest.raises(NotFound) as missing:
        create_driver(catalog, name="c", provider=provider, bucket="b", conn_id="nope")

    assert str(missing.value) == "driver 'c' not created: Airflow has no connection 'nope'"
    assert missing.value.conn_id == "nope"
    assert list_drivers(catalog) == []


def test_check_of_a_driver_whose_connection_went_away_records_nothing(catalog, monkeypatch):
    from tributary.catalog import drivers as driver_queries

    monkeypatch.delenv("AIRFLOW_CONN_GONE", raising=False)
    with catalog.begin() as conn:
        driver_queries.create(conn, name="s", provider="s3", bucket="b", conn_id="gone")

    with pytest.raises(NotFound, match=r"^driver 's' not checked: Airflow has no conn"):
        check_driver(catalog, "s")

    (status,) = list_drivers(catalog)
    assert status.check_ok is None  # no false "FAILED" from a probe that never ran


def test_a_driver_in_use_is_not_deleted_and_names_its_datasets(catalog, bucket):
    from tributary.usecases.datasets import create_dataset, delete_dataset
    from tributary.usecases.drivers import DriverInUse, delete_driver

    create_driver(catalog, name="cam", provider="local", bucket=str(bucket))
    for name in ("b-set", "a-set"):
        create_dataset(catalog, name=name, driver="cam", start_sync=False)

    with pytest.raises(DriverInUse, match=r"datasets 'a-set', 'b-set' use it; delete them first"):
        delete_driver(catalog, "cam")
    delete_dataset(catalog, "a-set")
    with pytest.raises(DriverInUse, match=r"dataset 'b-set' uses it; delete it first"):
        delete_driver(catalog, "cam")
    delete_dataset(catalog, "b-set")

    assert delete_driver(catalog, "cam").name == "cam"
    assert list_drivers(catalog) == []
    assert bucket.exists() and (bucket / "b.png").exists()
    with pytest.raises(DriverNotFound):
        delete_driver(catalog, "cam")


def block_the_hidden_folder(bucket) -> None:
    """Make the probe's put fail whoever runs the test (root ignores chmod): a file takes
    the hidden folder's place (the one the creation's probe left behind goes)."""
    shutil.rmtree(bucket / ".tributary", ignore_errors=True)
    (bucket / ".tributary").write_bytes(b"not a folder")


def test_a_driver_is_failing_since_its_first_failing_check_until_one_passes(catalog, bucket):
    create_driver(catalog, name="cam", provider="local", bucket=str(bucket))
    (status,) = list_drivers(catalog)
    assert status.failing_since is None and status.as_dict()["failing_since"] is None

    before = dt.datetime.now(dt.UTC)
    block_the_hidden_folder(bucket)
    first = check_driver(catalog, "cam")
    second = check_driver(catalog, "cam")

    assert not first.ok and not second.ok
    assert before <= first.failing_since <= dt.datetime.now(dt.UTC)
    assert second.failing_since == first.failing_since  # a streak keeps its start
    (status,) = list_drivers(catalog)
    assert status.failing_since == first.failing_since
    assert status.as_dict()["failing_since"] == first.failing_since

    (bucket / ".tributary").unlink()
    assert check_driver(catalog, "cam").failing_since is None
    assert list_drivers(catalog)[0].failing_since is None


def test_requiring_permissions_names_the_driver_and_the_missing_one(catalog, bucket):
    create_driver(catalog, name="cam", provider="local", bucket=str(bucket))
    block_the_hidden_folder(bucket)

    expected = r"^driver 'cam' is missing a required permission: put "
    with pytest.raises(DriverFailing, match=expected) as raised:
        require_permissions(catalog, "cam")

    assert [m.split(" ")[0] for m in raised.value.missing] == ["put"]
    assert raised.value.permanent  # a task fails at once: probing again cannot grant it
    assert raised.value.failing_since == list_drivers(catalog)[0].failing_since
    assert "tributary driver check cam" in str(raised.value)


def test_requiring_permissions_of_a_healthy_driver_records_the_pass(catalog, bucket):
    create_driver(catalog, name="cam", provider="local", bucket=str(bucket))

    checked = require_permissions(catalog, "cam")

    (status,) = list_drivers(catalog)
    assert checked == {
        "driver": "cam",
        "location": status.last_check["location"],
        "checked_at": status.last_check["checked_at"],
    }
    assert status.check_ok is True and status.failing_since is None


def test_a_check_covers_one_named_driver_or_every_driver(catalog, bucket):
    for name in ("b-cam", "a-cam"):
        create_driver(catalog, name=name, provider="local", bucket=str(bucket))

    assert drivers_to_check(catalog) == drivers_to_check(catalog, "") == ["a-cam", "b-cam"]
    assert drivers_to_check(catalog, "b-cam") == ["b-cam"]
    with pytest.raises(DriverNotFound, match="'nope'"):
        drivers_to_check(catalog, "nope")
