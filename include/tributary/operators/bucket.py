"""The shared body of the ``<Provider>ToTributaryOperator`` family: bind a bucket prefix
to a dataset (on first use), then sync it inline (see ``tributary.operators``)."""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk import BaseOperator

from tributary.assets import ITEMS_CREATED_EVENTS
from tributary.catalog import Catalog
from tributary.errors import InvalidInput, NotFound
from tributary.operators.sync import announce, summary, sync_inline
from tributary.tasks.errors import task_errors


def ensure_dataset(
    catalog: Catalog,
    *,
    dataset: str,
    driver: str,
    provider: str,
    bucket: str,
    prefix: str,
    conn_id: str | None,
    folder: str,
) -> None:
    """Create the driver and the dataset unless they exist; when they do, they must be
    bound to the same place (checked before anything is created, like
    ``S3CreateBucketOperator`` checks before it creates).

    Both are created through the use cases the CLI and the API use: a new driver is kept
    only once its permission probe passes.
    """
    from tributary.catalog import datasets, drivers
    from tributary.usecases.datasets import create_dataset
    from tributary.usecases.drivers import create_driver

    wanted = drivers.build(
        name=driver, provider=provider, bucket=bucket, conn_id=conn_id, path=prefix
    )
    with catalog.begin() as conn:
        existing = _existing(drivers.get, conn, driver)
    if existing is None:
        create_driver(
            catalog, name=driver, provider=provider, bucket=bucket, conn_id=conn_id, path=prefix
        )
    elif any(getattr(existing, f) != getattr(wanted, f) for f in _PLACE):
        raise InvalidInput(
            f"driver {driver!r} is bound to {existing.provider}://{existing.bucket}/"
            f"{existing.path}, not {wanted.provider}://{wanted.bucket}/{wanted.path}"
        )
    with catalog.begin() as conn:
        found = _existing(datasets.get, conn, dataset)
    if found is None:
        create_dataset(catalog, name=dataset, driver=driver, folder=folder, start_sync=False)
    elif found.driver is None or found.driver.name != driver or found.folder != folder:
        bound = found.driver.name if found.driver else "the internal storage"
        raise InvalidInput(
            f"dataset {dataset!r} exists, bound to {bound} with folder {found.folder!r}, "
            f"not to driver {driver!r} with folder {folder!r}"
        )


# What binds a driver to a place: a driver of the same name elsewhere is a mistake.
_PLACE = ("provider", "bucket", "path", "conn_id")


def _existing(get, conn, name: str):
    """The named driver or dataset, or None when there is none."""
    try:
        return get(conn, name)
    except NotFound:
        return None


class BucketToTributaryOperator(BaseOperator):
    """Index a bucket prefix into a dataset and keep it in step: a base class; use the
    provider's subclass (``S3ToTributaryOperator``, …).

    On first use the operator creates a driver (named ``driver``, default the dataset's
    name) bound to ``bucket``/``prefix`` through the Airflow connection, and the dataset
    on it; afterwards it checks they are still bound there. Then it syncs the dataset
    inline: new files become items, changed ones are updated, renamed ones keep their
    id, vanished ones become tombstones (guarded by the dataset's mass-delete threshold).
    New items emit an ``items-created`` asset event.

    :param dataset: the dataset's name (templated).
    :param bucket: the bucket or container (templated).
    :param prefix: the folder inside the bucket that the dataset covers. Not templated: it
        is where the dataset lives, the same every run.
    :param folder: a folder template under ``prefix`` that each run narrows the sync to,
        rendered by Tributary with the run's dates only, e.g. ``"{{ ds }}/"`` for a daily
        folder (a run without a logical date syncs all of ``prefix``). Not templated by
        Airflow: the dataset keeps the template, so its nightly sync renders it too.
    :param driver: the driver's name (default: the dataset's name).
    :param dry_run: compute and record the plan, apply nothing.
    :param allow_mass_delete: apply even when more items vanished than the threshold.
    """

    provider: str = ""
    template_fields: Sequence[str] = ("dataset", "bucket")
    ui_color = "#c9e4de"

    def __init__(
        self,
        *,
        dataset: str,
        bucket: str,
        prefix: str = "",
        folder: str = "",
        driver: str | None = None,
        conn_id: str | None = None,
        dry_run: bool = False,
        allow_mass_delete: bool = False,
        **kwargs,
    ) -> None:
        kwargs.setdefault("outlets", [ITEMS_CREATED_EVENTS])
        super().__init__(**kwargs)
        self.dataset = dataset
        self.bucket = bucket
        self.prefix = prefix
        self.folder = folder
        self.driver = driver
        self.conn_id = conn_id
        self.dry_run = dry_run
        self.allow_mass_delete = allow_mass_delete

    def bucket_name(self) -> str:
        """The bucket, as rendered for this run."""
        return self.bucket

    def execute(self, context) -> dict:
        from tributary.hooks.catalog import open_catalog

        catalog = open_catalog()
        with task_errors():
            ensure_dataset(
                catalog,
                dataset=self.dataset,
                driver=self.driver or self.dataset,
                provider=self.provider,
                bucket=self.bucket_name(),
                prefix=self.prefix,
                conn_id=self.conn_id,
                folder=self.folder,
            )
            run = sync_inline(
                catalog,
                self.dataset,
                context,
                dry_run=self.dry_run,
                allow_mass_delete=self.allow_mass_delete,
            )
        announce(catalog, self.dataset, run, context["outlet_events"])
        self.log.info("Dataset %s from %s: %s", self.dataset, self.bucket_name(), run["status"])
        return summary(self.dataset, run)
