"""Keyset pages of items and their filters, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
import sqlalchemy as sa

from tributary.catalog import datasets as dataset_queries
from tributary.catalog import item_pages
from tributary.catalog.schema import items
from tributary.errors import InvalidInput
from tributary.usecases.items import find_item, get_item, list_items, metadata_filter

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def add_items(catalog, dataset_id: int, rows: list[dict]) -> None:
    """Insert item rows straight into the catalog (what a sync or an upload would)."""
    defaults = {
        "dataset_id": dataset_id,
        "size": 1,
        "state": "active",
        "preprocess_state": "pending",
        "mimetype": None,
        "user_metadata": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    with catalog.begin() as conn:
        conn.execute(
            items.insert(),
            [{**defaults, "storage_key": row["path"].lstrip("/"), **row} for row in rows],
        )


@pytest.fixture
def dataset(catalog):
    with catalog.begin() as conn:
        return dataset_queries.create(conn, name="ds", sync_enabled=False)


def all_pages(catalog, dataset="ds", **filters) -> list[str]:
    paths, cursor = [], None
    while True:
        page = list_items(catalog, dataset, after=cursor, **filters)
        paths += [item["path"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            return paths


def test_pages_follow_each_other_and_the_last_says_so(catalog, dataset):
    add_items(catalog, dataset.id, [{"path": f"/f{i:03}.jpg"} for i in range(25)])

    first = list_items(catalog, "ds", limit=10)
    assert [i["path"] for i in first["items"]] == [f"/f{i:03}.jpg" for i in range(10)]
    second = list_items(catalog, "ds", limit=10, after=first["next"])
    assert second["items"][0]["path"] == "/f010.jpg"
    third = list_items(catalog, "ds", limit=10, after=second["next"])
    assert len(third["items"]) == 5 and third["next"] is None
    exact = list_items(catalog, "ds", limit=25)
    assert exact["next"] is None  # no empty page after a full last one


def test_no_item_is_skipped_or_repeated_while_items_are_inserted_between_pages(catalog, dataset):
    add_items(catalog, dataset.id, [{"path": f"/b/{i:03}.jpg"} for i in range(0, 60, 2)])
    seen, cursor, inserted = [], None, 0
    while True:
        page = list_items(catalog, "ds", after=cursor, limit=7)
        seen += [item["id"] for item in page["items"]]
        # New items before, inside and after the part already read.
        add_items(
            catalog,
            dataset.id,
            [{"path": f"/a/{inserted}.jpg"}, {"path": f"/b/{2 * inserted + 1:03}x.jpg"}],
        )
        inserted += 1
        cursor = page["next"]
        if cursor is None:
            break

    assert len(seen) == len(set(seen))  # nothing twice
    with catalog.begin() as conn:
        originals = set(
            conn.execute(sa.select(items.c.id).where(items.c.path.like("/b/___.jpg"))).scalars()
        )
    assert originals <= set(seen)  # nothing that was there from the start is skipped
    assert not any(p.startswith("/a/") for p in (get_item(catalog, "ds", i)["path"] for i in seen))


def test_paths_that_tie_are_ordered_by_id(catalog, dataset):
    # Two records may share a path (a deleted item and a new upload at its path).
    add_items(
        catalog,
        dataset.id,
        [
            {"path": "/same.jpg", "storage_key": "k1", "state": "deleted"},
            {"path": "/same.jpg", "storage_key": "k2"},
            {"path": "/z.jpg"},
        ],
    )
    first = list_items(catalog, "ds", state="all", limit=1)
    rest = list_items(catalog, "ds", state="all", limit=5, after=first["next"])
    ids = [i["id"] for i in first["items"] + rest["items"]]
    assert ids == sorted(ids) and len(ids) == 3
    assert find_item(catalog, "ds", "same.jpg")["state"] == "active"


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not-base64!!", id="not-base64"),
        pytest.param(base64.urlsafe_b64encode(b"{}").decode(), id="not-a-pair"),
        pytest.param(base64.urlsafe_b64encode(b'["/a", "1"]').decode(), id="id-not-int"),
        pytest.param(base64.urlsafe_b64encode(b"\xff\xfe").decode(), id="not-utf8"),
        pytest.param(base64.urlsafe_b64encode(b'["/a", true]').decode(), id="bool-id"),
    ],
)
def test_a_bad_cursor_is_invalid_input(catalog, dataset, cursor):
    with pytest.raises(InvalidInput, match="invalid cursor"):
        list_items(catalog, "ds", after=cursor)


def test_a_cursor_round_trips_any_path():
    path = "/données/ä b/\u4e2d.jpg"
    assert item_pages.decode_cursor(item_pages.encode_cursor(path, 7)) == (path, 7)
    assert "=" not in item_pages.encode_cursor(path, 7)


@pytest.mark.parametrize("limit", [0, 1001, -3])
def test_limit_is_bounded(catalog, dataset, limit):
    with pytest.raises(InvalidInput, match="limit must be from 1 to 1000"):
        list_items(catalog, "ds", limit=limit)


@pytest.fixture
def varied(catalog, dataset):
    add_items(
        catalog,
        dataset.id,
        [
            {"path": "/cam1/a.jpg", "mimetype": "image/jpeg", "user_metadata": {"camera": 1}},
            {"path": "/cam1/b.png", "mimetype": "image/png", "user_metadata": {"camera": "1"}},
            {"path": "/cam10/c.jpg", "mimetype": "image/jpeg", "user_metadata": {"camera": True}},
            {"path": "/cam1/sub/d.mp4", "mimetype": "video/mp4", "preprocess_state": "done"},
            {"path": "/cam1x.txt", "mimetype": "text/plain", "user_metadata": {"lot": None}},
            {"path": "/gone.jpg", "state": "ghost", "mimetype": "image/jpeg"},
            {
                "path": "/removed.jpg",
                "state": "deleted",
                "mimetype": "image/jpeg",
                "user_metadata": {"area": "north", ODD: 2.5},
            },
        ],
    )
    return dataset


A, B, C, D, E = "/cam1/a.jpg", "/cam1/b.png", "/cam10/c.jpg", "/cam1/sub/d.mp4", "/cam1x.txt"
REMOVED, ODD = "/removed.jpg", 'we"ird\\key'


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param({}, [A, B, D, C, E], id="active"),
        pytest.param({"state": "ghost"}, ["/gone.jpg"], id="ghost"),
        pytest.param({"state": "deleted"}, [REMOVED], id="deleted"),
        pytest.param({"state": "all", "name": "o"}, ["/gone.jpg", REMOVED], id="all-name"),
        pytest.param({"preprocess_state": "done"}, [D], id="preprocess"),
        pytest.param({"mimetype": "image/jpeg"}, [A, C], id="mimetype"),
        pytest.param({"mimetype": "image/*"}, [A, B, C], id="family"),
        pytest.param({"prefix": "/cam1/"}, [A, B, D], id="folder"),
        pytest.param({"prefix": "cam1"}, [A, B, D, C, E], id="path-prefix"),
        pytest.param({"prefix": "/cam1/sub/"}, [D], id="sub-folder"),
        pytest.param({"name": "sub"}, [], id="name-not-folder"),
        pytest.param({"name": ".jpg"}, [A, C], id="name"),
        pytest.param({"name": "B"}, [], id="name-case"),
        pytest.param({"metadata": {"camera": 1}}, [A], id="meta-number"),
        pytest.param({"metadata": {"camera": 1.0}}, [A], id="meta-float"),
        pytest.param({"metadata": {"camera": "1"}}, [B], id="meta-string"),
        pytest.param({"metadata": {"camera": True}}, [C], id="meta-bool"),
        pytest.param({"metadata": {"lot": None}}, [E], id="meta-null"),
        pytest.param({"metadata": {"camera": 1, "lot": None}}, [], id="meta-both"),
        pytest.param({"state": "deleted", "metadata": {"area": "north"}}, [REMOVED], id="meta-del"),
        pytest.param({"state": "all", "metadata": {ODD: 2.5}}, [REMOVED], id="meta-odd-key"),
        pytest.param({"mimetype": "image/*", "prefix": "/cam1", "name": "c"}, [C], id="combined"),
    ],
)  # fmt: skip
def test_filters(catalog, varied, filters, expected):
    # Pages of 2: every filter must hold across page boundaries too.
    assert all_pages(catalog, limit=2, **filters) == expected


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        pytest.param({"state": "gone"}, "state must be one of", id="state"),
        pytest.param({"preprocess_state": "x"}, "preprocess state", id="preprocess"),
        pytest.param({"mimetype": "image"}, "type/subtype", id="mimetype"),
        pytest.param({"mimetype": "*/*"}, "type/subtype", id="mimetype-star"),
        pytest.param({"name": "a/b"}, "cannot hold '/'", id="name"),
        pytest.param({"metadata": {"": 1}}, "non-empty", id="empty-key"),
        pytest.param({"metadata": {"k": {"a": 1}}}, "give a string", id="object-value"),
    ],
)
def test_bad_filters_are_invalid_input(catalog, varied, filters, message):
    with pytest.raises(InvalidInput, match=message):
        list_items(catalog, "ds", **filters)


def test_metadata_filter_strings_parse_json_values():
    assert metadata_filter(["camera=3", "area=north", 'code="3"', "ok=true", "x=a=b"]) == {
        "camera": 3,
        "area": "north",
        "code": "3",
        "ok": True,
        "x": "a=b",
    }
    with pytest.raises(InvalidInput, match="key=value"):
        metadata_filter(["camera"])


def test_next_prefix_is_the_bound_of_a_prefix_range():
    assert item_pages.next_prefix("/cam1/") == "/cam10"
    assert item_pages.next_prefix("/a\ud7ff") is not None
    assert item_pages.next_prefix("/a\U0010ffff") is None


def test_items_by_id_and_by_path(catalog, varied):
    found = find_item(catalog, "ds", "/cam1/a.jpg")
    assert get_item(catalog, "ds", found["id"]) == found
    assert {"kind", "downstream", "deleted_at"} <= set(found)
    assert found["kind"] == "file" and found["downstream"] is None
    with pytest.raises(Exception, match="no item 999999"):
        get_item(catalog, "ds", 999_999)
    with pytest.raises(Exception, match=r"no item '/nope\.jpg'"):
        find_item(catalog, "ds", "/nope.jpg")


def test_a_page_is_an_index_range_scan_in_path_order(catalog, dataset):
    # The plan, not a timing: the page is read from ix_items_dataset_path in its order
    # (no sort), for the first page and a deep one (bench/item_pages.py has the timings).
    add_items(catalog, dataset.id, [{"path": f"/p/{i:05}.jpg"} for i in range(3000)])
    with catalog.begin() as conn:
        if catalog.is_postgres:
            conn.exec_driver_sql("ANALYZE items")
        for after in (None, ("/p/01500.jpg", 1501)):
            for filters in ({}, {"prefix": "/p/"}):
                plan = _explain(conn, dataset.id, after, **filters)
                assert "ix_items_dataset_path" in plan, plan
                assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan


def _explain(conn, dataset_id, after, **filters) -> str:
    where = item_pages.conditions(conn, **filters)
    query = (
        sa.select(items)
        .where(items.c.dataset_id == dataset_id, *where)
        .order_by(items.c.path, items.c.id)
        .limit(101)
    )
    if after:
        query = query.where(sa.tuple_(items.c.path, items.c.id) > sa.tuple_(*after))
    compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN" if conn.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN"
    rows = conn.exec_driver_sql(f"{prefix} {compiled}").all()
    return "\n".join(str(row[-1]) for row in rows)


def test_name_takes_like_wildcards_and_backslashes_literally(catalog, dataset):
    paths = ["/a/100%_done.jpg", "/a/100x-done.jpg", "/a/back\\slash.jpg", "/a/backslash.jpg"]
    add_items(catalog, dataset.id, [{"path": p} for p in paths])

    assert all_pages(catalog, name="%_") == ["/a/100%_done.jpg"]
    assert all_pages(catalog, name="0%") == ["/a/100%_done.jpg"]
    assert all_pages(catalog, name="k\\s") == ["/a/back\\slash.jpg"]
    assert all_pages(catalog, name="DONE") == []  # case-sensitive on both catalogs


def test_metadata_values_match_however_the_json_spells_them(catalog, dataset):
    add_items(
        catalog,
        dataset.id,
        [
            {"path": "/float.jpg", "user_metadata": {"lot": 421.0, "who": "é/x"}},
            {"path": "/int.jpg", "user_metadata": {"lot": 4210}},
        ],
    )
    assert all_pages(catalog, metadata={"lot": 421}) == ["/float.jpg"]
    assert all_pages(catalog, metadata={"who": "é/x"}) == ["/float.jpg"]
    assert all_pages(catalog, metadata={"lot": 4210.0}) == ["/int.jpg"]


def test_prefix_without_code_point_order_still_finds_exactly_the_prefix(
    catalog, varied, monkeypatch
):
    # A PostgreSQL database with a linguistic collation: no range, an exact substr test.
    monkeypatch.setattr(item_pages, "_compares_by_code_point", lambda conn: False)
    assert all_pages(catalog, limit=2, prefix="/cam1/") == [A, B, D]
    assert all_pages(catalog, limit=2, prefix="cam1") == [A, B, D, C, E]
