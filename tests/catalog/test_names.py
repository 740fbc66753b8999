"""Names and paths that become folders stay inside them (issue 9, B7 and B8)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tributary.catalog import datasets, drivers
from tributary.catalog.names import check_name
from tributary.catalog.schema import datasets as datasets_table
from tributary.errors import InvalidInput
from tributary.storage import open_dataset_store

UNSAFE_NAMES = [
    pytest.param("..", id="dot-dot"),
    pytest.param(".", id="dot"),
    pytest.param("a/b", id="slash"),
    pytest.param("..\\x", id="backslash"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a\0b", id="nul"),
    pytest.param(" demo", id="leading-space"),
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("caf\udce9", id="not-utf8"),
    pytest.param("x" * 201, id="too-long"),
]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_unsafe_names_are_refused_with_one_line(name):
    with pytest.raises(InvalidInput) as caught:
        check_name("dataset", name)

    assert "\n" not in str(caught.value).replace("\\n", "")


@pytest.mark.parametrize("name", ["demo", "cam-east_2026", "Ünïcode set", ".hidden", "a..b"])
def test_safe_names_pass(name):
    assert check_name("dataset", name) == name


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_datasets_and_drivers_with_unsafe_names_are_refused(catalog, tmp_path, name):
    with catalog.begin() as conn, pytest.raises(InvalidInput):
        datasets.create(conn, name=name)
    with catalog.begin() as conn, pytest.raises(InvalidInput):
        drivers.create(conn, name=name, provider="local", bucket=str(tmp_path))


def test_a_stored_dot_dot_dataset_never_opens_the_airflow_home(catalog):
    # A catalog written before the rule: the name goes straight into the table.
    with catalog.begin() as conn:
        conn.execute(
            datasets_table.insert().values(
                name="..", sync_enabled=True, folder="", created_at=dt.datetime.now(dt.UTC)
            )
        )
        dataset = datasets.get(conn, "..")

    with pytest.raises(InvalidInput, match=r"may not be named '\.\.'"):
        open_dataset_store(dataset)


@pytest.mark.parametrize("provider", ["local", "s3", "azure", "gcs"])
@pytest.mark.parametrize("path", ["../../etc", "a/../../b", "..", "/a/.."])
def test_a_driver_path_may_not_go_up(tmp_path, provider, path):
    with pytest.raises(InvalidInput, match=r"may not contain '\.\.'"):
        drivers.build(
            name="d", provider=provider, bucket=str(tmp_path / "a"), conn_id="c", path=path
        )


def test_a_driver_path_with_dots_inside_names_is_fine(tmp_path):
    driver = drivers.build(name="d", provider="local", bucket=str(tmp_path), path="a..b/..c")

    assert driver.prefix == "a..b/..c/"


def test_no_dataset_named_dot_dot_reaches_the_airflow_home(catalog):
    with catalog.begin() as conn:
        with pytest.raises(InvalidInput):
            datasets.create(conn, name="..")
        assert conn.execute(sa.select(sa.func.count()).select_from(datasets_table)).scalar() == 0
