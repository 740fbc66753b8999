"""``GCSToTributaryOperator``: index a Google Cloud Storage bucket prefix into a dataset."""

from __future__ import annotations

from tributary.operators.bucket import BucketToTributaryOperator


class GCSToTributaryOperator(BucketToTributaryOperator):
    """Index a Google Cloud Storage bucket prefix into a dataset and keep it in step, inline.

    See ``BucketToTributaryOperator`` for the parameters it shares (``dataset``,
    ``bucket``, ``prefix``, ``folder``, ``driver``, ``dry_run``,
    ``allow_mass_delete``).

    :param gcp_conn_id: an Airflow ``google_cloud_platform`` connection (its credentials
        stay in Airflow).
    """

    provider = "gcs"

    def __init__(self, *, gcp_conn_id: str = "google_cloud_default", **kwargs) -> None:
        super().__init__(conn_id=gcp_conn_id, **kwargs)
        self.gcp_conn_id = gcp_conn_id
