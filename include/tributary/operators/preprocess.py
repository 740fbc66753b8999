"""``TributaryPreprocessOperator``: thumbnails and metadata of a dataset's items, inline.

Inline rather than trigger-and-defer: see ``tributary.operators``. Batches run one after
the other in this task (each with ``TRIBUTARY_PREPROCESS_THREADS`` threads); for a large
backlog, ``tributary_preprocess`` spreads them over workers and lanes.
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from tributary.tasks.errors import task_errors


class TributaryPreprocessOperator(BaseOperator):
    """Make the metadata and thumbnail of a dataset's pending items (new or changed).

    :param dataset: the dataset (templated).
    :param force: redo every item, not only the pending ones (e.g. after changing the
        thumbnail settings). A backfill run redoes the items created in its interval.

    Returns each state's item count. A file that cannot be read ends ``failed`` with
    the reason; items left pending by a storage error make the task fail after the
    other batches ran, so that Airflow's retry takes them again.
    """

    template_fields: Sequence[str] = ("dataset",)
    ui_color = "#f6e7cb"

    def __init__(self, *, dataset: str, force: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.force = force

    def execute(self, context) -> dict:
        from tributary import config
        from tributary.hooks.catalog import open_catalog
        from tributary.preprocess import batch as preprocessing  # Pillow, PyAV: here only
        from tributary.preprocess import planning
        from tributary.tasks.run_context import preprocess_selection

        catalog = open_catalog()
        lanes = config.lanes()
        deferred = None
        with task_errors():
            planned = planning.plan(
                catalog,
                dataset_names=[self.dataset],
                selection=preprocess_selection(context, self.force),
                lanes=lanes,
                max_batches=config.preprocess_batches(),
                min_batch=config.preprocess_min_batch(),
            )
            for batch in (b for lane in lanes for b in planned["lanes"][lane]):
                try:
                    preprocessing.process_batch(
                        catalog,
                        batch,
                        spec=preprocessing.thumbnail_spec(),
                        max_pixels=config.max_pixels(),
                        threads=config.preprocess_threads(),
                    )
                except preprocessing.ItemsDeferred as exc:
                    deferred = deferred or exc  # the other batches still run
        summary = planning.summarise(catalog, planned)[self.dataset]
        if problems := planning.problems(planned, 0):
            raise AirflowFailException("; ".join(problems))
        if deferred is not None:
            raise deferred
        return summary
