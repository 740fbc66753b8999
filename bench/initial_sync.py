"""Initial-sync benchmark: bare adapter listing vs the whole initial sync, and peak RSS.

For N objects in a local folder (100k; 1M with --million) and in moto S3 (20k), measures in
one run:
  * listing  — the adapter's streamed listing alone (the floor: what any sync must pay);
  * sync     — Tributary's initial sync steps (start, probe, plan, list every partition
               into staging, quota, index) in one process, partitions one after another;
  * sync ×2  — the same with two partitions listing at once (what Airflow's mapped tasks
               do on this 2-core machine);
and the peak RSS of a process doing the sync at two sizes (memory must not grow with N).
Airflow's own task scheduling overhead (≈1 s per task) is not included: it does not grow
with N. Prints a table and ratios; record results in bench/RESULTS.md.

    .venv/bin/python bench/initial_sync.py              # local 10k + 100k, moto S3 20k
    .venv/bin/python bench/initial_sync.py --million    # adds local 1M (≈ 4 GB of inodes)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
WORK = REPO / "bench" / ".work"


def make_local_tree(root: Path, count: int) -> None:
    """``count`` small files spread over 100 top-level folders of 10 sub-folders each."""
    marker = root / f".complete-{count}"
    if marker.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    for i in range(count):
        folder = root / f"cam-{i % 100:03}" / f"day-{(i // 100) % 10:02}"
        if i < 1000:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"img-{i:07}.jpg").write_bytes(b"x" * (i % 512))
    marker.write_text("")


def make_s3_bucket(moto, bucket: str, count: int) -> None:
    from tests.buckets import s3_client

    client = s3_client(moto)
    client.create_bucket(Bucket=bucket)

    def put(i: int) -> None:
        key = f"cam-{i % 100:03}/day-{(i // 100) % 10:02}/img-{i:07}.jpg"
        client.put_object(Bucket=bucket, Key=key, Body=b"x" * (i % 512))

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))


def bare_listing(driver) -> tuple[int, float]:
    from tributary.storage import open_store

    store = open_store(driver)
    started = time.perf_counter()
    count = sum(len(page) for page in store.list_pages(store.prefix))
    return count, time.perf_counter() - started


def whole_sync(catalog_url: str, driver, workers: int) -> tuple[int, float]:
    from tributary.catalog import Catalog, datasets, drivers
    from tributary.sync import initial, listing

    catalog = Catalog(catalog_url)
    name = f"bench-{time.time_ns()}"
    with catalog.begin() as conn:
        drivers.insert(conn, driver.__class__(**{**driver.as_dict(), "name": name}))
        datasets.create(conn, name=name, driver_name=name)
    started = time.perf_counter()
    sync_id = listing.start(catalog, dataset_name=name, kind="initial", dag_id="b", run_id=name)
    listing.check_permissions(catalog, sync_id)
    pointers = listing.plan(catalog, sync_id)
    if workers == 1:
        for pointer in pointers:
            listing.list_partition(catalog, sync_id, pointer["index"])
    else:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda p: listing.list_partition(catalog, sync_id, p["index"]), pointers))
    initial.check_quota(catalog, sync_id)
    created = initial.index(catalog, sync_id)
    return created["count"], time.perf_counter() - started


def measure(provider: str, location: str, catalog_url: str, conn_id: str | None) -> dict:
    """One size on one storage: listing, sync sequential, sync with 2 workers."""
    return measure_on(provider, location, catalog_url, catalog_url.replace(".db", "-2.db"), conn_id)


def measure_on(
    provider: str, location: str, catalog_url: str, second_url: str, conn_id: str | None
) -> dict:
    """Listing, then a sync into ``catalog_url`` and a two-worker sync into ``second_url``."""
    import logging

    logging.disable(logging.INFO)
    from tributary.catalog.drivers import build

    driver = build(name="bench", provider=provider, bucket=location, conn_id=conn_id)
    # Best of two: the first listing may pay for a cold page cache, which the syncs after
    # it would not.
    (listed, first_s), (_, second_s) = bare_listing(driver), bare_listing(driver)
    listing_s = min(first_s, second_s)
    indexed, sync_s = whole_sync(catalog_url, driver, workers=1)
    _, sync2_s = whole_sync(second_url, driver, workers=2)
    assert listed == indexed, (listed, indexed)
    return {"objects": listed, "listing_s": listing_s, "sync_s": sync_s, "sync2_s": sync2_s}


def peak_rss_of_sync(provider: str, location: str, catalog_url: str, conn_id: str | None) -> float:
    """Peak RSS (MiB) of a fresh process that runs one whole sync."""
    code = (
        f"import json,resource,sys;sys.path.insert(0,{str(REPO)!r});"
        "from bench.initial_sync import whole_sync;"
        "from tributary.catalog.drivers import build;"
        "import logging;logging.disable(logging.INFO);"
        f"d=build(name='rss',provider={provider!r},bucket={location!r},conn_id={conn_id!r});"
        f"whole_sync({catalog_url!r},d,1);"
        "print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def fresh_sqlite(tag: str) -> str:
    folder = Path(tempfile.mkdtemp(prefix=f"catalog-{tag}-", dir=WORK))
    return f"sqlite:///{folder / 'catalog.db'}"


def fresh_postgres(tag: str) -> str:
    """A new, empty PostgreSQL database (COPY path) on the test server."""
    import uuid

    import psycopg

    admin_url = os.environ.get(
        "TRIBUTARY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"tributary_bench_{tag}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


def drop_postgres(url: str) -> None:
    """Drop a database made by ``fresh_postgres``."""
    import psycopg

    admin_url, name = url.rsplit("/", 1)
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def report_row(label: str, r: dict) -> str:
    return (
        f"| {label} | {r['objects']:,} | {r['listing_s']:.2f} | {r['sync_s']:.2f} | "
        f"{r['sync_s'] / r['listing_s']:.2f}× | {r['sync2_s']:.2f} | "
        f"{r['sync2_s'] / r['listing_s']:.2f}× |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="add the 1M local run")
    parser.add_argument("--s3", type=int, default=20_000, help="objects in moto S3 (0: skip)")
    parser.add_argument("--local", type=int, default=100_000, help="objects in the local run")
    parser.add_argument(
        "--postgres", action="store_true", help="also the local run on a PostgreSQL catalog"
    )
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW_HOME", str(WORK / "airflow"))
    os.environ.setdefault("TRIBUTARY_LOCAL_ROOTS", str(WORK))  # the benches' folders

    sizes = [args.local // 10, args.local] + ([1_000_000] if args.million else [])
    rows, rss = [], {}
    for size in sizes:
        root = WORK / f"local-{size}"
        print(f"preparing {size:,} local files …", flush=True)
        make_local_tree(root, size)
        result = measure("local", str(root), fresh_sqlite(f"local{size}"), None)
        rows.append(report_row("local, SQLite catalog", result))
        rss[size] = peak_rss_of_sync("local", str(root), fresh_sqlite(f"rss{size}"), None)
        print(rows[-1], f" peak RSS {rss[size]:.0f} MiB", flush=True)

    if args.postgres:
        root = WORK / f"local-{args.local}"
        # Two databases: measure() runs the sync once sequentially, once with two workers.
        url = fresh_postgres("seq")
        second = fresh_postgres("par")
        try:
            result = measure_on("local", str(root), url, second, None)
        finally:
            drop_postgres(url)
            drop_postgres(second)
        rows.append(report_row("local, PostgreSQL catalog", result))
        print(rows[-1], flush=True)

    if args.s3:
        from tests import emulators

        moto = emulators.start_moto(WORK / "logs")
        os.environ.update(moto.env)
        try:
            print(f"uploading {args.s3:,} objects to moto S3 …", flush=True)
            make_s3_bucket(moto, "bench", args.s3)
            result = measure("s3", "bench", fresh_sqlite("s3"), "test_s3")
            rows.append(report_row("moto S3, SQLite catalog", result))
            print(rows[-1], flush=True)
        finally:
            moto.stop()

    small, large = sizes[0], sizes[-1]
    print()
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print("| storage | objects | listing s | sync s | sync/listing | sync ×2 s | sync×2/listing |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    print(
        f"peak RSS: {json.dumps({f'{k:,}': round(v) for k, v in rss.items()})} MiB; "
        f"{large:,} vs {small:,}: {rss[large] / rss[small]:.2f}×"
    )


if __name__ == "__main__":
    main()
