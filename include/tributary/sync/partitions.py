"""Planning listing partitions so that big buckets list in parallel, and small ones in
one task."""

from __future__ import annotations

from itertools import islice

from tributary.storage.base import ObjectStore, PartialListing

# Below this many folders, planning looks one level deeper for more parallelism.
MIN_FANOUT = 8
MAX_DEPTH = 3
# A partition's label names at most this many of its folders (it is a UI caption).
LABEL_FOLDERS = 2
LABEL_CHARS = 60


def plan(
    store: ObjectStore, max_partitions: int, root: str | None = None, *, small: int = 0
) -> list[dict]:
    """Split ``root`` (default: the store's prefix) into at most ``max_partitions``
    listing partitions, each with a short ``label`` for the Airflow UI.

    When the whole listing holds at most ``small`` objects (read from its first pages,
    hidden folder and markers included), it is one recursive partition: each mapped task
    costs seconds of start-up, more than listing a few thousand objects. Otherwise
    partition 0 lists, non-recursively, the files directly inside the prefix and inside
    every folder planning descended through; the others each list whole folder subtrees
    recursively. Together they cover every key under the root exactly once.
    """
    root = store.prefix if root is None else root
    if small and _at_most(store, root, small):
        return [_labelled({"index": 0, "prefixes": [root], "recursive": True}, 1, root)]
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
    return [_labelled(d, len(descriptors), root) for d in descriptors]


def pointer(sync_id: int, descriptor: dict, dataset: str | None = None) -> dict:
    """What a mapped listing task gets through XCom: ids and a short label, never keys."""
    label = descriptor.get("label") or f"partition {descriptor['index'] + 1}"
    if dataset:  # an upstream run lists several datasets side by side
        label = f"{dataset}: {label}"
    return {"sync_id": sync_id, "index": descriptor["index"], "label": label}


def _at_most(store: ObjectStore, root: str, limit: int) -> bool:
    """Whether the recursive listing of ``root`` ends within ``limit`` objects. Reads
    pages only until it knows (a page or two for a bucket of any size)."""
    seen = 0
    try:
        for page in store.list_raw(root, recursive=True):
            seen += len(page)
            if seen > limit:
                return False
    except PartialListing:
        # Raised once the listing has ended, with a gap in it: the listing is small all
        # the same, and the partition's own listing meets the gap again and reports it.
        pass
    return True


def _labelled(descriptor: dict, total: int, root: str) -> dict:
    """The descriptor with its caption: "partition 3/10: cam-east/, cam-west/ +2"."""
    folders = [p[len(root) :] or "/" for p in descriptor["prefixes"]]
    if descriptor["recursive"] and folders == ["/"]:
        what = "every file"
    else:
        what = ", ".join(islice(folders, LABEL_FOLDERS))
        if len(folders) > LABEL_FOLDERS:
            what += f" +{len(folders) - LABEL_FOLDERS}"
        if not descriptor["recursive"]:
            what = f"files directly in {what}"
    if len(what) > LABEL_CHARS:  # folder names are user data: any length
        what = what[: LABEL_CHARS - 1] + "…"
    return {**descriptor, "label": f"partition {descriptor['index'] + 1}/{total}: {what}"}


def _spread(folders: list[str], slots: int) -> list[list[str]]:
    """Deal folders into at most ``slots`` non-empty groups of near-equal size."""
    if not folders:
        return []
    count = min(slots, len(folders))
    return [folders[i::count] for i in range(count)]
