"""Reconcile benchmark: an upstream sync of a big dataset with a realistic day of changes.

For a dataset of N items in a local folder (1M by default), changes the folder by 1% new,
1% changed, 1% deleted and 0.5% renamed files, then measures in one process:
  * listing    — the adapter's bare streamed listing of the changed folder (the floor);
  * list+stage — the upstream sync's listing of every partition into staging;
  * reconcile  — the plan (set-based SQL over staging and items) and its apply, one
                 transaction, including the guards;
and the peak RSS of the process doing them, at N and at N/10 (memory must not grow with
the dataset). Run on SQLite and on PostgreSQL. Seeding the catalog and the measured sync
run in processes of their own; the folder is changed and changed back around each run.

A local folder lists far faster than any cloud bucket, so the run also times a bare
listing of a moto S3 bucket (``--s3``) as a per-object baseline for cloud storage.
Prints a table; record it in RESULTS.md.

    .venv/bin/python bench/reconcile.py                   # 1M and 100k, SQLite + PostgreSQL
    .venv/bin/python bench/reconcile.py --items 200000    # smaller
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
WORK = REPO / "bench" / ".work"

NEW = 0.01


def files_of(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.jpg"))


def change_folder(root: Path, files: list[Path]) -> dict:
    """Apply the day's changes (of every 200 files: 2 changed, 2 deleted, 1 renamed, and
    1% new files); returns what is needed to undo them."""
    changed = [f for i, f in enumerate(files) if i % 200 in (0, 1)]
    deleted = [f for i, f in enumerate(files) if i % 200 in (2, 3)]
    renamed = [f for i, f in enumerate(files) if i % 200 == 4]
    n = len(files)
    undo = {"changed": [], "deleted": [], "renamed": [], "new": []}
    for path in changed:
        undo["changed"].append((str(path), path.read_bytes()))
        path.write_bytes(b"changed" + path.read_bytes())
    for path in deleted:
        undo["deleted"].append((str(path), path.read_bytes()))
        path.unlink()
    for path in renamed:
        target = path.with_name(f"renamed-{path.name}")
        path.rename(target)
        undo["renamed"].append((str(target), str(path)))
    for i in range(int(n * NEW)):
        path = root / f"cam-{i % 100:03}" / "new" / f"new-{i:07}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"n" * (i % 700 + 1))
        undo["new"].append(str(path))
    return undo


def undo_changes(undo: dict) -> None:
    for path, data in undo["changed"] + undo["deleted"]:
        Path(path).write_bytes(data)
    for target, original in undo["renamed"]:
        Path(target).rename(original)
    for path in undo["new"]:
        Path(path).unlink()


def seed(backend: str, items: int) -> str:
    """A fresh catalog holding the folder as a synced dataset; returns its URL."""
    from initial_sync import fresh_postgres, fresh_sqlite, make_local_tree

    from tributary.catalog import Catalog, datasets, drivers
    from tributary.sync import initial, listing

    root = WORK / f"local-{items}"
    make_local_tree(root, items)
    url = fresh_postgres("rec") if backend == "postgres" else fresh_sqlite(f"rec{items}")
    catalog = Catalog(url)
    with catalog.begin() as conn:
        drivers.create(conn, name="bench", provider="local", bucket=str(root))
        datasets.create(conn, name="bench", driver_name="bench", mass_delete_threshold=1)
    sync_id = listing.start(catalog, dataset_name="bench", kind="initial", dag_id="b", run_id="0")
    for pointer in listing.plan(catalog, sync_id):
        listing.list_partition(catalog, sync_id, pointer["index"])
    initial.check_quota(catalog, sync_id)
    initial.index(catalog, sync_id)
    return url


def upstream(url: str, items: int) -> dict:
    """The measured part, in a process of its own: listing, list+stage, reconcile."""
    from initial_sync import bare_listing

    from tributary.catalog import Catalog
    from tributary.catalog.drivers import build
    from tributary.sync import guarded_reconcile, listing

    root = WORK / f"local-{items}"
    catalog = Catalog(url)
    driver = build(name="bench", provider="local", bucket=str(root))
    listed, listing_s = min(bare_listing(driver), bare_listing(driver), key=lambda r: r[1])
    sync_id = listing.start(catalog, dataset_name="bench", kind="upstream", dag_id="b", run_id="1")
    started = time.perf_counter()
    for pointer in listing.plan(catalog, sync_id):
        listing.list_partition(catalog, sync_id, pointer["index"])
    stage_s = time.perf_counter() - started
    started = time.perf_counter()
    report = guarded_reconcile.reconcile(catalog, sync_id)
    reconcile_s = time.perf_counter() - started
    return {
        "items": items,
        "listed": listed,
        "listing_s": listing_s,
        "stage_s": stage_s,
        "reconcile_s": reconcile_s,
        "counts": report["counts"],
        "peak_rss_mib": peak_rss_mib(),
    }


def peak_rss_mib() -> float:
    """This process's own peak RSS. (ru_maxrss would include the parent's at fork time:
    Linux carries it across fork and exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def one_run(backend: str, items: int) -> dict:
    """Seed (child), change the folder, sync (another child), change it back."""
    url = child("seed", backend, str(items))
    undo = change_folder(WORK / f"local-{items}", files_of(WORK / f"local-{items}"))
    try:
        return {"backend": backend, **json.loads(child("upstream", url, str(items)))}
    finally:
        undo_changes(undo)
        if backend == "postgres":
            from initial_sync import drop_postgres

            drop_postgres(url)


def s3_listing_cost(count: int) -> float:
    """Seconds per object of a bare listing of a moto S3 bucket (best of two)."""
    from initial_sync import bare_listing, make_s3_bucket

    from tests import emulators
    from tributary.catalog.drivers import build

    moto = emulators.start_moto(WORK / "logs")
    os.environ.update(moto.env)
    try:
        print(f"uploading {count:,} objects to moto S3 …", flush=True)
        make_s3_bucket(moto, "bench", count)
        driver = build(name="s3", provider="s3", bucket="bench", conn_id="test_s3")
        listed, seconds = min(bare_listing(driver), bare_listing(driver), key=lambda r: r[1])
        return seconds / listed
    finally:
        moto.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--s3", type=int, default=20_000, help="objects for the S3 baseline")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW_HOME", str(WORK / "airflow"))
    os.environ.setdefault("TRIBUTARY_LOCAL_ROOTS", str(WORK))  # the benches' folders
    if args.child:
        logging.disable(logging.INFO)
        step, target, items = args.child
        if step == "seed":
            print(seed(target, int(items)))
        else:
            print(json.dumps(upstream(target, int(items))))
        return

    rows = []
    for backend in args.backends.split(","):
        for items in (args.items // 10, args.items):
            print(f"{backend}, {items:,} items …", flush=True)
            rows.append(one_run(backend, items))
            print(rows[-1], flush=True)

    s3_per_object = s3_listing_cost(args.s3) if args.s3 else None

    print()
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        "| catalog | items | listing s | list+stage s | reconcile s | reconcile/listing "
        "| new / changed / renamed / vanished | peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        c = r["counts"]
        print(
            f"| {r['backend']} | {r['items']:,} | {r['listing_s']:.2f} | {r['stage_s']:.2f} | "
            f"{r['reconcile_s']:.2f} | {r['reconcile_s'] / r['listing_s']:.2f}× | "
            f"{c['new']:,} / {c['changed']:,} / {c['renamed']:,} / {c['vanished']:,} | "
            f"{r['peak_rss_mib']:.0f} |"
        )
    if s3_per_object:
        print(f"moto S3 bare listing: {s3_per_object * 1e6:.1f} µs/object ({args.s3:,} objects)")
        for r in rows:
            s3_listing_s = s3_per_object * r["listed"]
            print(
                f"{r['backend']} {r['items']:,}: reconcile / S3 listing of as many objects "
                f"({s3_listing_s:.1f} s) = {r['reconcile_s'] / s3_listing_s:.1%}"
            )
    for backend in args.backends.split(","):
        small, large = (r["peak_rss_mib"] for r in rows if r["backend"] == backend)
        print(f"{backend}: peak RSS {args.items:,} vs {args.items // 10:,}: {large / small:.2f}×")


if __name__ == "__main__":
    main()
