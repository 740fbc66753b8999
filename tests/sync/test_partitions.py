"""Partition planning over a fake store (pure logic, no I/O)."""

from __future__ import annotations

from tributary.storage.base import ObjectInfo, ObjectStore
from tributary.sync.partitions import plan, pointer


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
        # One object per folder path given (its last segment is a file), in pages of 2.
        keys = sorted(f for f in self.folders if f.startswith(prefix))
        objects = [ObjectInfo(key=k, size=1, etag="e", last_modified=None) for k in keys]
        return iter([objects[i : i + 2] for i in range(0, len(objects), 2)])

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


def test_a_listing_that_ends_within_the_limit_is_one_partition():
    """Issue 14: six files in ten folders made ten mapped listing tasks of ~9.5 s each."""
    store = FolderTree([f"cam-{c}/2026-11-2{d}/1.jpg" for c in "nse" for d in "01"])

    assert plan(store, max_partitions=64, small=6) == [
        {"index": 0, "prefixes": [""], "recursive": True, "label": "partition 1/1: every file"}
    ]


def test_one_object_over_the_limit_plans_by_folders():
    store = FolderTree([f"f{i}/1.jpg" for i in range(9)])

    assert len(plan(store, max_partitions=64, small=9)) == 1
    descriptors = plan(store, max_partitions=64, small=8)
    assert len(descriptors) == 10  # the shallow partition and the nine folders
    assert covered(descriptors)[0] == ("", False)


def test_the_small_listing_reads_only_the_pages_it_needs():
    pages_read = []

    class Counting(FolderTree):
        def list_raw(self, prefix, *, recursive=True):
            for page in super().list_raw(prefix, recursive=recursive):
                pages_read.append(page)
                yield page

    plan(Counting([f"f{i:03}/x" for i in range(100)]), max_partitions=10, small=3)

    assert len(pages_read) == 2  # 4 objects seen: more than 3, the other 48 pages unread


def test_labels_name_the_partition_its_count_and_its_folders():
    store = FolderTree([f"cam/{d}/x" for d in "abcdefghi"] + ["cam/top.jpg"], prefix="cam/")
    labels = [d["label"] for d in plan(store, max_partitions=3)]

    assert labels == [
        "partition 1/3: files directly in /",
        "partition 2/3: a/, c/ +3",
        "partition 3/3: b/, d/ +2",
    ]


def test_a_pointer_is_small_and_names_its_dataset_when_asked():
    descriptor = {"index": 2, "prefixes": ["x/" * 500], "recursive": True, "label": "p 3/3"}

    assert pointer(7, descriptor) == {"sync_id": 7, "index": 2, "label": "p 3/3"}
    assert pointer(7, descriptor, "demo")["label"] == "demo: p 3/3"


def test_a_long_folder_name_is_cut_in_the_label():
    store = FolderTree([f"{'very-long-name-' * 10}{i}/x" for i in range(9)])

    assert all(len(d["label"]) < 100 for d in plan(store, max_partitions=4))


def test_many_top_level_folders_are_spread_over_partitions():
    store = FolderTree([f"f{i:03}/x" for i in range(100)] + [".tributary/t"])
    descriptors = plan(store, max_partitions=10)

    assert len(descriptors) == 10
    assert descriptors[0] == {
        "index": 0,
        "prefixes": [""],
        "recursive": False,
        "label": "partition 1/10: files directly in /",
    }
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
    assert plan(FolderTree([]), max_partitions=8, small=2000) == [
        {"index": 0, "prefixes": [""], "recursive": True, "label": "partition 1/1: every file"}
    ]


def test_the_driver_prefix_is_the_root():
    store = FolderTree([f"cam/{d}/x" for d in "abcdefghij"], prefix="cam/")
    descriptors = plan(store, max_partitions=4)

    assert descriptors[0]["prefixes"] == ["cam/"]
    assert sorted(p for d in descriptors[1:] for p in d["prefixes"]) == [
        f"cam/{d}/" for d in "abcdefghij"
    ]
    assert len(descriptors) == 4
