"""``tributary_csv_ingest``: parsed like every Tributary DAG, and run with ``dag.test()`` on
a dataset on every storage kind (a local driver, moto S3, Azurite, the GCS emulator), with
a real HTTP server on 127.0.0.1 (allowed through ``TRIBUTARY_FETCH_ALLOW``) for upload
rows; the link round trip (link → bucket → a sync of another dataset) on each kind too."""

from __future__ import annotations

import base64
import csv
import io

import pytest
import sqlalchemy as sa

from tests.dags.runner import load_dag, run_dag
from tests.dags.test_dag_integrity import form_marks_required
from tests.dags.test_initial_sync import items_created_events, make_dataset
from tests.ingest.http_server import JPEG, TestServer
from tributary.catalog.schema import items
from tributary.ingest.links import parse_link
from tributary.usecases.imports import error_report, get_import, start_import

DAG_ID = "tributary_csv_ingest"
PNG = b"\x89PNG\r\n\x1a\n fake png"


@pytest.fixture(autouse=True)
def fetch_allowed(monkeypatch):
    monkeypatch.setenv("TRIBUTARY_FETCH_ALLOW", "127.0.0.1")
    monkeypatch.setenv("TRIBUTARY_FETCH_RETRIES", "0")


@pytest.fixture(scope="module")
def server():
    with TestServer() as running:
        yield running


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def the_csv(server) -> bytes:
    return csv_bytes(
        [
            ["ID", "URL", "image_bytes", "action", "item_metadata", "item_description"],
            ["cat.jpg", server.url("/image.jpg?X-Amz-Signature=s3cret"), "", "", '{"a": 1}', "c"],
            ["dog.jpg", server.url("/image.jpg"), "", "upload", "", ""],
            ["dot.png", "", base64.b64encode(PNG).decode(), "upload", "", ""],
            ["gone.jpg", server.url("/status/404"), "", "upload", "", ""],
            ["", server.url("/image.jpg"), "", "", "", ""],
            ["odd.jpg", server.url("/image.jpg"), "", "jump", "", ""],
        ]
    )


def stored(catalog, dataset: str, data: bytes, name="shots.csv") -> dict:
    return start_import(catalog, dataset, io.BytesIO(data), name)


def active_items(catalog) -> dict[str, dict]:
    with catalog.begin() as conn:
        rows = conn.execute(sa.select(items).where(items.c.state == "active")).mappings()
        return {r["path"]: dict(r) for r in rows}


def test_the_dag_is_tagged_documented_retrying_with_a_trigger_form():
    dag = load_dag(DAG_ID)

    assert dag.dag_id == DAG_ID and {"tributary", "ingest"} <= set(dag.tags)
    assert dag.doc_md and len(dag.doc_md) > 200
    assert dag.is_paused_upon_creation is False and not dag.catchup
    for task in dag.tasks:
        assert task.retries >= 2 and task.retry_exponential_backoff, task.task_id
    assert form_marks_required(dag.params.get_param("dataset"))
    assert dag.params.get_param("import_id").schema["type"] == "integer"


def test_a_mapped_batch_shows_its_lines():
    import jinja2

    template = load_dag(DAG_ID).get_task("land").map_index_template
    task = type("Task", (), {"op_kwargs": {"batch": {"label": "lines 2-1001"}}})

    assert jinja2.Template(template).render(task=task) == "lines 2-1001"


@pytest.mark.parametrize("bucket", ["local", "s3", "azure", "gcs"], indirect=True)
def test_good_rows_land_in_the_bucket_bad_rows_are_reported_and_a_re_import_skips(
    airflow_db, catalog, bucket, server
):
    make_dataset(catalog, bucket)
    first = stored(catalog, "ds", the_csv(server))

    run = run_dag(DAG_ID, {"dataset": "ds", "import_id": first["id"]})

    assert run.state == "success"
    done = get_import(catalog, "ds", first["id"])
    assert done["status"] == "succeeded" and done["dag_run_id"] == run.run_id
    assert (done["rows"], done["created"], done["failed"]) == (6, 3, 3)
    found = active_items(catalog)
    assert sorted(found) == ["/shots/cat.jpg.json", "/shots/dog.jpg", "/shots/dot.png"]
    assert all(item["downstream"] is None for item in found.values())  # in the bucket
    assert found["/shots/cat.jpg.json"]["kind"] == "link"
    assert found["/shots/cat.jpg.json"]["description"] == "c"
    assert parse_link(bucket.get("shots/cat.jpg.json")).name == "cat.jpg"
    assert bucket.get("shots/dog.jpg") == JPEG and bucket.get("shots/dot.png") == PNG
    report = b"".join(error_report(catalog, "ds", first["id"])).decode()
    lines = list(csv.reader(io.StringIO(report)))
    assert [row[0] for row in lines] == ["line", "5", "6", "7"]
    assert "404" in lines[1][2] and "s3cret" not in report
    extras = items_created_events(run)
    assert len(extras) == 1 and extras[0]["dataset"] == "ds"

    again = stored(catalog, "ds", the_csv(server))
    rerun = run_dag(DAG_ID, {"dataset": "ds", "import_id": again["id"]})

    assert rerun.state == "success"
    redone = get_import(catalog, "ds", again["id"])
    assert (redone["created"], redone["skipped"], redone["failed"]) == (0, 3, 3)
    assert {p: i["id"] for p, i in active_items(catalog).items()} == {
        p: i["id"] for p, i in found.items()
    }


@pytest.mark.parametrize("bucket", ["local"], indirect=True)
def test_a_refused_file_fails_the_run_and_the_import_in_one_line(airflow_db, catalog, bucket):
    make_dataset(catalog, bucket)
    record = stored(catalog, "ds", b"name,URL\na,https://example.com/a.jpg\n")

    run = run_dag(DAG_ID, {"dataset": "ds", "import_id": record["id"]})

    assert run.state == "failed"
    failed = get_import(catalog, "ds", record["id"])
    assert failed["status"] == "failed" and "no ID column" in failed["error"]
    assert active_items(catalog) == {}


@pytest.mark.parametrize("bucket", ["local"], indirect=True)
def test_a_csv_of_bad_rows_only_still_writes_its_report(airflow_db, catalog, bucket):
    make_dataset(catalog, bucket)
    record = stored(catalog, "ds", b"ID,URL\na.jpg,ftp://example.com/a.jpg\n")

    run = run_dag(DAG_ID, {"dataset": "ds", "import_id": record["id"]})

    assert run.state == "success"
    done = get_import(catalog, "ds", record["id"])
    assert (done["status"], done["created"], done["failed"]) == ("succeeded", 0, 1)
    report = b"".join(error_report(catalog, "ds", record["id"])).decode()
    assert report.splitlines()[1].startswith("2,a.jpg,")


@pytest.mark.parametrize("bucket", ["local", "s3", "azure", "gcs"], indirect=True)
def test_a_link_reaches_the_bucket_and_a_sync_of_another_dataset_sees_a_linked_item(
    airflow_db, catalog, bucket
):
    from tributary.catalog import datasets
    from tributary.usecases.downstream import drain
    from tributary.usecases.links import create_link

    make_dataset(catalog, bucket, name="a")
    create_link(catalog, "a", "https://example.com/v/clip.mp4?sig=s3cret", mimetype="video")
    drain(catalog)
    bucket.put("data.json", b'{"not": "a link"}')
    with catalog.begin() as conn:
        datasets.create(conn, name="b", driver_name="a-driver")

    assert run_dag("tributary_initial_sync", {"dataset": "b"}).state == "success"
    create_link(catalog, "a", "https://example.com/later.jpg")
    drain(catalog)
    assert run_dag("tributary_upstream_sync", {"dataset": "b"}).state == "success"

    with catalog.begin() as conn:
        b_id = datasets.get(conn, "b").id
        rows = conn.execute(sa.select(items).where(items.c.dataset_id == b_id)).mappings()
        seen = {r["path"]: (r["kind"], r["source_url"], r["mimetype"]) for r in rows}
    assert seen == {
        "/clip.mp4.json": ("link", "https://example.com/v/clip.mp4?sig=s3cret", "video/mp4"),
        "/data.json": ("file", None, "application/json"),
        "/later.jpg.json": ("link", "https://example.com/later.jpg", "image/jpeg"),
    }


def test_a_csv_with_a_header_only_succeeds_with_nothing_to_do(
    airflow_db, catalog, tmp_path, monkeypatch
):
    from tributary.catalog import datasets

    monkeypatch.setenv("TRIBUTARY_STORAGE_ROOT", str(tmp_path / "internal"))
    with catalog.begin() as conn:
        datasets.create(conn, name="notes")
    record = stored(catalog, "notes", b"ID,URL\n")

    run = run_dag(DAG_ID, {"dataset": "notes", "import_id": record["id"]})

    assert run.state == "success"
    done = get_import(catalog, "notes", record["id"])
    assert (done["status"], done["rows"], done["created"]) == ("succeeded", 0, 0)


@pytest.mark.slow
def test_a_100k_row_link_csv_through_the_real_dag(airflow_db, catalog, tmp_path, monkeypatch):
    import time

    from tributary.catalog import datasets

    monkeypatch.setenv("TRIBUTARY_STORAGE_ROOT", str(tmp_path / "internal"))
    with catalog.begin() as conn:
        datasets.create(conn, name="notes")
    body = "".join(f"{i}.jpg,https://example.com/p/{i}.jpg\n" for i in range(100_000))
    record = stored(catalog, "notes", ("ID,URL\n" + body).encode(), name="big.csv")

    started = time.perf_counter()
    run = run_dag(DAG_ID, {"dataset": "notes", "import_id": record["id"]})
    took = time.perf_counter() - started

    assert run.state == "success"
    done = get_import(catalog, "notes", record["id"])
    assert (done["rows"], done["created"], done["failed"]) == (100_000, 100_000, 0)
    with catalog.begin() as conn:
        kinds = conn.execute(sa.select(items.c.kind, sa.func.count()).group_by(items.c.kind)).all()
    assert [tuple(k) for k in kinds] == [("link", 100_000)]
    extras = items_created_events(run)
    assert extras and {e["dataset"] for e in extras} == {"notes"}
    print(f"100k link rows through tributary_csv_ingest: {took:.1f} s")
