"""Local drivers stay inside ``TRIBUTARY_LOCAL_ROOTS`` (issue 14, item 9): checked when a
driver is built and again whenever its store is opened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.sync.upstream_steps import upstream_sync
from tributary import config
from tributary.catalog import datasets, drivers
from tributary.catalog.drivers import build
from tributary.catalog.schema import drivers as drivers_table
from tributary.errors import InvalidInput
from tributary.storage import open_store
from tributary.storage.local import OutsideLocalRoots


@pytest.fixture
def allowed(tmp_path, monkeypatch) -> Path:
    """The one folder local drivers may use in these tests."""
    folder = tmp_path / "allowed"
    (folder / "cams").mkdir(parents=True)
    monkeypatch.setenv("TRIBUTARY_LOCAL_ROOTS", str(folder))
    return folder


def local(bucket) -> drivers.Driver:
    return build(name="d", provider="local", bucket=str(bucket))


def test_a_folder_outside_the_roots_is_refused_naming_the_setting(allowed, tmp_path):
    (tmp_path / "elsewhere").mkdir()

    with pytest.raises(InvalidInput) as refused:
        local(tmp_path / "elsewhere")

    message = str(refused.value)
    assert "\n" not in message
    assert "TRIBUTARY_LOCAL_ROOTS" in message
    assert str(tmp_path / "elsewhere") in message
    with pytest.raises(InvalidInput, match="TRIBUTARY_LOCAL_ROOTS"):
        local("/etc")


def test_a_root_and_the_folders_under_it_are_allowed(allowed):
    assert local(allowed).bucket == str(allowed.resolve())
    assert local(allowed / "cams").bucket == str((allowed / "cams").resolve())


def test_a_link_inside_a_root_is_resolved_before_the_check(allowed, tmp_path):
    (tmp_path / "secret").mkdir()
    (allowed / "way-out").symlink_to(tmp_path / "secret", target_is_directory=True)

    with pytest.raises(InvalidInput, match="outside TRIBUTARY_LOCAL_ROOTS"):
        local(allowed / "way-out")


def test_a_sibling_whose_name_extends_a_root_is_outside(allowed, tmp_path):
    (tmp_path / "allowed-not").mkdir()  # a string prefix of a root is not under it

    with pytest.raises(InvalidInput, match="TRIBUTARY_LOCAL_ROOTS"):
        local(tmp_path / "allowed-not")


def test_roots_are_separated_by_pathsep_or_commas(tmp_path, monkeypatch):
    folders = [tmp_path / name for name in ("a", "b", "c")]
    for folder in folders:
        folder.mkdir()
    monkeypatch.setenv("TRIBUTARY_LOCAL_ROOTS", f"{folders[0]}{os.pathsep}{folders[1]}, ")

    assert config.local_roots() == [folders[0].resolve(), folders[1].resolve()]
    local(folders[1])
    with pytest.raises(InvalidInput):
        local(folders[2])


def test_set_but_empty_allows_no_local_driver(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_LOCAL_ROOTS", "")

    with pytest.raises(InvalidInput, match=r"TRIBUTARY_LOCAL_ROOTS, .*\(none\)"):
        local(tmp_path)


def test_by_default_the_demo_bucket_and_the_internal_storage(tmp_path, monkeypatch):
    monkeypatch.delenv("TRIBUTARY_LOCAL_ROOTS")
    monkeypatch.delenv("TRIBUTARY_DEMO_DIR", raising=False)
    checkout = Path(config.__file__).resolve().parents[2]
    assert (checkout / "scripts" / "demo.sh").exists()  # the checkout demo.sh runs in

    assert config.local_roots() == [
        (checkout / ".demo" / "bucket").resolve(),
        config.internal_storage_root().resolve(),
    ]
    monkeypatch.setenv("TRIBUTARY_DEMO_DIR", str(tmp_path / "demo"))
    assert config.local_roots()[0] == (tmp_path / "demo" / "bucket").resolve()
    with pytest.raises(InvalidInput, match="TRIBUTARY_LOCAL_ROOTS"):
        local(tmp_path)


def test_an_old_driver_outside_the_roots_fails_when_opened(catalog, allowed, tmp_path):
    old = tmp_path / "old-bucket"
    old.mkdir()
    (old / "a.jpg").write_bytes(b"a")
    with catalog.begin() as conn:
        drivers.insert(conn, local(allowed))  # then moved, as a catalog older than the rule
        conn.execute(drivers_table.update().values(bucket=str(old)))
        datasets.create(conn, name="ds", driver_name="d")
        driver = drivers.get(conn, "d")

    with pytest.raises(OutsideLocalRoots, match="TRIBUTARY_LOCAL_ROOTS") as refused:
        open_store(driver)
    assert "\n" not in str(refused.value)
    with pytest.raises(OutsideLocalRoots, match="TRIBUTARY_LOCAL_ROOTS"):
        upstream_sync(catalog, "ds")


def test_the_check_is_not_cached_with_the_store(allowed, monkeypatch):
    driver = local(allowed)
    open_store(driver)
    monkeypatch.setenv("TRIBUTARY_LOCAL_ROOTS", str(allowed / "cams"))

    with pytest.raises(OutsideLocalRoots):
        open_store(driver)
