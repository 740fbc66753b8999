"""CSV imports driven step by step (validate → batches → report) on the internal storage
and a local driver, with a real HTTP server on 127.0.0.1 for upload rows: good rows land,
bad ones are reported with their line numbers, re-imports are idempotent."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.ingest.http_server import JPEG, TestServer
from tributary.catalog import datasets, drivers
from tributary.catalog.schema import imports, items
from tributary.errors import InvalidInput, NotFound, QuotaExceeded
from tributary.ingest.errors import CsvRefused
from tributary.ingest.links import parse_link
from tributary.usecases import import_run
from tributary.usecases.imports import (
    error_report,
    get_import,
    import_folder,
    list_imports,
    start_import,
)

PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n fake png").decode()


@pytest.fixture(autouse=True)
def internal_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "internal"
    monkeypatch.setenv("TRIBUTARY_STORAGE_ROOT", str(root))
    monkeypatch.setenv("TRIBUTARY_FETCH_ALLOW", "127.0.0.1")
    monkeypatch.setenv("TRIBUTARY_FETCH_RETRIES", "0")
    return root


@pytest.fixture(scope="module")
def server():
    with TestServer() as running:
        yield running


@pytest.fixture
def bucket_root(tmp_path) -> Path:
    root = tmp_path / "bucket"
    root.mkdir()
    return root


def make_datasets(catalog, bucket_root, quota=None):
    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket=str(bucket_root))
        datasets.create(conn, name="cams", driver_name="d", quota=quota)
        datasets.create(conn, name="notes", quota=quota)


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def run_import(catalog, dataset, data: bytes, name="shots.csv", chunk_rows=3) -> dict:
    record = start_import(catalog, dataset, io.BytesIO(data), name)
    plan = import_run.validate(catalog, dataset, record["id"], chunk_rows=chunk_rows)
    results = [
        import_run.run_batch(catalog, dataset, b["import_id"], b["first"], b["last"])
        for b in plan["batches"]
    ]
    import_run.report(catalog, dataset, record["id"], plan["chunks"], results)
    return get_import(catalog, dataset, record["id"])


def report_rows(catalog, dataset, import_id) -> list[list[str]]:
    data = b"".join(error_report(catalog, dataset, import_id))
    return list(csv.reader(io.StringIO(data.decode())))


def items_by_path(catalog) -> dict[str, dict]:
    with catalog.begin() as conn:
        rows = conn.execute(sa.select(items).where(items.c.state == "active")).mappings()
        return {r["path"]: dict(r) for r in rows}


def the_csv(server, flaky="import") -> bytes:
    return csv_bytes(
        [
            ["ID", "URL", "image_bytes", "action", "mimetype", "item_metadata", "Extra"],
            ["cat.jpg", server.url("/image.jpg?sig=s3cret"), "", "", "", '{"cam": 1}', "x"],
            ["dog.jpg", server.url("/image.jpg"), "", "upload", "", "", ""],
            ["inline.png", "", PNG_B64, "upload", "image/png", "", ""],
            ["gone.jpg", server.url("/status/404"), "", "upload", "", "", ""],
            ["page.jpg", server.url("/html"), "", "upload", "", "", ""],
            ["bad64.png", "", "%%%not base64", "upload", "", "", ""],
            ["cat.jpg", server.url("/other.jpg"), "", "", "", "", ""],
            ["meta.jpg", server.url("/image.jpg"), "", "", "", "[1, 2]", ""],
            ["=cmd()", "ftp://example.com/x.jpg", "", "", "", "", ""],
            ["flaky.jpg", server.url(f"/flaky/{flaky}/1"), "", "upload", "text/plain", "", ""],
        ]
    )


def test_good_rows_land_and_bad_rows_are_reported_with_their_lines(
    catalog, bucket_root, internal_root, server, request
):
    make_datasets(catalog, bucket_root)

    done = run_import(catalog, "notes", the_csv(server, request.node.callspec.id))

    assert done["status"] == "succeeded" and done["folder"] == "/shots/"
    assert done["rows"] == 10 and done["created"] == 3
    assert done["failed"] == 7 and done["warnings"] == ["ignored columns: Extra"]
    found = items_by_path(catalog)
    assert sorted(found) == ["/shots/cat.jpg.json", "/shots/dog.jpg", "/shots/inline.png"]
    cat = found["/shots/cat.jpg.json"]
    assert cat["kind"] == "link" and cat["user_metadata"] == {"cam": 1}
    assert parse_link((internal_root / "notes/shots/cat.jpg.json").read_bytes()).name == "cat.jpg"
    assert (internal_root / "notes/shots/dog.jpg").read_bytes() == JPEG
    assert found["/shots/dog.jpg"]["kind"] == "file"
    assert found["/shots/dog.jpg"]["source_url"] == server.url("/image.jpg")
    report = report_rows(catalog, "notes", done["id"])
    assert report[0] == ["line", "ID", "reason"]
    assert [(r[0], r[1]) for r in report[1:]] == [
        ("5", "gone.jpg"),
        ("6", "page.jpg"),
        ("7", "bad64.png"),
        ("8", "cat.jpg"),
        ("9", "meta.jpg"),
        ("10", "'=cmd()"),
        ("11", "flaky.jpg"),
    ]
    reasons = {r[1]: r[2] for r in report[1:]}
    assert "404" in reasons["gone.jpg"] and "text/html" in reasons["page.jpg"]
    assert "duplicate" in reasons["cat.jpg"] and "500" in reasons["flaky.jpg"]
    assert "s3cret" not in json.dumps(report)
    assert done["status"] == "succeeded"


def test_a_re_import_skips_identical_rows_updates_metadata_and_retries_failed_rows(
    catalog, bucket_root, server, request
):
    make_datasets(catalog, bucket_root)
    first = run_import(catalog, "notes", the_csv(server, "reimport" + request.node.callspec.id))
    before = items_by_path(catalog)
    corrected = the_csv(server, "reimport" + request.node.callspec.id).replace(
        b'{""cam"": 1}', b'{""cam"": 2}'
    )

    again = run_import(catalog, "notes", corrected)

    assert again["id"] != first["id"]
    assert (again["created"], again["updated"], again["skipped"]) == (1, 1, 2)
    after = items_by_path(catalog)
    assert sorted(after) == sorted([*before, "/shots/flaky.jpg"])  # retried, now 200
    assert {p: after[p]["id"] for p in before} == {p: r["id"] for p, r in before.items()}
    assert after["/shots/cat.jpg.json"]["user_metadata"] == {"cam": 2}
    assert [i["id"] for i in list_imports(catalog, "notes")["imports"]] == [
        again["id"],
        first["id"],
    ]


def test_a_retried_batch_never_duplicates(catalog, bucket_root, server, request):
    make_datasets(catalog, bucket_root)
    record = start_import(
        catalog,
        "notes",
        io.BytesIO(the_csv(server, "retried" + request.node.callspec.id)),
        "shots.csv",
    )
    plan = import_run.validate(catalog, "notes", record["id"], chunk_rows=100)
    batch = plan["batches"][0]

    first = import_run.run_batch(catalog, "notes", record["id"], batch["first"], batch["last"])
    retried = import_run.run_batch(catalog, "notes", record["id"], batch["first"], batch["last"])

    assert first["created"] == 3 and first["failed"] == 7 - 4  # the rows valid but bad
    assert retried["created"] == 1 and retried["skipped"] == 3  # flaky.jpg passed this time
    assert len(items_by_path(catalog)) == 4


def test_links_to_a_driver_go_to_its_bucket_in_the_csv_files_folder(catalog, bucket_root):
    make_datasets(catalog, bucket_root)
    rows = [["id", "url", "name"]] + [
        [f"{i}", f"https://example.com/{i}.jpg", f"photo {i}.jpg"] for i in range(7)
    ]

    done = run_import(catalog, "cams", csv_bytes(rows), name="Lot 4.CSV")

    from tributary.usecases.downstream import drain

    drain(catalog)
    assert done["created"] == 7 and done["failed"] == 0
    assert sorted(p.name for p in (bucket_root / "Lot 4").iterdir()) == [
        f"photo {i}.jpg.json" for i in range(7)
    ]
    assert report_rows(catalog, "cams", done["id"]) == [["line", "ID", "reason"]]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"URL\nhttps://example.com/a.jpg\n", "no ID column"),
        (b"ID,name\na,b\n", "neither a URL nor an image_bytes column"),
        ("ID,URL\né,https://example.com/a.jpg\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_a_refused_file_fails_the_import_in_one_line_and_writes_nothing(
    catalog, bucket_root, data, error
):
    make_datasets(catalog, bucket_root)
    record = start_import(catalog, "notes", io.BytesIO(data), "bad.csv")

    with pytest.raises(CsvRefused, match=error):
        import_run.validate(catalog, "notes", record["id"])

    failed = get_import(catalog, "notes", record["id"])
    assert failed["status"] == "failed" and error in failed["error"]
    assert "\n" not in failed["error"] and items_by_path(catalog) == {}


def test_the_quota_is_checked_for_the_rows_that_create_items(catalog, bucket_root):
    make_datasets(catalog, bucket_root, quota=2)
    rows = [["ID", "URL"]] + [[f"{i}.jpg", f"https://example.com/{i}.jpg"] for i in range(3)]
    record = start_import(catalog, "notes", io.BytesIO(csv_bytes(rows)), "q.csv")

    with pytest.raises(QuotaExceeded):
        import_run.validate(catalog, "notes", record["id"])

    assert get_import(catalog, "notes", record["id"])["status"] == "failed"
    assert items_by_path(catalog) == {}


def test_at_most_max_tasks_batches_each_a_pointer_with_its_lines(catalog, bucket_root):
    make_datasets(catalog, bucket_root)
    rows = [["ID", "URL"]] + [[f"{i}.jpg", f"https://example.com/{i}.jpg"] for i in range(25)]
    record = start_import(catalog, "notes", io.BytesIO(csv_bytes(rows)), "m.csv")

    plan = import_run.validate(catalog, "notes", record["id"], chunk_rows=2, max_tasks=4)

    assert plan["chunks"] == 13 and len(plan["batches"]) == 4
    assert plan["batches"][0] == {
        "dataset": "notes",
        "import_id": record["id"],
        "first": 0,
        "last": 3,
        "label": "lines 2-9",
    }
    assert plan["batches"][-1]["label"] == "lines 26-26"


def test_names_and_lookups(catalog, bucket_root):
    make_datasets(catalog, bucket_root)

    assert import_folder("C:\\Users\\me\\cams 2.csv") == "/cams 2/"
    assert import_folder("list.txt") == "/list.txt/"
    with pytest.raises(InvalidInput):
        import_folder(".tributary.csv")
    with pytest.raises(NotFound):
        get_import(catalog, "notes", 99)
    record = start_import(catalog, "notes", io.BytesIO(b"ID,URL\n"), "a.csv")
    assert record["status"] == "pending"
    with pytest.raises(NotFound, match="no error report"):
        error_report(catalog, "notes", record["id"])


def test_many_links_land_in_bulk_and_a_changed_url_replaces_the_link_in_place(
    catalog, bucket_root, internal_root
):
    make_datasets(catalog, bucket_root)
    rows = [["ID", "URL", "item_description"]] + [
        [f"{i}.jpg", f"https://example.com/{i}.jpg", f"n{i}"] for i in range(3000)
    ]

    done = run_import(catalog, "notes", csv_bytes(rows), name="many.csv", chunk_rows=1000)

    assert (done["created"], done["failed"]) == (3000, 0)
    found = items_by_path(catalog)
    assert len(found) == 3000 and {i["kind"] for i in found.values()} == {"link"}
    assert found["/many/7.jpg.json"]["description"] == "n7"
    assert parse_link((internal_root / "notes/many/7.jpg.json").read_bytes()).name == "7.jpg"
    from tributary.catalog.schema import outbox

    with catalog.begin() as conn:
        announced = conn.execute(
            sa.select(sa.func.count()).where(outbox.c.op == "announce")
        ).scalar_one()
    assert announced == 3000  # the drain emits items-created for them

    rows[8][1] = "https://example.com/other.jpg"
    again = run_import(catalog, "notes", csv_bytes(rows), name="many.csv", chunk_rows=1000)

    assert (again["created"], again["updated"], again["skipped"]) == (0, 1, 2999)
    changed = items_by_path(catalog)["/many/7.jpg.json"]
    assert changed["id"] == found["/many/7.jpg.json"]["id"]
    assert changed["source_url"] == "https://example.com/other.jpg"
    assert parse_link((internal_root / "notes/many/7.jpg.json").read_bytes()).url == (
        "https://example.com/other.jpg"
    )


def test_a_dataset_with_imports_can_be_deleted(catalog, bucket_root):
    from tributary.usecases.datasets import delete_dataset

    make_datasets(catalog, bucket_root)
    start_import(catalog, "notes", io.BytesIO(b"ID,URL\n"), "a.csv")

    assert delete_dataset(catalog, "notes", run_alive=lambda *_: False).name == "notes"
    with catalog.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(imports)).scalar() == 0


def test_upload_rows_in_bulk_leave_no_reservation_nor_stray_object(
    catalog, bucket_root, internal_root, server, request
):
    import hashlib

    from tributary.catalog.schema import outbox

    make_datasets(catalog, bucket_root)

    done = run_import(catalog, "notes", the_csv(server, "bulk" + request.node.callspec.id))

    assert done["created"] == 3
    found = items_by_path(catalog)
    dog = found["/shots/dog.jpg"]
    assert dog["sha256"] == hashlib.sha256(JPEG).hexdigest() and dog["size"] == len(JPEG)
    assert dog["etag"] and dog["downstream"] is None and dog["mimetype"] == "image/jpeg"
    inline = found["/shots/inline.png"]
    assert inline["source_url"] is None and inline["kind"] == "file"
    with catalog.begin() as conn:
        rows = conn.execute(sa.select(outbox.c.op, outbox.c.status, outbox.c.error)).all()
        waiting = conn.execute(
            sa.select(sa.func.count()).where(items.c.downstream.is_not(None))
        ).scalar_one()
    assert waiting == 0
    assert not [r for r in rows if r.error and r.error.startswith("reserved")]
    assert all(r.status == "done" for r in rows if r.op == "put")
    assert sum(r.op == "announce" for r in rows) == 3
    on_disk = sorted(p.name for p in (internal_root / "notes" / "shots").iterdir())
    assert on_disk == ["cat.jpg.json", "dog.jpg", "inline.png"]  # none of the failed rows
