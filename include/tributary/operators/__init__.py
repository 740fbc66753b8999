"""Operators that put Tributary into your own DAGs.

``S3ToTributaryOperator``, ``AzureBlobToTributaryOperator``, ``GCSToTributaryOperator`` and
``LocalFolderToTributaryOperator`` index a bucket prefix into a dataset (creating the
driver and the dataset on first use); ``TributarySyncOperator`` brings an existing
dataset in step with its bucket; ``TributaryPreprocessOperator`` makes its thumbnails and
metadata.

**They run the work inline**, in the task's own worker, by calling the same domain steps
Tributary's DAGs call, instead of triggering Tributary's DAG and deferring until it
ends. Why:

- nothing waits: listing, reconciling and thumbnails are the task's own work, so there
  is nothing for the triggerer to watch (the only wait, for another sync's dataset lock,
  is bounded by ``TRIBUTARY_LOCK_WAIT_SECONDS``);
- no REST credentials or API address in the user's deployment, and no second DAG run
  whose failure the user would have to trace from theirs;
- every step is idempotent and keyed on (DAG id, run id, dataset), so Airflow's retry of
  the task resumes the same sync run; the per-dataset lock keeps the operator and
  Tributary's own nightly sync from interleaving.

The cost: one worker slot lists a prefix sequentially. For a bucket of millions of
objects, use ``tributary_initial_sync`` / ``tributary_upstream_sync``, which fan out.
"""

from tributary.operators.azure import AzureBlobToTributaryOperator
from tributary.operators.gcs import GCSToTributaryOperator
from tributary.operators.local import LocalFolderToTributaryOperator
from tributary.operators.preprocess import TributaryPreprocessOperator
from tributary.operators.s3 import S3ToTributaryOperator
from tributary.operators.sync import TributarySyncOperator

__all__ = [
    "AzureBlobToTributaryOperator",
    "GCSToTributaryOperator",
    "LocalFolderToTributaryOperator",
    "S3ToTributaryOperator",
    "TributaryPreprocessOperator",
    "TributarySyncOperator",
]
