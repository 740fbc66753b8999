"""
### Example: a custom preprocessing step (dominant colour)

A template for your own preprocessing. Any DAG can subscribe to Tributary's
`items-created` asset: each event's `extra` says which dataset got new items and their id
range (`dataset`, `sync_id`, `count`, `min_id`, `max_id`). This one reads each new image
from the dataset's storage and writes its dominant colour into the item's **user
metadata** (`dominant_colour: "#rrggbb"`), where `tributary items DATASET --json` shows it.

Copy the file, replace `dominant_colour()` with your function (a perceptual hash, a
classifier, …) and change the `dag_id`. The reading of new items and the merge into
user metadata are `tributary.enrich.new_items` / `add_user_metadata` (see their
docstrings). It runs beside `tributary_preprocess`, on the same events. By hand: Trigger
with `dataset`, `min_id` and `max_id`.
"""

from __future__ import annotations

import datetime as dt
import io

from airflow.sdk import Param, dag, task

from tributary.assets import ITEMS_CREATED
from tributary.enrich import IMAGE_TYPES, add_user_metadata, new_items
from tributary.tasks.errors import RETRY_POLICY


def dominant_colour(data: bytes) -> dict:
    """The most common of 8 representative colours of an image, as ``#rrggbb``."""
    from PIL import Image  # inside the function: the DAG file parses without Pillow

    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (64, 64))  # JPEGs decode at 1/8 scale: cheap
        small = image.convert("RGB").resize((64, 64))
    palette_image = small.quantize(colors=8)
    _count, index = max(palette_image.getcolors())
    red, green, blue = palette_image.getpalette()[index * 3 : index * 3 + 3]
    return {"dominant_colour": f"#{red:02x}{green:02x}{blue:02x}"}


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
    def colour_new_items(params=None, triggering_asset_events=None) -> dict:
        events = (triggering_asset_events or {}).get(ITEMS_CREATED, [])
        return add_user_metadata(new_items(events, params), dominant_colour, mimetypes=IMAGE_TYPES)

    colour_new_items()


dag = example_tributary_dominant_colour()

if __name__ == "__main__":
    dag.test()
