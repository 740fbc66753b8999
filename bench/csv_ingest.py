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

``--uploads N`` measures upload rows instead: N rows of ``action=upload`` whose URLs a
local HTTP server (another process, ``ThreadingHTTPServer``) answers with 100 KB of JPEG
bytes, landed by the import (``TRIBUTARY_IMPORT_THREADS`` at a time) against a bare
``httpx.Client`` with a thread pool of the same size fetching the same URLs and writing
each body to a file (no catalog, no checks, no fsync). Throughput is rows per wall second.

    .venv/bin/python bench/csv_ingest.py --uploads 10000
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
    if mode.startswith("bare"):
        threads = int(os.environ.get("TRIBUTARY_IMPORT_THREADS", "8"))
        return run_bare(path, threads, durable=mode == "bare-fsync")
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


SERVER = r"""
import os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BODY = b"\xff\xd8\xff\xe0" + os.urandom(100 * 1024 - 4)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def upload_csv(rows: int, port: int) -> Path:
    path = Path(tempfile.mkdtemp(prefix="tributary-bench-")) / f"uploads-{rows}.csv"
    with open(path, "w") as out:
        out.write("ID,URL,action\n")
        for i in range(rows):
            out.write(f"{i}.jpg,http://127.0.0.1:{port}/p/{i}.jpg,upload\n")
    return path


def run_bare(path: Path, threads: int, durable: bool = False) -> dict:
    """Fetch every URL of the CSV with a plain httpx client and write each body to a file
    (``durable``: then ``fsync`` it, as the storage's streamed writes do)."""
    import csv
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    with open(path) as source:
        urls = [row["URL"] for row in csv.DictReader(source)]
    target = Path(tempfile.mkdtemp(prefix="tributary-bench-bare-"))
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    started, cpu = time.perf_counter(), time.process_time()
    with httpx.Client(limits=limits, trust_env=False) as client:

        def fetch(item: tuple[int, str]) -> int:
            index, url = item
            with client.stream("GET", url) as response, open(target / f"{index}.jpg", "wb") as f:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    f.write(chunk)
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
            return 1

        with ThreadPoolExecutor(threads) as pool:
            done = sum(pool.map(fetch, enumerate(urls)))
    return {
        "mode": "bare httpx + fsync" if durable else "bare httpx",
        "rows": done,
        "created": done,
        "failed": 0,
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "growth_mib": 0.0,
    }


def measure(mode: str, path: Path) -> dict:
    child = [sys.executable, __file__, "--child", mode, str(path)]
    return json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--uploads", type=int, help="measure N upload rows instead")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_mode(args.child[0], Path(args.child[1]))))
        return
    if args.uploads:
        uploads(args.uploads)
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


def uploads(rows: int) -> None:
    """Upload rows through the import against the bare fetch-and-write, same server."""
    os.environ["TRIBUTARY_FETCH_ALLOW"] = "127.0.0.1"
    os.environ.setdefault("TRIBUTARY_IMPORT_THREADS", "8")
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        path = upload_csv(rows, port)
        print(f"{rows:,} upload rows of 100 KB, {os.environ['TRIBUTARY_IMPORT_THREADS']} threads")
        print("| mode | rows | created | failed | wall s | CPU s | rows/s | peak RSS MiB |")
        print("|---|---|---|---|---|---|---|---|")
        results = {}
        for mode in ("bare", "bare-fsync", "ingest") * 2:  # twice each, alternating
            r = measure(mode, path)
            results.setdefault(mode, []).append(r)
            print(
                f"| {r['mode']} | {r['rows']:,} | {r.get('created', '')} | {r.get('failed', '')} "
                f"| {r['seconds']:.2f} | {r['cpu']:.2f} | {r['rows'] / r['seconds']:.0f} "
                f"| {r['peak_rss_mib']:.0f} |"
            )
        best = {m: min(x["seconds"] for x in runs) for m, runs in results.items()}
        for baseline in ("bare", "bare-fsync"):
            ratio = best[baseline] / best["ingest"]
            print(f"ingest / {baseline} throughput (best of 2): {ratio:.2f}x")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
