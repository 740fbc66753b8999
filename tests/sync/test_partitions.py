"""Partition planning over a fake store (pure logic, no I/O)."""

from __future__ import annotations

from tributary.storage.base import ObjectStore
from tributary.sync.partitions import plan


class FolderTree(ObjectStore):
    """A store that only knows folders: enough for planning."""

    provider = "fake"

    def __init__(self, folders, prefix=""):
        super().__init__("fake", prefix)
        self.folders = folders

    def list_subprefixes(self, prefix):
        depth = prefix.count("/")
        return sorted(
            {
                f.split("/")[depth] and "/".join(f.split("/")[: depth + 1]) + "/"
                for f in self.folders
                if f.startswith(prefix) and f.count("/") > depth
            }
        )

    def list_raw(self, prefix, *, recursive=True):
        return iter(())

    def head(self, key):
        raise NotImplementedError

    def read(self, key, start=0, length=None):
        raise NotImplementedError

    def write(self, key, data, content_type=None):
        raise NotImplementedError

    def delete(self, key):
        raise NotImplementedError


def covered(descriptors):
    return [(p, d["recursive"]) for d in descriptors for p in d["prefixes"]]


def test_many_top_level_folders_are_spread_over_partitions():
    store = FolderTree([f"f{i:03}/x" for i in range(100)] + [".tributary/t"])
    descriptors = plan(store, max_partitions=10)

    assert len(descriptors) == 10
    assert descriptors[0] == {"index": 0, "prefixes": [""], "recursive": False}
    recursive = [p for d in descriptors[1:] for p in d["prefixes"]]
    assert sorted(recursive) == [f"f{i:03}/" for i in range(100)]
    assert ".tributary/" not in recursive


def test_few_folders_make_planning_look_deeper():
    store = FolderTree(["big/" + f"s{i}/x" for i in range(12)] + ["small/x"])
    descriptors = plan(store, max_partitions=64)

    shallow = descriptors[0]["prefixes"]
    assert shallow == ["", "big/", "small/"]
    assert sorted(p for d in descriptors[1:] for p in d["prefixes"]) == sorted(
        f"big/s{i}/" for i in range(12)
    )


def test_an_empty_bucket_has_one_partition():
    assert plan(FolderTree([]), max_partitions=8) == [
        {"index": 0, "prefixes": [""], "recursive": False}
    ]


def test_the_driver_prefix_is_the_root():
    store = FolderTree([f"cam/{d}/x" for d in "abcdefghij"], prefix="cam/")
    descriptors = plan(store, max_partitions=4)

    assert descriptors[0]["prefixes"] == ["cam/"]
    assert sorted(p for d in descriptors[1:] for p in d["prefixes"]) == [
        f"cam/{d}/" for d in "abcdefghij"
    ]
    assert len(descriptors) == 4
