"""Planning preprocessing runs: batches under the task cap, each doing real work."""

from __future__ import annotations

import itertools

from tests.preprocess.test_batch import LANES, make_synced_dataset
from tributary.catalog.preprocessing import Selection
from tributary.preprocess import planning


def test_batches_stay_under_the_task_cap_and_do_real_work(catalog, tmp_path):
    files = {f"{i:03}.txt": b"x" for i in range(120)}
    make_synced_dataset(catalog, tmp_path / "bucket", files)

    few = planning.plan(catalog, dataset_names=None, selection=Selection(), lanes=LANES,
                     max_batches=512, min_batch=50)  # fmt: skip
    capped = planning.plan(catalog, dataset_names=None, selection=Selection(), lanes=LANES,
                        max_batches=5, min_batch=1)  # fmt: skip

    assert [b["count"] for b in few["lanes"]["shared"]] == [50, 50, 20]
    sizes = [b["count"] for b in capped["lanes"]["shared"]]
    assert len(sizes) <= 5 and sum(sizes) == 120
    ranges = [(b["min_id"], b["max_id"]) for b in capped["lanes"]["shared"]]
    assert all(hi < lo for (_, hi), (lo, _) in itertools.pairwise(ranges))  # disjoint, ordered
