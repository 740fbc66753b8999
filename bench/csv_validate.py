"""CSV link rows: Tributary's validation against the bare readers, at 100k and 1M rows.

Each measurement runs in a fresh process, so its peak RSS is its own; every process imports
the same modules first (pyarrow, the csv module, Tributary's), and time and RSS growth are
counted from after the imports. CPU time is the figure to compare (other engineers' load
inflates the wall clock on these shared machines). Modes:

- ``pyarrow``   pyarrow's streaming reader (``open_csv``, values may hold newlines): the
                issue's baseline, "reading the same CSV with pyarrow alone"
- ``pandas``    ``pandas.read_csv(engine="pyarrow", dtype_backend="pyarrow")`` of the whole file
- ``stdlib``    the stdlib ``csv`` reader, every record touched, nothing checked
- ``validate``  ``tributary.ingest.csv_rows``: the UTF-8 pass, the header, every row validated
                into typed rows and errors with line numbers, duplicate IDs

The CSV: ``ID,URL,name,item_metadata,item_description``; a tenth of the rows carry metadata,
one in a hundred a description spanning two lines, one in a thousand is bad. Files are made
once under ``bench/.work/csv/``. Run from the repository root:

    .venv/bin/python bench/csv_validate.py            # about a minute on 2 cores
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "csv"
MODES = ("pyarrow", "pandas", "stdlib", "validate")
SIZES = (100_000, 1_000_000)


def make_csv(rows: int) -> Path:
    path = WORK / f"links-{rows}.csv"
    if path.exists():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as out:
        out.write("ID,URL,name,item_metadata,item_description\r\n")
        for i in range(rows):
            url = f"https://bucket.s3.amazonaws.com/cams/{i % 97}/img_{i:08d}.jpg?X-Amz-Expires=60"
            if i % 1000 == 999:
                url = f"ftp://bucket/{i}.jpg"
            metadata = f'"{{""cam"": {i % 97}, ""seq"": {i}}}"' if i % 10 == 0 else ""
            description = f'"first line {i}\r\nsecond line"' if i % 100 == 0 else ""
            out.write(f"img-{i:08d},{url},,{metadata},{description}\r\n")
    return path


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_mode(mode: str, path: Path) -> dict:
    """Read ``path`` one way; time and memory counted from after the imports."""
    import csv

    import pyarrow.csv as pacsv

    sys.path.insert(0, str(ROOT / "include"))
    if mode == "pandas":
        import pandas
    from tributary.ingest.csv_rows import open_csv_import

    base_rss = _rss_mib()
    started, cpu = time.perf_counter(), time.process_time()
    errors = 0
    if mode == "pyarrow":
        reader = pacsv.open_csv(path, parse_options=pacsv.ParseOptions(newlines_in_values=True))
        rows = sum(batch.num_rows for batch in reader)
    elif mode == "pandas":
        rows = len(pandas.read_csv(path, engine="pyarrow", dtype_backend="pyarrow"))
    elif mode == "stdlib":
        with open(path, newline="", encoding="utf-8-sig") as text:
            reader = csv.reader(text)
            rows = sum(1 for record in reader if record) - 1
    else:
        rows = 0
        for batch in open_csv_import(path).batches():
            rows += len(batch.rows) + len(batch.errors)
            errors += len(batch.errors)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "mode": mode,
        "rows": rows,
        "errors": errors,
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "peak_rss_mib": peak,
        "growth_mib": peak - base_rss,
    }


def measure(mode: str, path: Path) -> dict:
    child = [sys.executable, __file__, "--child", mode, str(path)]
    return json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each mode (best kept)")
    args = parser.parse_args()
    if args.child:
        try:
            print(json.dumps(run_mode(args.child[0], Path(args.child[1]))))
        except Exception as exc:  # a reader that cannot read the file is a result too
            print(json.dumps({"mode": args.child[0], "failed": str(exc).split(".")[0]}))
        return
    results: dict[tuple[str, int], dict] = {}
    for size in SIZES:
        path = make_csv(size)
        for _ in range(args.rounds):
            for mode in MODES:
                result = measure(mode, path)
                best = results.get((mode, size))
                if best is None or result.get("cpu", 1e9) < best.get("cpu", 1e9):
                    results[(mode, size)] = result
    print("| mode | rows | errors | wall s | CPU s | rows/s (CPU) | peak RSS MiB | growth MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for (mode, size), r in results.items():
        if "failed" in r:
            print(f"| {mode} | {size:,} | failed: {r['failed']} | | | | | |")
            continue
        print(
            f"| {mode} | {r['rows']:,} | {r['errors']:,} | {r['seconds']:.2f} | {r['cpu']:.2f} "
            f"| {r['rows'] / r['cpu']:,.0f} | {r['peak_rss_mib']:.0f} | {r['growth_mib']:.0f} |"
        )
    for size in SIZES:
        ratio = results[("validate", size)]["cpu"] / results[("pyarrow", size)]["cpu"]
        print(f"validate / pyarrow at {size:,} rows (CPU): {ratio:.1f}x")
    rss = {
        m: results[(m, SIZES[1])]["peak_rss_mib"] / results[(m, SIZES[0])]["peak_rss_mib"]
        for m in MODES
        if all("failed" not in results[(m, size)] for size in SIZES)
    }
    print("peak RSS 1M / 100k: " + ", ".join(f"{m} {v:.2f}x" for m, v in rss.items()))


if __name__ == "__main__":
    main()
