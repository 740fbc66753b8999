"""The dataset browser's server time at 1M (or --items) items, SQLite and PostgreSQL.

Fills one dataset as ``bench/item_pages.py`` does (100 folders ``/camNN/``, one INSERT …
SELECT), serves Tributary's app on uvicorn (``tests/live_api.py``: the real app, a
stand-in authorizer) and times whole HTTP requests from this process, as a browser would
send them (cookie login, HTML answer read to the end):

* the browser page: the first grid page (60 cards);
* the same page 90% deep, reached by its keyset cursor (``?after=``);
* a folder's first page (``?folder=/cam42/``) and a filtered one (``?meta=lot=421``);
* the fragments the page asks for once shown: the folder tree's level (top: 100 folders;
  ``/cam42/``: none, found by reading past its 1% of the files) and the counts (they
  read every row of the dataset);
* the Datasets page (its rows' counts come after it, one request each);
* the JSON API's first page of 60 (``/items?limit=60``): the baseline, same run.

Medians of several requests, in milliseconds; ratios against the API baseline are what to
compare across machines. Nothing here asserts a time. The thumbnails' ETag and long-lived
caching are the API's (``routes/content.py``); the grid asks for each by its version.

    .venv/bin/python bench/browser.py [--items 1000000] [--no-postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "include"))
sys.path.insert(0, str(REPO))
WORK = REPO / "bench" / ".work" / "browser"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
RUNS = 9

from bench.item_pages import cursor_at, fill_postgres, fill_sqlite  # noqa: E402
from tests import live_api  # noqa: E402
from tributary.catalog import Catalog  # noqa: E402
from tributary.catalog import datasets as dataset_queries  # noqa: E402


def median_ms(client: httpx.Client, url: str, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = client.get(url)
        answer.read()
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"GET {url}: {answer.status_code} {answer.text[:300]}")
    return statistics.median(times)


def prepare(label: str, catalog: Catalog, fill, n: int) -> int:
    with catalog.begin() as conn:
        known = {d.name for d in dataset_queries.all_datasets(conn)}
        if "bench" not in known:
            dataset_queries.create(conn, name="bench", sync_enabled=False)
            fresh = True
        else:
            fresh = False
        dataset_id = dataset_queries.get(conn, "bench").id
    if fresh:
        started = time.perf_counter()
        fill(catalog, dataset_id, n)
        print(f"{label}: {n:,} items generated in {time.perf_counter() - started:.1f}s")
    return dataset_id


def measure(label: str, catalog: Catalog, fill, n: int) -> dict:
    dataset_id = prepare(label, catalog, fill, n)
    deep = int(n * 0.9)
    cursor = cursor_at(catalog, dataset_id, deep)
    server = live_api.start(catalog)
    ui = "/tributary/ui/datasets/bench"
    try:
        with httpx.Client(
            base_url=server.url, cookies={"_token": "token-viewer"}, timeout=600
        ) as client:
            first = client.get(ui)
            assert first.status_code == 200 and first.text.count('class="card ') == 60
            tree = client.get(f"{ui}/tree")
            assert "cam00" in tree.text and "cam99" in tree.text, "folder tree"
            results = {
                "browser page: first grid page": median_ms(client, ui),
                f"browser page at {deep:,} (keyset)": median_ms(client, f"{ui}?after={cursor}"),
                "browser page, folder /cam42/": median_ms(client, f"{ui}?folder=/cam42/"),
                "browser page, meta lot=421": median_ms(client, f"{ui}?meta=lot%3D421"),
                "tree fragment: top level, 100 folders": median_ms(client, f"{ui}/tree"),
                "tree fragment: /cam42/ (reads its files)": median_ms(
                    client, f"{ui}/tree?folder=/cam42/"
                ),
                "counts fragment (after the page)": median_ms(client, f"{ui}/counts", runs=3),
                "datasets page (counts come after)": median_ms(client, "/tributary/ui/"),
                "baseline: API items, first 60 (JSON)": median_ms(
                    client, "/tributary/api/v1/datasets/bench/items?limit=60"
                ),
            }
    finally:
        server.stop()
    return results


def report(label: str, results: dict) -> None:
    print(f"\n{label}")
    base = results["baseline: API items, first 60 (JSON)"]
    for name, value in results.items():
        print(f"  {name:<40} {value:10.1f} ms   {value / base:6.1f}x API")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {args.items:,} items, grid of 60")

    if not args.no_sqlite:
        sqlite = Catalog(f"sqlite:///{WORK / f'catalog-{args.items}.db'}")
        report("SQLite", measure("SQLite", sqlite, fill_sqlite, args.items))
        sqlite.engine.dispose()

    if not args.no_postgres:
        admin = sa.create_engine(PG_ADMIN.replace("postgresql:", "postgresql+psycopg:"))
        name = f"tributary_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            pg = Catalog(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
            report("PostgreSQL", measure("PostgreSQL", pg, fill_postgres, args.items))
            pg.engine.dispose()
        finally:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
