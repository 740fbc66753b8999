"""``SeenIds``: the duplicate-ID check of a CSV import, in memory that stays small.

A set of a million Python strings costs about 100 MB; sorted numpy arrays of their 64-bit
hashes, with the line of each first row, cost 12 MB. A batch is checked with a
``searchsorted`` per level: IDs are kept in a few sorted levels, each at least twice the
size of the next, and a new batch becomes a level of its own, merged down while it is as
big as the one above (a binary counter): no step rewrites the whole set per batch.

Two different IDs with the same 64-bit hash would be taken for duplicates: at a million
IDs the odds are about one in 30 million imports.
"""

from __future__ import annotations

import numpy as np


class SeenIds:
    """IDs met so far, as sorted 64-bit hashes with the line of each first row.

    ``check`` takes a batch in file order and answers, per ID, the line of an earlier row
    with the same ID (in an earlier batch or earlier in this one), or -1; empty IDs are
    never duplicates. Memory: 12 bytes per distinct ID.
    """

    def __init__(self) -> None:
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []  # (keys, lines), sorted

    def __len__(self) -> int:
        return sum(len(keys) for keys, _ in self._levels)

    def check(self, ids: list[str], lines: list[int]) -> np.ndarray:
        """Per ID of the batch: the line of an earlier row with the same ID, or -1."""
        count = len(ids)
        keys = np.fromiter(map(hash, ids), dtype=np.int64, count=count)
        here = np.asarray(lines, dtype=np.int32)
        empty = np.fromiter(map(len, ids), dtype=np.int64, count=count) == 0
        # sorted once: equal keys side by side, and sorted needles search fast
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        earlier = np.full(count, -1, dtype=np.int64)  # in batch order
        known = np.zeros(count, dtype=bool)  # in sorted order
        for level_keys, level_lines in self._levels:
            at = np.minimum(np.searchsorted(level_keys, sorted_keys), len(level_keys) - 1)
            found = (level_keys[at] == sorted_keys) & ~known
            earlier[order[found]] = level_lines[at[found]]
            known |= found
        # within the batch: the first of each run of equal keys (stable order) owns the ID
        starts = np.ones(count, dtype=bool)
        starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
        owner = order[np.maximum.accumulate(np.where(starts, np.arange(count), 0))]
        repeat = (owner != order) & ~known
        earlier[order[repeat]] = here[owner[repeat]]
        earlier[empty] = -1
        new = starts & ~known & ~empty[order]
        self._add(sorted_keys[new], here[order[new]])
        return earlier

    def _add(self, keys: np.ndarray, lines: np.ndarray) -> None:
        if not len(keys):
            return
        self._levels.append((keys, lines))
        while len(self._levels) > 1 and len(self._levels[-1][0]) * 2 > len(self._levels[-2][0]):
            (upper_keys, upper_lines), (lower_keys, lower_lines) = self._levels[-2:]
            # keys are distinct across levels: insert the smaller level into the larger one
            # (one new array of the merged size, no sort, no index array of that size)
            at = np.searchsorted(upper_keys, lower_keys)
            merged = (
                np.insert(upper_keys, at, lower_keys),
                np.insert(upper_lines, at, lower_lines),
            )
            self._levels[-2:] = [merged]
