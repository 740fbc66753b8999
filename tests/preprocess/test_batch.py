"""Preprocessing batches against a real catalog and a local folder, without Airflow."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from PIL import Image

from tests.preprocess import corpus
from tributary.catalog import datasets, drivers
from tributary.catalog import items as item_queries
from tributary.catalog import preprocessing as queries
from tributary.catalog.preprocessing import Selection
from tributary.catalog.schema import items
from tributary.preprocess import batch, planning
from tributary.preprocess.options import ThumbnailSpec
from tributary.storage.base import StorageError, Unreachable
from tributary.sync import initial, listing

LANES = {"shared": {}}


def make_synced_dataset(catalog, root, files: dict[str, bytes], name="ds") -> None:
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    with catalog.begin() as conn:
        drivers.create(conn, name=f"{name}-driver", provider="local", bucket=str(root))
        datasets.create(conn, name=name, driver_name=f"{name}-driver")
    sync_id = listing.start(catalog, dataset_name=name, kind="initial", dag_id="t", run_id=name)
    for partition in listing.plan(catalog, sync_id):
        listing.list_partition(catalog, sync_id, partition["index"])
    initial.index(catalog, sync_id)


def run_all(catalog, selection: Selection | None = None, **plan_args) -> dict:
    planned = planning.plan(
        catalog,
        dataset_names=None,
        selection=selection or Selection(),
        lanes=LANES,
        max_batches=plan_args.pop("max_batches", 512),
        min_batch=plan_args.pop("min_batch", 500),
    )
    totals = {"done": 0, "failed": 0, "missing": 0, "deferred": 0}
    for lane_batches in planned["lanes"].values():
        for one in lane_batches:
            counts = batch.process_batch(
                catalog, one, spec=ThumbnailSpec(), max_pixels=1_000_000, threads=2
            )
            totals = {k: totals[k] + counts[k] for k in totals}
    return {"planned": planned, **totals}


def by_path(catalog) -> dict[str, dict]:
    with catalog.begin() as conn:
        return {i["path"].lstrip("/"): i for i in item_queries.iterate(conn, "ds")}


def test_the_corpus_gets_metadata_thumbnails_and_reasons(catalog, tmp_path):
    files = corpus.corpus()
    make_synced_dataset(catalog, tmp_path / "bucket", files)

    result = run_all(catalog)

    found = by_path(catalog)
    failed = {
        p: i["preprocess_error"] for p, i in found.items() if i["preprocess_state"] == "failed"
    }
    assert set(failed) == {"truncated.jpg", "empty.jpg", "huge.png"}
    assert (result["done"], result["failed"]) == (len(files) - 3, 3)
    thumbnails = tmp_path / "bucket" / ".tributary" / "thumbnails"
    for _path, item in found.items():
        if item["thumbnail_key"]:
            assert (tmp_path / "bucket" / item["thumbnail_key"]).is_file()
            assert item["thumbnail_key"].startswith(".tributary/thumbnails/")
    made = {p for p, i in found.items() if i["thumbnail_key"]}
    assert made == set(files) - set(failed) - {"notes.jpg"}
    assert len(list(thumbnails.rglob("*.jpg"))) == len(made)


def test_a_second_run_finds_nothing_and_changed_items_come_back(catalog, tmp_path):
    make_synced_dataset(catalog, tmp_path / "bucket", {"a.jpg": corpus.jpeg_with_orientation(3)})
    assert run_all(catalog)["done"] == 1
    again = run_all(catalog)
    assert again["planned"]["lanes"]["shared"] == [] and again["done"] == 0

    with catalog.begin() as conn:  # as an upstream sync marks a changed file
        conn.execute(items.update().values(preprocess_state="pending", etag="new"))
    assert run_all(catalog)["done"] == 1


def test_a_backfill_selection_redoes_only_its_interval(catalog, tmp_path):
    files = {"old.jpg": corpus.jpeg_with_orientation(1), "new.jpg": corpus.jpeg_with_orientation(1)}
    make_synced_dataset(catalog, tmp_path / "bucket", files)
    run_all(catalog)
    week_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
    with catalog.begin() as conn:
        conn.execute(items.update().where(items.c.path == "/old.jpg").values(created_at=week_ago))
    before = {p: i["preprocessed_at"] for p, i in by_path(catalog).items()}

    day = week_ago.replace(hour=0, minute=0, second=0, microsecond=0)
    result = run_all(catalog, Selection("created", day, day + dt.timedelta(days=1)))

    after = {p: i["preprocessed_at"] for p, i in by_path(catalog).items()}
    assert result["done"] == 1
    assert after["old.jpg"] > before["old.jpg"] and after["new.jpg"] == before["new.jpg"]


def test_a_file_that_became_a_non_image_loses_its_thumbnail(catalog, tmp_path, caplog):
    root = tmp_path / "bucket"
    files = {"a.jpg": corpus.jpeg_with_orientation(1), "b.jpg": corpus.jpeg_with_orientation(1)}
    make_synced_dataset(catalog, root, files)
    run_all(catalog)
    old = {p: root / i["thumbnail_key"] for p, i in by_path(catalog).items()}
    old["b.jpg"].unlink()
    (old["b.jpg"] / "inside").mkdir(parents=True)  # a thumbnail no delete can remove

    with catalog.begin() as conn:  # both files now hold text, as the next sync finds
        conn.execute(items.update().values(preprocess_state="pending", size=4, etag="text"))
    for name in files:
        (root / name).write_bytes(b"text")
    assert run_all(catalog)["done"] == 2

    after = by_path(catalog)
    assert after["a.jpg"]["thumbnail_key"] is None and not old["a.jpg"].exists()
    assert after["b.jpg"]["thumbnail_key"] is None and after["b.jpg"]["preprocess_state"] == "done"
    assert "Left the stale thumbnail .tributary/thumbnails/" in caplog.text


def test_a_file_changed_while_processing_is_left_for_the_next_run(catalog, tmp_path):
    make_synced_dataset(catalog, tmp_path / "bucket", {"a.jpg": corpus.jpeg_with_orientation(1)})
    item = by_path(catalog)["a.jpg"]
    stale = {
        **{"id": item["id"], "size": item["size"], "etag": "an older etag"},
        **{"state": "done", "error": None, "metadata": {}, "mimetype": "image/jpeg"},
        "thumbnail_key": None,
    }
    with catalog.begin() as conn:
        assert queries.record(conn, [stale]) == 0
    assert by_path(catalog)["a.jpg"]["preprocess_state"] == "pending"


def test_storage_errors_leave_items_pending_and_fail_the_batch_for_a_retry(
    catalog, tmp_path, monkeypatch
):
    files = {f"{i}.jpg": corpus.jpeg_with_orientation(1) for i in range(4)}
    make_synced_dataset(catalog, tmp_path / "bucket", files)
    from tributary.storage.local import LocalStore

    real_read = LocalStore.read

    def flaky(self, key, start=0, length=None):
        if key.endswith("2.jpg"):
            raise Unreachable("connection reset")
        return real_read(self, key, start, length)

    monkeypatch.setattr(LocalStore, "read", flaky)
    try:
        run_all(catalog)
    except batch.ItemsDeferred as exc:
        assert "2.jpg" in str(exc) and isinstance(exc, StorageError) is False
    else:
        raise AssertionError("the batch should fail so that Airflow retries it")
    states = {p: i["preprocess_state"] for p, i in by_path(catalog).items()}
    assert states == {"0.jpg": "done", "1.jpg": "done", "2.jpg": "pending", "3.jpg": "done"}

    monkeypatch.setattr(LocalStore, "read", real_read)
    assert run_all(catalog)["done"] == 1  # the retry only redoes what is left


def test_a_deleted_file_is_skipped_not_failed(catalog, tmp_path):
    make_synced_dataset(catalog, tmp_path / "bucket", {"a.jpg": corpus.jpeg_with_orientation(1)})
    (tmp_path / "bucket" / "a.jpg").unlink()
    result = run_all(catalog)
    assert result["missing"] == 1
    assert by_path(catalog)["a.jpg"]["preprocess_state"] == "pending"


def test_counts_by_state(catalog, tmp_path):
    make_synced_dataset(catalog, tmp_path / "bucket", {"a.jpg": b"", "b.txt": b"hi"})
    run_all(catalog)
    with catalog.begin() as conn:
        dataset_id = conn.execute(sa.text("select id from datasets")).scalar_one()
        assert queries.states(conn, dataset_id) == {"pending": 0, "done": 1, "failed": 1}


# -- hardening (issue 9): preprocessing never loses a batch --------------------------------


def test_b13_a_truncated_png_does_not_stall_its_batch(catalog, tmp_path):
    png = corpus.encoded(Image.effect_noise((300, 200), 64).convert("RGB"), "PNG")
    files = {"a.png": png[: len(png) * 6 // 10]}
    files |= {f"{i}.jpg": corpus.jpeg_with_orientation(1) for i in range(5)}
    make_synced_dataset(catalog, tmp_path / "bucket", files)

    result = run_all(catalog)

    assert (result["done"], result["failed"], result["deferred"]) == (5, 1, 0)
    found = by_path(catalog)
    assert found["a.png"]["preprocess_state"] == "failed"
    assert found["a.png"]["preprocess_error"].startswith("truncated file")
    assert {found[f"{i}.jpg"]["preprocess_state"] for i in range(5)} == {"done"}


def test_b14_an_unexpected_error_fails_its_item_not_the_batch(catalog, tmp_path, monkeypatch):
    files = {f"{i}.jpg": corpus.jpeg_with_orientation(1) for i in range(4)}
    make_synced_dataset(catalog, tmp_path / "bucket", files)
    real = batch.describe

    def describe(source, **options):
        if source.name == "2.jpg":
            raise KeyError("a decoder's surprise")
        return real(source, **options)

    monkeypatch.setattr(batch, "describe", describe)
    result = run_all(catalog)

    assert (result["done"], result["failed"]) == (3, 1)
    found = by_path(catalog)
    assert found["2.jpg"]["preprocess_state"] == "failed"
    assert "KeyError" in found["2.jpg"]["preprocess_error"]


# The memory tests run one batch in a fresh interpreter and compare its peak RSS after
# the work with its peak after the imports: a number that does not depend on the machine's
# speed, only on what the work holds at once.
PEAK_SCRIPT = """
import json, resource, sys
from tributary.catalog import Catalog
from tributary.catalog.preprocessing import Selection
from tributary.preprocess import batch
from tributary.preprocess.image import ThumbnailSpec
import tributary.preprocess.image, tributary.preprocess.video  # decoders loaded: baseline
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
one = {"dataset_id": 1, "dataset": "ds", "index": 0, "min_id": 0, "max_id": 10**9,
       "selection": Selection().as_dict()}
counts = batch.process_batch(Catalog(sys.argv[1]), one, spec=ThumbnailSpec(),
                             max_pixels=int(sys.argv[2]), threads=2)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grew_mib": (after - before) / 1024, **counts}))
"""


def peak_of_one_batch(tmp_path, files: dict[str, bytes], big: dict[str, int], **env) -> dict:
    """Sync ``files`` and sparse files (name → size) into a fresh dataset, then measure."""
    from tributary.catalog import Catalog

    root = tmp_path / "bucket"
    root.mkdir()
    for name, size in big.items():
        with open(root / name, "wb") as handle:
            handle.write(b"\xff\xd8\xff" if name.startswith("jpeg-start") else b"\x00")
            handle.truncate(size)  # sparse: no disk, no memory
    url = f"sqlite:///{tmp_path / 'peak.db'}"
    make_synced_dataset(Catalog(url), root, files)
    environment = {**os.environ, "TRIBUTARY_CATALOG_URL": url, **env}
    max_pixels = environment.pop("MAX_PIXELS", "200000000")
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, url, max_pixels],
        capture_output=True, text=True, env=environment, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_b15_memory_does_not_grow_with_file_size(tmp_path):
    peak = peak_of_one_batch(
        tmp_path,
        {"small.jpg": corpus.jpeg_with_orientation(1)},
        {"big.jpg": 1 << 30, "jpeg-start.jpg": 1 << 30},  # 1 GiB each: zeros; a JPEG start
        TRIBUTARY_PREPROCESS_MAX_BYTES=str(4 << 20),
    )
    assert (peak["done"], peak["failed"], peak["deferred"]) == (2, 1, 0)
    assert peak["grew_mib"] < 64, peak


def test_b15_the_read_limit_fails_an_item_with_the_reason(catalog, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_PREPROCESS_MAX_BYTES", "100000")
    big = corpus.encoded(Image.effect_noise((800, 600), 64).convert("RGB"), "JPEG")
    make_synced_dataset(catalog, tmp_path / "bucket", {"big.jpg": big})
    assert run_all(catalog)["failed"] == 1
    error = by_path(catalog)["big.jpg"]["preprocess_error"]
    assert error.startswith("read limit:") and "TRIBUTARY_PREPROCESS_MAX_BYTES" in error


@pytest.mark.slow
def test_b16_a_raised_pixel_limit_keeps_memory_bounded(tmp_path):
    # 100 Mpx: under the documented 200 M limit, over Pillow's default; 400 MB decoded.
    peak = peak_of_one_batch(
        tmp_path, {"wide.png": corpus.flat_png(10_000, 10_000)}, {}, MAX_PIXELS="300000000"
    )
    assert peak["failed"] == 1
    assert peak["grew_mib"] < 64, peak
