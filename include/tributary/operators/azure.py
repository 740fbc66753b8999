"""``AzureBlobToTributaryOperator``: index an Azure Blob Storage container prefix into a
dataset."""

from __future__ import annotations

from tributary.operators.bucket import BucketToTributaryOperator


class AzureBlobToTributaryOperator(BucketToTributaryOperator):
    """Index an Azure Blob Storage container prefix into a dataset and keep it in step, inline.

    See ``BucketToTributaryOperator`` for the parameters it shares (``dataset``,
    ``bucket``, ``prefix``, ``folder``, ``driver``, ``dry_run``,
    ``allow_mass_delete``).

    :param wasb_conn_id: an Airflow ``wasb`` connection (its credentials stay in Airflow).
    """

    provider = "azure"

    def __init__(self, *, wasb_conn_id: str = "wasb_default", **kwargs) -> None:
        super().__init__(conn_id=wasb_conn_id, **kwargs)
        self.wasb_conn_id = wasb_conn_id
