"""Keyset pages of items at 1M items: the first page, a deep page, and OFFSET as baseline.

For each catalog (SQLite file, PostgreSQL database) it fills one dataset with 1M items in
one ``INSERT … SELECT`` (a recursive CTE on SQLite, ``generate_series`` on PostgreSQL),
then times ``usecases.items.list_items`` (the code the API and the CLI run):

* the first page, and a page 900,000 items deep reached by its cursor (keyset);
* the same deep page with ``LIMIT … OFFSET 900000`` (the baseline keyset replaces);
* the first page of a folder prefix, of a user-metadata ``key=value`` and of a file-name
  part (the last one reads rows until the page is full: how far depends on the data);
* optionally (``--walk``) every page of 1,000 from start to end.

Medians of several runs, in milliseconds; the ratios (deep/first, OFFSET/keyset) are what
to compare across machines. Nothing here asserts a time.

    .venv/bin/python bench/item_pages.py [--items 1000000] [--walk] [--no-postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "include"))
WORK = REPO / "bench" / ".work" / "item_pages"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PAGE = 100
RUNS = 7

from tributary.catalog import Catalog, item_pages  # noqa: E402
from tributary.catalog import datasets as dataset_queries  # noqa: E402
from tributary.catalog.schema import items  # noqa: E402
from tributary.usecases.items import iter_items, list_items  # noqa: E402


def fill_sqlite(catalog: Catalog, dataset_id: int, n: int) -> None:
    with catalog.begin() as conn:
        conn.exec_driver_sql(
            f"""
            WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {n - 1})
            INSERT INTO items (dataset_id, path, storage_key, size, etag, mimetype, state,
                               kind, preprocess_state, user_metadata, created_at, updated_at)
            SELECT {dataset_id}, printf('/cam%02d/%07d.jpg', i % 100, i),
                   printf('cam%02d/%07d.jpg', i % 100, i), 1000 + i, printf('e%d', i),
                   CASE WHEN i % 10 = 0 THEN 'video/mp4' ELSE 'image/jpeg' END, 'active',
                   'file', 'pending', json_object('camera', i % 100, 'lot', i % 1000),
                   '2026-12-01 00:00:00.000000', '2026-12-01 00:00:00.000000'
            FROM seq
            """
        )
        conn.exec_driver_sql("ANALYZE")


def fill_postgres(catalog: Catalog, dataset_id: int, n: int) -> None:
    with catalog.begin() as conn:
        conn.exec_driver_sql(
            f"""
            INSERT INTO items (dataset_id, path, storage_key, size, etag, mimetype, state,
                               kind, preprocess_state, user_metadata, created_at, updated_at)
            SELECT {dataset_id},
                   '/cam' || lpad(mod(i, 100)::text, 2, '0') || '/' || lpad(i::text, 7, '0')
                       || '.jpg',
                   'cam' || lpad(mod(i, 100)::text, 2, '0') || '/' || lpad(i::text, 7, '0')
                       || '.jpg',
                   1000 + i, 'e' || i,
                   CASE WHEN mod(i, 10) = 0 THEN 'video/mp4' ELSE 'image/jpeg' END, 'active',
                   'file', 'pending',
                   jsonb_build_object('camera', mod(i, 100), 'lot', mod(i, 1000)),
                   now(), now()
            FROM generate_series(0, {n - 1}) AS i
            """
        )
    with catalog.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE items")


def median_ms(action, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def offset_page(catalog: Catalog, dataset_id: int, offset: int) -> list:
    query = (
        sa.select(items)
        .where((items.c.dataset_id == dataset_id) & (items.c.state == "active"))
        .order_by(items.c.path, items.c.id)
        .limit(PAGE)
        .offset(offset)
    )
    with catalog.begin() as conn:
        return conn.execute(query).all()


def cursor_at(catalog: Catalog, dataset_id: int, offset: int) -> str:
    """The cursor of the item just before ``offset`` (setup, not timed)."""
    query = (
        sa.select(items.c.path, items.c.id)
        .where(items.c.dataset_id == dataset_id)
        .order_by(items.c.path, items.c.id)
        .limit(1)
        .offset(offset - 1)
    )
    with catalog.begin() as conn:
        path, item_id = conn.execute(query).one()
    return item_pages.encode_cursor(path, item_id)


def measure(label: str, catalog: Catalog, fill, n: int, walk: bool) -> dict:
    with catalog.begin() as conn:
        known = {d.name for d in dataset_queries.all_datasets(conn)}
        fresh = "bench" not in known
        if fresh:
            dataset_queries.create(conn, name="bench", sync_enabled=False)
        dataset_id = dataset_queries.get(conn, "bench").id
    if fresh:
        started = time.perf_counter()
        fill(catalog, dataset_id, n)
        print(f"{label}: {n:,} items generated in {time.perf_counter() - started:.1f}s")
    deep = int(n * 0.9)
    deep_cursor = cursor_at(catalog, dataset_id, deep)
    first = list_items(catalog, "bench", limit=PAGE)
    after = list_items(catalog, "bench", limit=PAGE, after=deep_cursor)
    offset_rows = offset_page(catalog, dataset_id, deep)
    assert [r["id"] for r in after["items"]] == [r.id for r in offset_rows], "pages differ"
    assert len(first["items"]) == PAGE
    results = {
        "first page (keyset)": median_ms(lambda: list_items(catalog, "bench", limit=PAGE)),
        f"page at {deep:,} (keyset)": median_ms(
            lambda: list_items(catalog, "bench", limit=PAGE, after=deep_cursor)
        ),
        f"page at {deep:,} (OFFSET)": median_ms(
            lambda: offset_page(catalog, dataset_id, deep), runs=3
        ),
        "first page, prefix /cam42/": median_ms(
            lambda: list_items(catalog, "bench", limit=PAGE, prefix="/cam42/")
        ),
        "first page, meta lot=421": median_ms(
            lambda: list_items(catalog, "bench", limit=PAGE, metadata={"lot": 421})
        ),
        "first page, name 99999": median_ms(
            lambda: list_items(catalog, "bench", limit=PAGE, name="99999"), runs=3
        ),
        "first page, video/*": median_ms(
            lambda: list_items(catalog, "bench", limit=PAGE, mimetype="video/*")
        ),
    }
    if walk:
        started = time.perf_counter()
        count = sum(1 for _ in iter_items(catalog, "bench"))
        results[f"walk {count:,} items, pages of 1000 (s)"] = time.perf_counter() - started
    return results


def report(label: str, results: dict) -> None:
    print(f"\n{label}")
    for name, value in results.items():
        unit = "" if name.endswith("(s)") else " ms"
        print(f"  {name:<42} {value:10.2f}{unit}")
    first = results["first page (keyset)"]
    deep = next(v for k, v in results.items() if k.endswith("(keyset)") and "at" in k)
    offset = next(v for k, v in results.items() if k.endswith("(OFFSET)"))
    print(f"  deep/first (keyset) {deep / first:.2f}x   OFFSET/keyset deep {offset / deep:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--walk", action="store_true", help="also walk every page")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {args.items:,} items, pages of {PAGE}")

    sqlite = Catalog(f"sqlite:///{WORK / f'catalog-{args.items}.db'}")
    report("SQLite", measure("SQLite", sqlite, fill_sqlite, args.items, args.walk))
    sqlite.engine.dispose()

    if not args.no_postgres:
        admin = sa.create_engine(PG_ADMIN.replace("postgresql:", "postgresql+psycopg:"))
        name = f"tributary_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            pg = Catalog(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
            report("PostgreSQL", measure("PostgreSQL", pg, fill_postgres, args.items, args.walk))
            pg.engine.dispose()
        finally:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
