"""``tributary_preprocess`` through ``dag.test()`` on every storage kind and both catalogs."""

from __future__ import annotations

import io

import sqlalchemy as sa
from PIL import Image

from tests.dags.runner import load_dag, run_dag
from tests.dags.test_initial_sync import make_dataset
from tests.preprocess import corpus
from tributary.catalog import datasets
from tributary.catalog import items as item_queries

DAG_ID = "tributary_preprocess"


def by_path(catalog, name="ds") -> dict[str, dict]:
    with catalog.begin() as conn:
        return {i["path"].lstrip("/"): i for i in item_queries.iterate(conn, name)}


def preprocess(conf: dict | None = None):
    return run_dag(DAG_ID, {"dataset": "", "force": False, **(conf or {})})


def sync(kind: str = "initial"):
    run = run_dag(f"tributary_{kind}_sync", {"dataset": "ds"})
    assert run.state == "success"


FILES = {
    "photos/rotated.jpg": corpus.jpeg_with_orientation(6),
    "photos/alpha.png": corpus.png_with_alpha(),
    "photos/notes.jpg": b"not a photo at all\n",
    "photos/broken.jpg": corpus.truncated_jpeg(),
    "clips/clip.mp4": corpus.short_video(),
}


def test_thumbnails_land_in_the_hidden_folder_and_are_never_indexed(airflow_db, catalog, bucket):
    for key, data in FILES.items():
        bucket.put(key, data)
    make_dataset(catalog, bucket)
    sync()
    assert {i["preprocess_state"] for i in by_path(catalog).values()} == {"pending"}

    assert preprocess().state == "success"

    items = by_path(catalog)
    rotated = items["photos/rotated.jpg"]
    assert rotated["preprocess_state"] == "done"
    meta = rotated["system_metadata"]
    assert (meta["width"], meta["height"]) == (80, 120)
    assert meta["dimensions"] == {"width": 120, "height": 80}
    assert meta["exif"]["orientation"] == 6 and meta["mimetype"] == "image/jpeg"
    key = rotated["thumbnail_key"]
    assert key.startswith(".tributary/thumbnails/") and meta["thumbnail"]["key"] == key
    thumbnail = Image.open(io.BytesIO(bucket.get(key)))
    assert thumbnail.size == (120, 80)  # upright
    assert thumbnail.convert("RGB").getpixel((3, 3))[0] > 200  # red block top-left

    assert items["photos/alpha.png"]["preprocess_state"] == "done"
    notes = items["photos/notes.jpg"]
    assert notes["preprocess_state"] == "done" and notes["thumbnail_key"] is None
    assert notes["mimetype"] == "text/plain"
    assert notes["system_metadata"]["extension_mimetype"] == "image/jpeg"
    broken = items["photos/broken.jpg"]
    assert broken["preprocess_state"] == "failed"
    assert broken["preprocess_error"].startswith("truncated file")
    clip = items["clips/clip.mp4"]["system_metadata"]
    assert clip["duration"] == 2.0 and clip["codec"] == "h264" and clip["fps"] == 6.0
    assert items["clips/clip.mp4"]["thumbnail_key"]

    sync("upstream")  # the thumbnails in .tributary/ are not items
    assert set(by_path(catalog)) == set(FILES)


def test_a_second_run_does_no_work_and_force_redoes_it(airflow_db, catalog, tmp_path):
    from tests.buckets import new_bucket

    bucket = new_bucket("local", None, tmp_path)
    for i in range(3):
        bucket.put(f"{i}.jpg", corpus.jpeg_with_orientation(1))
    make_dataset(catalog, bucket)
    sync()
    assert preprocess().state == "success"
    first = {path: item["preprocessed_at"] for path, item in by_path(catalog).items()}

    run = preprocess()
    assert run.state == "success"
    assert {p: i["preprocessed_at"] for p, i in by_path(catalog).items()} == first
    assert mapped_task_count(run, "preprocess_shared") == 0

    assert preprocess({"force": True}).state == "success"
    again = by_path(catalog)
    assert all(again[path]["preprocessed_at"] > first[path] for path in first)


def mapped_task_count(run, task_id: str) -> int:
    """Task instances of a mapped task that ran (map index ≥ 0) in an Airflow run."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.scalar(
            sa.select(sa.func.count()).where(
                (TaskInstance.run_id == run.run_id)
                & (TaskInstance.task_id == task_id)
                & (TaskInstance.map_index >= 0)
            )
        )


def synced_photo_in_lane(catalog, tmp_path, lane: str) -> None:
    """Dataset ``ds`` on a local folder holding one synced photo ``a.jpg``, in ``lane``."""
    from tests.buckets import new_bucket

    bucket = new_bucket("local", None, tmp_path)
    bucket.put("a.jpg", corpus.jpeg_with_orientation(1))
    make_dataset(catalog, bucket)
    with catalog.begin() as conn:
        datasets.set_policy(conn, "ds", lane=lane)
    sync()


def test_a_private_lane_runs_on_its_pool_and_queue(airflow_db, catalog, tmp_path, monkeypatch):
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    monkeypatch.setenv("TRIBUTARY_LANES", '{"acme": {"pool": "tributary_acme", "queue": "acme"}}')
    synced_photo_in_lane(catalog, tmp_path, "acme")
    dag = load_dag(DAG_ID)
    assert {t.task_id for t in dag.tasks} >= {"preprocess_shared", "preprocess_acme"}

    run = dag.test(run_conf={"dataset": "ds", "force": False})

    assert run.state == "success"
    with create_session() as session:
        ran = session.execute(
            sa.select(TaskInstance.task_id, TaskInstance.pool, TaskInstance.queue).where(
                (TaskInstance.run_id == run.run_id) & (TaskInstance.map_index >= 0)
            )
        ).all()
    assert [tuple(row) for row in ran] == [("preprocess_acme", "tributary_acme", "acme")]
    assert by_path(catalog)["a.jpg"]["preprocess_state"] == "done"


def test_a_dataset_in_an_undefined_lane_fails_the_run_and_waits(airflow_db, catalog, tmp_path):
    synced_photo_in_lane(catalog, tmp_path, "nowhere")

    run = preprocess()

    assert run.state == "failed"
    assert by_path(catalog)["a.jpg"]["preprocess_state"] == "pending"
