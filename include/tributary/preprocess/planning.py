"""Preprocessing runs, planned and reported: which batches a run has, and what came of it.

A batch is an id range of one dataset (XCom carries only the range and a count); the work
on one batch is ``tributary.preprocess.batch``. Light: no decoder is imported here.
"""

from __future__ import annotations

import logging
import math

from tributary.catalog import Catalog
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import preprocessing as queries
from tributary.catalog.preprocessing import Selection

log = logging.getLogger(__name__)


def plan(
    catalog: Catalog,
    *,
    dataset_names: list[str] | None,
    selection: Selection,
    lanes: dict[str, dict],
    max_batches: int,
    min_batch: int,
) -> dict:
    """Cut the selected items of each dataset into batches, grouped by lane.

    Returns ``{"lanes": {lane: [batch, …]}, "datasets": {name: count}, "unplaced": […]}``.
    Every configured lane has a (maybe empty) list. Batches are sized so that the whole
    run stays under ``max_batches`` mapped tasks and each batch holds at least
    ``min_batch`` items when there are that many. A dataset assigned to a lane that is
    not configured is left out and named in ``unplaced``: its items never silently run
    on the shared workers.
    """
    with catalog.begin() as conn:
        if dataset_names is None:
            chosen = dataset_queries.all_datasets(conn)
        else:
            chosen = [dataset_queries.get(conn, name) for name in dataset_names]
        counts = {d.name: queries.count_selected(conn, d.id, selection) for d in chosen}
        total = sum(counts.values())
        room = max(1, max_batches - len(chosen))
        batch_size = max(min_batch, math.ceil(total / room)) if total else min_batch
        result: dict = {"lanes": {lane: [] for lane in lanes}, "datasets": counts, "unplaced": []}
        for dataset in chosen:
            if not counts[dataset.name]:
                continue
            lane = dataset.lane or "shared"
            if lane not in lanes:
                result["unplaced"].append({"dataset": dataset.name, "lane": lane})
                continue
            ranges = queries.id_ranges(conn, dataset.id, selection, batch_size)
            for index, batch in enumerate(ranges):
                result["lanes"][lane].append(
                    {
                        "dataset_id": dataset.id,
                        "dataset": dataset.name,
                        "index": index,
                        **batch,
                        "selection": selection.as_dict(),
                    }
                )
    return result


def summarise(catalog: Catalog, planned: dict) -> dict:
    """Each planned dataset's items per preprocessing state after the run, logged."""
    summary = {}
    with catalog.begin() as conn:
        for name, selected in planned["datasets"].items():
            dataset = dataset_queries.get(conn, name)
            summary[name] = {"selected": selected, **queries.states(conn, dataset.id)}
            log.info("%s: %s", name, summary[name])
    return summary


def problems(planned: dict, failed_batches: int) -> list[str]:
    """Why the run should end failed, one sentence each (empty: it succeeded)."""
    found = [
        f"dataset {u['dataset']!r} is in lane {u['lane']!r}, which TRIBUTARY_LANES does not "
        "define: its items were not preprocessed (define the lane, or set the dataset's "
        "lane to '' for the shared lane)"
        for u in planned["unplaced"]
    ]
    if failed_batches:
        found.append(
            f"{failed_batches} batch task(s) failed after their retries; their items that "
            "were not reached stay pending for the next run (see the tasks' logs)"
        )
    return found
