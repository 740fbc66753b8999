"""The example custom-preprocessing DAG: unit test of its function, and a real run."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from tests.conftest import REPO
from tests.dags.runner import load_dag, run_dag
from tests.dags.test_initial_sync import make_dataset
from tests.dags.test_preprocess import by_path

DAG_ID = "example_tributary_dominant_colour"


def example_function(name: str):
    """A function defined in the example DAG file (loaded as the dag-processor would)."""
    task = load_dag(DAG_ID).task_dict["colour_new_items"]
    return task.python_callable.__globals__[name]


def mostly(colour, accent=(255, 255, 255)) -> bytes:
    image = Image.new("RGB", (200, 100), colour)
    ImageDraw.Draw(image).rectangle((0, 0, 20, 20), fill=accent)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def close_to(hex_colour: str, rgb: tuple[int, int, int]) -> bool:
    got = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= 8 for a, b in zip(got, rgb, strict=True))


def test_dominant_colour_is_the_most_common_one():
    dominant_colour = example_function("dominant_colour")
    red = dominant_colour(mostly((200, 30, 30)))["dominant_colour"]
    blue = dominant_colour(mostly((10, 120, 240), (0, 0, 0)))["dominant_colour"]
    assert close_to(red, (200, 30, 30))
    assert close_to(blue, (10, 120, 240))


def test_the_template_shows_the_right_way():
    """Users copy this file: it holds no catalog work, no print, no top-level Pillow."""
    source = (REPO / "dags" / f"{DAG_ID}.py").read_text()

    assert "print(" not in source
    assert "catalog" not in source.replace("tributary items DATASET", "")
    assert "\nfrom PIL" not in source and "\nimport PIL" not in source


def test_the_example_writes_user_metadata_for_new_images(airflow_db, catalog, tmp_path):
    from tests.buckets import new_bucket

    bucket = new_bucket("local", None, tmp_path)
    bucket.put("red.jpg", mostly((220, 20, 20)))
    bucket.put("notes.txt", b"not an image")
    make_dataset(catalog, bucket)
    assert run_dag("tributary_initial_sync", {"dataset": "ds"}).state == "success"
    ids = sorted(item["id"] for item in by_path(catalog).values())

    run = run_dag(DAG_ID, {"dataset": "ds", "min_id": ids[0], "max_id": ids[-1]})

    assert run.state == "success"
    assert run_result(run, "colour_new_items") == {"updated": 1, "skipped": 0}
    items = by_path(catalog)
    assert close_to(items["red.jpg"]["user_metadata"]["dominant_colour"], (220, 20, 20))
    assert items["notes.txt"]["user_metadata"] is None


def run_result(run, task_id: str):
    (ti,) = [ti for ti in run.get_task_instances() if ti.task_id == task_id]
    return ti.xcom_pull(task_ids=task_id)
