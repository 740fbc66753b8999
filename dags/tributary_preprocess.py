"""
### Preprocessing

Metadata and a thumbnail for every new or changed item.

**plan** takes the datasets' `pending` items (new, or changed by a sync) and cuts them into
id-range batches (fewer than 1024 mapped tasks whatever the size; each task at least
`TRIBUTARY_PREPROCESS_MIN_BATCH` items) → **batches_&lt;lane&gt;** picks each lane's share →
**preprocess_&lt;lane&gt;** runs the batches of each
lane in parallel (dynamic task mapping), with that lane's Airflow pool and Celery queue →
**report** sums up and fails the run if a batch failed or a dataset's lane is not
configured.

Per item: name, size, encoding, the mimetype sniffed from the content (the extension's
too when they disagree), EXIF orientation, width, height and display dimensions; a
thumbnail in the storage's hidden folder `.tributary/thumbnails/`; duration, frame rate
and codec for videos. A file that cannot be read is marked `failed` with the reason.

Runs on every `items-created` asset event (the datasets of the events), daily as a safety
net, and by hand (`dataset`: one dataset, empty = all; `force`: redo every item). A
**backfill** run redoes the items created in its interval:
`airflow backfill create --dag-id tributary_preprocess --from-date … --to-date …
--reprocess-behavior completed`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from tributary import config
from tributary.assets import ITEMS_CREATED
from tributary.hooks.catalog import open_catalog
from tributary.preprocess import planning
from tributary.tasks.errors import RETRY_POLICY, task_errors
from tributary.tasks.run_context import event_datasets, preprocess_selection

LANES = config.lanes()
# The Airflow UI's caption of a mapped batch: "demo: batch 2, 500 items (ids 501-1000)".
BATCH_LABEL = (
    "{% set b = task.op_kwargs['batch'] %}{{ b['dataset'] }}: batch {{ b['index'] + 1 }}, "
    "{{ b['count'] }} items (ids {{ b['min_id'] }}-{{ b['max_id'] }})"
)


@dag(
    dag_id="tributary_preprocess",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable(config.preprocess_schedule(), timezone="UTC"),
        assets=ITEMS_CREATED,
    ),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=4,
    # Preprocessing is on from the start, as users expect of new items.
    is_paused_upon_creation=False,
    tags=["tributary", "preprocess"],
    doc_md=__doc__,
    params={
        # "null" in the type: Airflow's form marks a field without it required.
        "dataset": Param(
            None,
            type=["null", "string"],
            title="Dataset",
            description="One dataset to preprocess; empty: every dataset.",
        ),
        "force": Param(
            False,
            type=["boolean", "null"],
            title="Force",
            description="Redo every item (e.g. after changing the thumbnail settings), "
            "not only the pending ones.",
        ),
    },
    default_args=RETRY_POLICY,
)
def tributary_preprocess():
    @task
    def plan(params=None, **context) -> dict:
        names = [params["dataset"]] if params["dataset"] else event_datasets(context)
        with task_errors():
            planned = planning.plan(
                open_catalog(),
                dataset_names=names,
                selection=preprocess_selection(context, bool(params["force"])),
                lanes=LANES,
                max_batches=config.preprocess_batches(),
                min_batch=config.preprocess_min_batch(),
            )
        return planned

    @task
    def lane_batches(planned: dict, lane: str) -> list[dict]:
        return planned["lanes"][lane]

    @task(map_index_template=BATCH_LABEL)
    def preprocess(batch: dict) -> dict:
        from tributary.preprocess import batch as preprocessing  # Pillow, PyAV: not at parse

        with task_errors():
            return preprocessing.process_batch(
                open_catalog(),
                batch,
                spec=preprocessing.thumbnail_spec(),
                max_pixels=config.max_pixels(),
                threads=config.preprocess_threads(),
            )

    @task(trigger_rule="all_done")
    def report(planned: dict, ti=None, dag_run=None) -> dict:
        summary = planning.summarise(open_catalog(), planned)
        failed_batches = ti.get_ti_count(
            dag_id=dag_run.dag_id,
            run_ids=[dag_run.run_id],
            task_ids=[f"preprocess_{lane}" for lane in LANES],
            states=["failed", "upstream_failed"],
        )
        problems = planning.problems(planned, failed_batches)
        if problems:
            raise AirflowFailException("; ".join(problems))
        return summary

    planned = plan()
    lanes_done = [
        preprocess.override(task_id=f"preprocess_{lane}", **settings).expand(
            batch=lane_batches.override(task_id=f"batches_{lane}")(planned, lane)
        )
        for lane, settings in LANES.items()
    ]
    lanes_done >> report(planned)


dag = tributary_preprocess()

if __name__ == "__main__":
    dag.test()
