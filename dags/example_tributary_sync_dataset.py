"""
### Example: sync an existing dataset after your own job (operators)

When your job has changed files in a bucket that already backs a dataset (written,
renamed, deleted), **TributarySyncOperator** brings the dataset in step right away
instead of waiting for the nightly `tributary_upstream_sync`: new and changed files are
indexed, renamed ones keep their id and user metadata, vanished ones become tombstones
(guarded by the dataset's mass-delete threshold; `allow_mass_delete` overrides it).
**TributaryPreprocessOperator** then makes the thumbnails and metadata.

Both run inline in their task (see `tributary.operators`). One sync of a dataset per DAG
run: the sync run is keyed on (DAG id, run id, dataset), which is what makes a retry
resume it.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag

from tributary.operators import TributaryPreprocessOperator, TributarySyncOperator
from tributary.tasks.errors import RETRY_POLICY


@dag(
    dag_id="example_tributary_sync_dataset",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["tributary", "example"],
    doc_md=__doc__,
    params={
        "dataset": Param("scans", type="string", minLength=1, description="Dataset name."),
    },
    default_args=RETRY_POLICY,
)
def example_tributary_sync_dataset():
    synced = TributarySyncOperator(task_id="sync", dataset="{{ params.dataset }}")
    thumbnails = TributaryPreprocessOperator(task_id="thumbnails", dataset="{{ params.dataset }}")
    synced >> thumbnails


dag = example_tributary_sync_dataset()

if __name__ == "__main__":
    dag.test()
