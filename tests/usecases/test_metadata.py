"""User metadata: one item's edits, and bulk files (JSONL, CSV) with bad lines reported
by line number and the good lines applied."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from tributary.catalog import datasets as dataset_queries
from tributary.catalog.schema import items
from tributary.errors import InvalidInput, NotFound
from tributary.usecases import metadata as metadata_usecase
from tributary.usecases.items import find_item, list_items
from tributary.usecases.metadata import UNSET, apply_bulk_metadata, edit_item

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture
def ds(catalog):
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
                    "system_metadata": {"width": 10},
                    "user_metadata": {"camera": 1, "area": "north"} if path == "/a.jpg" else None,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for path in ("/a.jpg", "/b.jpg", "/c/d.jpg")
            ],
        )
    return "ds"


def user(catalog, path):
    return find_item(catalog, "ds", path)["metadata"]["user"]


# -- one item ------------------------------------------------------------------------------


def test_set_merges_remove_drops_replace_replaces(catalog, ds):
    item_id = find_item(catalog, ds, "/a.jpg")["id"]

    record = edit_item(catalog, ds, item_id, set={"lot": [1, {"x": None}], "camera": 2})
    assert record["metadata"]["user"] == {"camera": 2, "area": "north", "lot": [1, {"x": None}]}
    assert record["metadata"]["system"] == {"width": 10}  # never written

    record = edit_item(catalog, ds, item_id, remove=["area", "not-there"])
    assert record["metadata"]["user"] == {"camera": 2, "lot": [1, {"x": None}]}

    record = edit_item(catalog, ds, item_id, set={"only": True}, replace=True)
    assert user(catalog, "/a.jpg") == {"only": True}
    assert record["metadata"]["user"] == {"only": True}


def test_description_is_set_kept_and_cleared(catalog, ds):
    item_id = find_item(catalog, ds, "/b.jpg")["id"]
    assert edit_item(catalog, ds, item_id, description="a cat")["description"] == "a cat"
    assert edit_item(catalog, ds, item_id, set={"k": 1})["description"] == "a cat"
    assert edit_item(catalog, ds, item_id, description=UNSET)["description"] == "a cat"
    assert edit_item(catalog, ds, item_id, description=None)["description"] is None
    assert find_item(catalog, ds, "/b.jpg")["description"] is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param({"set": {"": 1}}, "non-empty", id="empty-key"),
        pytest.param({"set": {"k" * 257: 1}}, "longer than 256", id="long-key"),
        pytest.param({"set": {"a\nb": 1}}, "control character", id="control-key"),
        pytest.param({"set": {"k": float("nan")}}, "must be JSON", id="nan"),
        pytest.param({"set": {"k": object()}}, "must be JSON", id="not-json"),
        pytest.param({"set": ["k"]}, "JSON object", id="not-object"),
        pytest.param({"set": {"k": 1}, "remove": ["k"]}, "both set and removed", id="both"),
        pytest.param({"set": {"k": "x" * 70_000}}, "limited to 65536 bytes", id="too-big"),
        pytest.param({"description": 3}, "string or null", id="description-type"),
    ],
)
def test_bad_edits_are_refused_and_change_nothing(catalog, ds, edit, message):
    item_id = find_item(catalog, ds, "/a.jpg")["id"]
    with pytest.raises(InvalidInput, match=message):
        edit_item(catalog, ds, item_id, **edit)
    assert user(catalog, "/a.jpg") == {"camera": 1, "area": "north"}


def test_an_unknown_item_is_not_found(catalog, ds):
    with pytest.raises(NotFound):
        edit_item(catalog, ds, 999_999, set={"k": 1})


def test_edited_metadata_is_what_the_filters_find(catalog, ds):
    edit_item(catalog, ds, find_item(catalog, ds, "/c/d.jpg")["id"], set={"lot": "L7"})
    found = list_items(catalog, ds, metadata={"lot": "L7"})["items"]
    assert [i["path"] for i in found] == ["/c/d.jpg"]


# -- bulk ----------------------------------------------------------------------------------


def test_jsonl_applies_good_lines_and_reports_bad_ones_by_line(catalog, ds):
    b_id = find_item(catalog, ds, "/b.jpg")["id"]
    lines = [
        json.dumps({"path": "/a.jpg", "metadata": {"lot": 7}, "description": "first"}),
        "{not json",
        "",  # blank lines are skipped, yet counted
        json.dumps({"path": "/nope.jpg", "metadata": {"lot": 1}}),
        json.dumps({"id": b_id, "metadata": {"camera": 9}}),
        json.dumps({"path": "c/d.jpg", "metadata": [1, 2]}),
        json.dumps({"path": "/c/d.jpg", "metadata": {"": 1}}),
        json.dumps({"metadata": {"k": 1}}),
        json.dumps(["a list"]),
        json.dumps({"path": "/c/d.jpg", "id": 3, "metadata": {"k": 1}}),
        json.dumps({"path": "c/d.jpg", "remove": ["x"], "metadata": {"k": "v"}}),
        json.dumps({"path": "/a.jpg", "metadata": {"lot": 8}, "remove": ["area"]}),
    ]

    result = apply_bulk_metadata(catalog, ds, iter(lines))

    assert result["applied"] == 4
    assert [(e["line"], e["error"].split(":")[0]) for e in result["errors"]] == [
        (2, "not valid JSON"),
        (4, "no item with path '/nope.jpg' in this dataset"),
        (6, "metadata must be a JSON object of key"),
        (7, "a metadata key must be a non-empty string"),
        (8, "give the item's path or its id (one of them)"),
        (9, "a line must be a JSON object"),
        (10, "give the item's path or its id (one of them)"),
    ]
    assert user(catalog, "/a.jpg") == {"camera": 1, "lot": 8}  # two lines, in order
    assert find_item(catalog, ds, "/a.jpg")["description"] == "first"
    assert user(catalog, "/b.jpg") == {"camera": 9}
    assert user(catalog, "/c/d.jpg") == {"k": "v"}


def test_csv_reports_physical_line_numbers(catalog, ds):
    text = (
        "path,metadata,description\n"
        '/a.jpg,"{""lot"": 3}",a description\n'
        '/b.jpg,"{""note"": 2}","two\n'  # a quoted cell over two lines: one record
        'lines"\n'
        "/c/d.jpg,{bad json},\n"
        '/nope.jpg,"{""x"": 1}",\n'
        '/c/d.jpg,"[1]",\n'
        "/c/d.jpg,,only a description\n"
        "/a.jpg,too,many,cells\n"
    )

    result = apply_bulk_metadata(catalog, ds, io.StringIO(text), fmt="csv")

    assert [(e["line"], e["error"].split(":")[0]) for e in result["errors"]] == [
        (5, "metadata is not valid JSON"),
        (6, "no item with path '/nope.jpg' in this dataset"),
        (7, "metadata must be a JSON object of key"),
        (9, "expected 3 cells"),
    ]
    assert result["applied"] == 3
    assert user(catalog, "/a.jpg") == {"camera": 1, "area": "north", "lot": 3}
    assert find_item(catalog, ds, "/a.jpg")["description"] == "a description"
    assert user(catalog, "/b.jpg") == {"note": 2}
    assert find_item(catalog, ds, "/b.jpg")["description"] == "two\nlines"
    assert find_item(catalog, ds, "/c/d.jpg")["description"] == "only a description"


def test_csv_by_id_and_a_bad_header(catalog, ds):
    b_id = find_item(catalog, ds, "/b.jpg")["id"]
    good = apply_bulk_metadata(
        catalog, ds, ["id,metadata\n", f'{b_id},"{{""k"": true}}"\n', 'x,"{}"\n'], fmt="csv"
    )
    assert good["applied"] == 1 and user(catalog, "/b.jpg") == {"k": True}
    assert good["errors"] == [{"line": 3, "error": "id must be an integer"}]

    bad = apply_bulk_metadata(catalog, ds, ["name,meta\n", "/a.jpg,{}\n"], fmt="csv")
    assert bad["applied"] == 0
    assert bad["errors"][0]["line"] == 1 and "path or id needed" in bad["errors"][0]["error"]


def test_bytes_lines_and_bad_utf8(catalog, ds):
    lines = [
        b'{"path": "/a.jpg", "metadata": {"k": "\xc3\xa9"}}\n',
        b'{"path": "/b.jpg", "metadata": {"k": "\xff"}}\n',
    ]
    result = apply_bulk_metadata(catalog, ds, lines)
    assert result == {"applied": 1, "errors": [{"line": 2, "error": "not valid UTF-8"}]}
    assert user(catalog, "/a.jpg")["k"] == "é"


def test_a_large_file_is_applied_in_batches_and_streamed(catalog, ds, monkeypatch):
    monkeypatch.setattr(metadata_usecase, "BATCH", 2)
    consumed = []

    def lines():
        for n in range(7):
            consumed.append(n)
            path = "/a.jpg" if n % 2 else "/missing.jpg"
            yield json.dumps({"path": path, "metadata": {"n": n}})

    batches = []
    apply_batch = metadata_usecase._apply_batch

    def recording(catalog_, dataset_id, batch, report):
        batches.append((len(consumed), [line.number for line in batch]))
        apply_batch(catalog_, dataset_id, batch, report)

    monkeypatch.setattr(metadata_usecase, "_apply_batch", recording)
    result = apply_bulk_metadata(catalog, ds, lines())

    # Each batch is applied as soon as it is full: the file is never read whole first.
    assert batches == [(2, [1, 2]), (4, [3, 4]), (6, [5, 6]), (7, [7])]
    assert result["applied"] == 3 and len(result["errors"]) == 4
    assert user(catalog, "/a.jpg")["n"] == 5


def test_bulk_on_an_unknown_dataset_or_format_fails_whole(catalog, ds):
    with pytest.raises(NotFound):
        apply_bulk_metadata(catalog, "nope", [])
    with pytest.raises(InvalidInput, match="jsonl or csv"):
        apply_bulk_metadata(catalog, ds, [], fmt="xml")
