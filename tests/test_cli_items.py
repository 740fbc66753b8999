"""``tributary items`` with its filters, run in-process through the real entry point."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.test_cli import json_lines, tributary
from tributary.catalog import datasets as dataset_queries
from tributary.catalog.schema import items

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture
def run(capsys, monkeypatch, catalog):
    with catalog.begin() as conn:
        dataset = dataset_queries.create(conn, name="ds", sync_enabled=False)
        conn.execute(
            items.insert(),
            [
                {
                    "dataset_id": dataset.id,
                    "path": path,
                    "storage_key": path[1:],
                    "size": 1,
                    "state": state,
                    "mimetype": mimetype,
                    "user_metadata": meta,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for path, state, mimetype, meta in [
                    ("/cam1/a.jpg", "active", "image/jpeg", {"camera": 1, "area": "n"}),
                    ("/cam1/b.mp4", "active", "video/mp4", {"camera": 1}),
                    ("/cam2/c.jpg", "active", "image/jpeg", {"camera": "1"}),
                    ("/old.jpg", "deleted", "image/jpeg", None),
                ]
            ],
        )
    return lambda *args: tributary(capsys, monkeypatch, *args)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param([], ["/cam1/a.jpg", "/cam1/b.mp4", "/cam2/c.jpg"], id="all-active"),
        pytest.param(["--prefix", "/cam1/"], ["/cam1/a.jpg", "/cam1/b.mp4"], id="prefix"),
        pytest.param(["--mimetype", "image/*"], ["/cam1/a.jpg", "/cam2/c.jpg"], id="family"),
        pytest.param(["--name", "b."], ["/cam1/b.mp4"], id="name"),
        pytest.param(["--meta", "camera=1"], ["/cam1/a.jpg", "/cam1/b.mp4"], id="meta"),
        pytest.param(["--meta", 'camera="1"'], ["/cam2/c.jpg"], id="meta-string"),
        pytest.param(["--meta", "camera=1", "--meta", "area=n"], ["/cam1/a.jpg"], id="metas"),
        pytest.param(["--state", "deleted"], ["/old.jpg"], id="deleted"),
    ],
)
def test_items_filters(run, args, expected):
    code, out, _ = run("items", "ds", "--json", *args)
    assert code == 0
    assert [r["path"] for r in json_lines(out)] == expected


def test_items_table_and_nothing_found(run):
    code, out, _ = run("items", "ds", "--state", "deleted")
    assert code == 0
    (line,) = out.splitlines()
    assert line.split()[1:3] == ["deleted", "pending"] and line.endswith("/old.jpg")
    code, _, err = run("items", "ds", "--prefix", "/nope/")
    assert "no items (active, prefix /nope/)" in err


def test_bad_filters_are_one_line_errors(run):
    code, _, err = run("items", "ds", "--meta", "camera")
    assert code != 0 and "give key=value" in err
    code, _, err = run("items", "ds", "--mimetype", "image")
    assert code != 0 and "type/subtype" in err
