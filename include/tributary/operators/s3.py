"""``S3ToTributaryOperator``: index a S3 bucket prefix into a Tributary dataset."""

from __future__ import annotations

from tributary.operators.bucket import BucketToTributaryOperator


class S3ToTributaryOperator(BucketToTributaryOperator):
    """Index a S3 bucket prefix into a dataset and keep it in step, inline.

    See ``BucketToTributaryOperator`` for the parameters it shares (``dataset``,
    ``bucket``, ``prefix``, ``folder``, ``driver``, ``dry_run``,
    ``allow_mass_delete``).

    :param aws_conn_id: an Airflow ``aws`` connection (its credentials stay in Airflow).
    """

    provider = "s3"

    def __init__(self, *, aws_conn_id: str = "aws_default", **kwargs) -> None:
        super().__init__(conn_id=aws_conn_id, **kwargs)
        self.aws_conn_id = aws_conn_id
