"""
### Example: index what your ETL wrote to S3 (operators)

A template for putting Tributary into your own pipeline. After your job writes a day's
files under `s3://BUCKET/PREFIX/<date>/`, **S3ToTributaryOperator** indexes that day's
folder into a dataset (creating the driver and the dataset on the first run) and
**TributaryPreprocessOperator** makes the new items' thumbnails and metadata.

Both run inline in their task, with the same steps as Tributary's own DAGs (see
`tributary.operators`): no REST credentials needed, retries resume the same sync, and
the per-dataset lock keeps them from interleaving with the nightly sync. The folder
template `{{ ds }}/` is rendered by Tributary with the run's dates, so a backfill indexes
one day per run. New items also emit the `items-created` asset event.

`AzureBlobToTributaryOperator` (`wasb_conn_id`) and `GCSToTributaryOperator`
(`gcp_conn_id`) take the same parameters.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag

from tributary.operators import S3ToTributaryOperator, TributaryPreprocessOperator
from tributary.tasks.errors import RETRY_POLICY


@dag(
    dag_id="example_tributary_s3_to_dataset",
    schedule="@daily",
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["tributary", "example"],
    doc_md=__doc__,
    params={
        "dataset": Param("camera-7", type="string", minLength=1, description="Dataset name."),
        "bucket": Param("my-data-lake", type="string", minLength=1, description="S3 bucket."),
    },
    default_args=RETRY_POLICY,
)
def example_tributary_s3_to_dataset():
    indexed = S3ToTributaryOperator(
        task_id="index_the_day",
        dataset="{{ params.dataset }}",
        bucket="{{ params.bucket }}",
        prefix="camera-7/",
        folder="{{ ds }}/",  # rendered by Tributary per run, kept on the dataset
        aws_conn_id="aws_default",
    )
    thumbnails = TributaryPreprocessOperator(task_id="thumbnails", dataset="{{ params.dataset }}")
    indexed >> thumbnails


dag = example_tributary_s3_to_dataset()

if __name__ == "__main__":
    dag.test()
