"""
### Example: a custom preprocessing step (dominant colour)

A template for your own preprocessing. Any DAG can subscribe to Tributary's
`items-created` asset: each event's `extra` says which dataset got new items and their id
range (`dataset`, `sync_id`, `count`, `min_id`, `max_id`). This one reads each new image
from the dataset's storage and writes its dominant colour into the item's **user
metadata** (`dominant_colour: "#rrggbb"`), where `tributary items DATASET --json` shows it.

Copy the file, replace `dominant_colour()` with your function (a perceptual hash, a
classifier, …) and change the `dag_id`. It runs beside `tributary_preprocess`, on the
same events. By hand: Trigger with `dataset`, `min_id` and `max_id`.
"""

from __future__ import annotations

import datetime as dt
import io

from airflow.sdk import Param, dag, task
from PIL import Image

from tributary.assets import ITEMS_CREATED
from tributary.catalog import datasets
from tributary.catalog import items as item_queries
from tributary.hooks.catalog import open_catalog
from tributary.storage import open_dataset_store
from tributary.tasks.errors import RETRY_POLICY

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff")


def dominant_colour(data: bytes) -> str:
    """The most common of 8 representative colours of an image, as ``#rrggbb``."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (64, 64))  # JPEGs decode at 1/8 scale: cheap
        small = image.convert("RGB").resize((64, 64))
    palette_image = small.quantize(colors=8)
    _count, index = max(palette_image.getcolors())
    red, green, blue = palette_image.getpalette()[index * 3 : index * 3 + 3]
    return f"#{red:02x}{green:02x}{blue:02x}"


def new_item_ranges(triggering_asset_events, params) -> list[tuple[str, int, int]]:
    """(dataset, min_id, max_id) of the events that triggered this run, or of the params."""
    events = (triggering_asset_events or {}).get(ITEMS_CREATED, [])
    ranges = [
        (event.extra["dataset"], event.extra["min_id"], event.extra["max_id"])
        for event in events
        if event.extra.get("count")
    ]
    if not ranges and params.get("dataset"):
        ranges = [(params["dataset"], params["min_id"], params["max_id"])]
    return ranges


@dag(
    dag_id="example_tributary_dominant_colour",
    schedule=[ITEMS_CREATED],
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    tags=["tributary", "example"],
    doc_md=__doc__,
    params={
        "dataset": Param("", type="string", description="Dataset (manual runs only)."),
        "min_id": Param(0, type="integer", minimum=0, description="First item id."),
        "max_id": Param(0, type="integer", minimum=0, description="Last item id."),
    },
    default_args=RETRY_POLICY,
)
def example_tributary_dominant_colour():
    @task
    def colour_new_items(params=None, triggering_asset_events=None) -> int:
        catalog, coloured = open_catalog(), 0
        for dataset_name, min_id, max_id in new_item_ranges(triggering_asset_events, params):
            with catalog.begin() as conn:
                dataset = datasets.get(conn, dataset_name)
                new_items = item_queries.in_id_range(conn, dataset.id, min_id, max_id)
            store = open_dataset_store(dataset)
            for item in new_items:
                if item["mimetype"] not in IMAGE_TYPES:
                    continue
                try:
                    colour = dominant_colour(store.read(item["storage_key"]))
                except OSError as exc:  # not a readable image: skip it, keep going
                    print(f"{item['path']}: skipped ({exc})")
                    continue
                with catalog.begin() as conn:
                    item_queries.merge_user_metadata(conn, item["id"], {"dominant_colour": colour})
                coloured += 1
        print(f"dominant colour written for {coloured} items")
        return coloured

    colour_new_items()


dag = example_tributary_dominant_colour()
