"""
### Example: a local folder as a dataset, synced from your own DAG (operators)

**LocalFolderToTributaryOperator** indexes a folder every worker sees (a mount, an NFS
share) into a dataset, creating its driver and the dataset on the first run and keeping
it in step afterwards (new, changed, renamed, vanished files), and
**TributaryPreprocessOperator** makes thumbnails and metadata.

Both run inline in their task (see `tributary.operators` for why). Trigger with the
folder and the dataset's name.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag

from tributary.operators import LocalFolderToTributaryOperator, TributaryPreprocessOperator
from tributary.tasks.errors import RETRY_POLICY


@dag(
    dag_id="example_tributary_local_folder",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["tributary", "example"],
    doc_md=__doc__,
    params={
        "dataset": Param("scans", type="string", minLength=1, description="Dataset name."),
        "directory": Param(
            "/srv/scans", type="string", minLength=1, description="Absolute folder path."
        ),
    },
    default_args=RETRY_POLICY,
)
def example_tributary_local_folder():
    indexed = LocalFolderToTributaryOperator(
        task_id="index_folder",
        dataset="{{ params.dataset }}",
        directory="{{ params.directory }}",
    )
    thumbnails = TributaryPreprocessOperator(task_id="thumbnails", dataset="{{ params.dataset }}")
    indexed >> thumbnails


dag = example_tributary_local_folder()

if __name__ == "__main__":
    dag.test()
