"""CSV link rows validated *and indexed* (the steps of ``tributary_csv_ingest`` without
Airflow's task overhead) against reading the same CSV with pyarrow alone.

Each measurement runs in a fresh process (its own peak RSS); time counts from after the
imports. ``ingest`` = ``start_import`` (the CSV streamed into the hidden folder) →
``import_run.validate`` (chunk files, quota) → ``run_batch`` over every batch (link files
written, items indexed in bulk on the internal storage, SQLite catalog) → ``report``.
CPU time of this process only (SQLite runs in it; the disk's fsyncs are wall time).
The CSV is ``bench/csv_validate.py``'s (a tenth of rows with metadata, one in a thousand
bad). Run from the repository root:

    .venv/bin/python bench/csv_ingest.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.csv_validate import _rss_mib, make_csv  # noqa: E402


def run_mode(mode: str, path: Path) -> dict:
    import logging

    import pyarrow.csv as pacsv

    work = tempfile.mkdtemp(prefix="tributary-bench-")
    os.environ["TRIBUTARY_STORAGE_ROOT"] = f"{work}/internal"
    os.environ["TRIBUTARY_CATALOG_URL"] = f"sqlite:///{work}/catalog.db"
    sys.path.insert(0, str(ROOT / "include"))
    from tributary.catalog import Catalog, datasets
    from tributary.usecases import import_run
    from tributary.usecases.imports import start_import

    logging.disable(logging.INFO)
    catalog = Catalog(os.environ["TRIBUTARY_CATALOG_URL"])
    with catalog.begin() as conn:
        datasets.create(conn, name="bench")
    base_rss = _rss_mib()
    started, cpu = time.perf_counter(), time.process_time()
    result: dict = {"mode": mode}
    if mode == "pyarrow":
        reader = pacsv.open_csv(path, parse_options=pacsv.ParseOptions(newlines_in_values=True))
        result["rows"] = sum(batch.num_rows for batch in reader)
    else:
        with open(path, "rb") as source:
            record = start_import(catalog, "bench", source, path.name)
        plan = import_run.validate(catalog, "bench", record["id"])
        outcomes = [
            import_run.run_batch(catalog, "bench", b["import_id"], b["first"], b["last"])
            for b in plan["batches"]
        ]
        done = import_run.report(catalog, "bench", record["id"], plan["chunks"], outcomes)
        result.update(rows=done["rows"], created=done["created"], failed=done["failed"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result.update(
        seconds=time.perf_counter() - started,
        cpu=time.process_time() - cpu,
        peak_rss_mib=peak,
        growth_mib=peak - base_rss,
    )
    return result


def measure(mode: str, path: Path) -> dict:
    child = [sys.executable, __file__, "--child", mode, str(path)]
    return json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_mode(args.child[0], Path(args.child[1]))))
        return
    print("| mode | rows | created | failed | wall s | CPU s | peak RSS MiB | growth MiB |")
    print("|---|---|---|---|---|---|---|---|")
    results = {}
    for size in args.sizes:
        path = make_csv(size)
        for mode in ("pyarrow", "ingest"):
            r = results[mode, size] = measure(mode, path)
            print(
                f"| {mode} | {r['rows']:,} | {r.get('created', '')} | {r.get('failed', '')} "
                f"| {r['seconds']:.2f} | {r['cpu']:.2f} | {r['peak_rss_mib']:.0f} "
                f"| {r['growth_mib']:.0f} |"
            )
        ratio = results["ingest", size]["cpu"] / results["pyarrow", size]["cpu"]
        wall = results["ingest", size]["seconds"] / results["pyarrow", size]["seconds"]
        print(f"ingest / pyarrow at {size:,} rows: {ratio:.0f}x CPU, {wall:.0f}x wall")
    if len(args.sizes) > 1:
        low, high = args.sizes[0], args.sizes[-1]
        rss = results["ingest", high]["peak_rss_mib"] / results["ingest", low]["peak_rss_mib"]
        print(f"ingest peak RSS {high:,} / {low:,}: {rss:.2f}x")


if __name__ == "__main__":
    main()
