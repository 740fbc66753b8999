"""The example custom-preprocessing DAG: unit test of its function, and a real run."""

from __future__ import annotations

import io
import types

from PIL import Image, ImageDraw

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
    assert close_to(dominant_colour(mostly((200, 30, 30))), (200, 30, 30))
    assert close_to(dominant_colour(mostly((10, 120, 240), (0, 0, 0))), (10, 120, 240))


def test_an_items_created_event_range_is_read_from_the_event():
    ranges = example_function("new_item_ranges")
    from tributary.assets import ITEMS_CREATED

    event = types.SimpleNamespace(extra={"dataset": "ds", "count": 2, "min_id": 5, "max_id": 6})
    empty = types.SimpleNamespace(extra={"dataset": "other", "count": 0})
    assert ranges({ITEMS_CREATED: [event, empty]}, {"dataset": ""}) == [("ds", 5, 6)]
    assert ranges({}, {"dataset": "ds", "min_id": 1, "max_id": 9}) == [("ds", 1, 9)]


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
    items = by_path(catalog)
    assert close_to(items["red.jpg"]["user_metadata"]["dominant_colour"], (220, 20, 20))
    assert items["notes.txt"]["user_metadata"] is None
