"""Planning listing partitions so that big buckets list in parallel."""

from __future__ import annotations

from tributary.storage.base import ObjectStore

# Below this many folders, planning looks one level deeper for more parallelism.
MIN_FANOUT = 8
MAX_DEPTH = 3


def plan(store: ObjectStore, max_partitions: int, root: str | None = None) -> list[dict]:
    """Split ``root`` (default: the store's prefix) into at most ``max_partitions``
    listing partitions.

    Partition 0 lists, non-recursively, the files directly inside the prefix and inside
    every folder planning descended through; the others each list whole folder subtrees
    recursively. Together they cover every key under the root exactly once.
    """
    root = store.prefix if root is None else root
    shallow = [root]
    folders = store.list_folders(root)
    depth = 1
    while 0 < len(folders) < MIN_FANOUT and depth < MAX_DEPTH:
        shallow.extend(folders)
        folders = [sub for folder in folders for sub in store.list_folders(folder)]
        depth += 1
    groups = _spread(folders, max(max_partitions - 1, 1))
    descriptors = [{"index": 0, "prefixes": shallow, "recursive": False}]
    descriptors += [
        {"index": i, "prefixes": group, "recursive": True} for i, group in enumerate(groups, 1)
    ]
    return descriptors


def _spread(folders: list[str], slots: int) -> list[list[str]]:
    """Deal folders into at most ``slots`` non-empty groups of near-equal size."""
    if not folders:
        return []
    count = min(slots, len(folders))
    return [folders[i::count] for i in range(count)]
