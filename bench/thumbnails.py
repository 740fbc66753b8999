"""Thumbnail benchmark: Tributary's image path against Pillow, pyvips and the decode floor.

On generated 12 MP JPEGs (4000x3000, camera-like content), pinned to one core, measures in
one run the images/s of:
  * tributary   — ``describe()``: sniff, header metadata (EXIF orientation, dimensions),
                  ``draft()`` DCT-scaled decode, resize to 256 px, upright, JPEG encode;
  * pillow      — Pillow without draft: full-size decode (``load()`` first, since
                  ``thumbnail()`` alone drafts), ``thumbnail()``, JPEG encode;
  * pyvips      — ``pyvips.Image.thumbnail_buffer`` (shrink-on-load), JPEG encode;
  * floor       — the 1/8 DCT decode alone (``draft()`` + ``load()``): nothing can be
                  faster and still look at every image.
Rounds are interleaved (a, b, c, d, a, b, …) and the best round of each counts, so a
noisy neighbour slows all of them alike. Bytes come from memory: this is the CPU cost.

Then, end to end: ``tributary_preprocess`` through ``dag.test()`` over 2,000 smaller
photos (1600x1200) in a local folder, items/s of the whole run (planning, mapped batch
tasks, catalog writes, thumbnails written to the hidden folder).

    .venv/bin/python bench/thumbnails.py                 # about 3 minutes
    .venv/bin/python bench/thumbnails.py --no-dag        # the decode comparison only
"""

from __future__ import annotations

import argparse
import io
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
sys.path.insert(0, str(REPO / "include"))
WORK = REPO / "bench" / ".work" / "thumbnails"
SIZE = 256


def photo(width: int, height: int, seed: int) -> bytes:
    """A camera-like JPEG: smooth gradients plus sensor-like noise, quality 90."""
    import numpy
    from PIL import Image

    rng = numpy.random.default_rng(seed)
    y, x = numpy.mgrid[0:height, 0:width].astype(numpy.float32)
    base = numpy.stack(
        [
            128 + 100 * numpy.sin(x / (300 + seed * 10)),
            128 + 100 * numpy.cos(y / (200 + seed * 7)),
            128 + 60 * numpy.sin((x + y) / 500),
        ],
        axis=-1,
    )
    noisy = base + rng.normal(0, 12, base.shape)
    image = Image.fromarray(noisy.clip(0, 255).astype(numpy.uint8), "RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def corpus(count: int, width: int, height: int) -> list[bytes]:
    folder = WORK / f"{width}x{height}"
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for seed in range(count):
        path = folder / f"{seed:03}.jpg"
        if not path.exists():
            path.write_bytes(photo(width, height, seed))
        images.append(path.read_bytes())
    return images


def tributary_path(data: bytes) -> None:
    from tributary.preprocess.describe import describe
    from tributary.preprocess.options import Limits, ThumbnailSpec

    class Source:
        name, size, extension_mimetype = "photo.jpg", len(data), "image/jpeg"

        def read(self, start, length):
            return data[start : start + length]

    outcome = describe(Source(), spec=ThumbnailSpec(size=SIZE), limits=Limits())
    assert outcome.thumbnail is not None and outcome.error is None


def pillow_path(data: bytes) -> None:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()  # full-size decode first: thumbnail() would otherwise call draft()
        image.thumbnail((SIZE, SIZE))
        image.save(io.BytesIO(), "JPEG", quality=80)


def pyvips_path(data: bytes) -> None:
    import pyvips

    pyvips.Image.thumbnail_buffer(data, SIZE).write_to_buffer(".jpg[Q=80]")


def decode_floor(data: bytes) -> None:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (image.width // 8, image.height // 8))
        image.load()


PATHS = {
    "tributary": tributary_path,
    "pillow": pillow_path,
    "pyvips": pyvips_path,
    "floor": decode_floor,
}


def compare(images: list[bytes], rounds: int) -> dict[str, float]:
    """Best images/s of each path over interleaved rounds."""
    import pyvips

    pyvips.cache_set_max(0)  # no result cache: every image decoded for real
    for fn in PATHS.values():
        fn(images[0])  # warm up imports and codecs
    best = dict.fromkeys(PATHS, 0.0)
    for _ in range(rounds):
        for name, fn in PATHS.items():
            started = time.perf_counter()
            for data in images:
                fn(data)
            best[name] = max(best[name], len(images) / (time.perf_counter() - started))
    return best


def end_to_end(count: int) -> dict:
    """``tributary_preprocess`` over ``count`` photos in a local folder, via dag.test()."""
    templates = corpus(20, 1600, 1200)
    home = Path(tempfile.mkdtemp(prefix="bench-preprocess-"))
    bucket = home / "bucket"
    for i in range(count):
        path = bucket / f"cam-{i % 10}" / f"{i:05}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(templates[i % len(templates)])
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "TRIBUTARY_CATALOG_URL": f"sqlite:///{home / 'catalog.db'}",
        "TRIBUTARY_LOCAL_ROOTS": str(bucket),
        "PYTHONPATH": str(REPO / "include"),
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    script = f"""
import time, importlib.util, logging
logging.disable(logging.INFO)
from tributary.catalog import Catalog, datasets, drivers
catalog = Catalog({env["TRIBUTARY_CATALOG_URL"]!r})
with catalog.begin() as conn:
    drivers.create(conn, name="bench", provider="local", bucket={str(bucket)!r})
    datasets.create(conn, name="bench", driver_name="bench")
def load(dag_id):
    path = {str(REPO / "dags")!r} + f"/{{dag_id}}.py"
    spec = importlib.util.spec_from_file_location(dag_id, path)
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    return module.dag
assert load("tributary_initial_sync").test(run_conf={{"dataset": "bench"}}).state == "success"
started = time.perf_counter()
run = load("tributary_preprocess").test(run_conf={{"dataset": "bench", "force": False}})
elapsed = time.perf_counter() - started
from tributary.catalog import preprocessing
with catalog.begin() as conn:
    print(run.state, elapsed, preprocessing.states(conn, 1))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True
    )
    state, elapsed, states = result.stdout.strip().splitlines()[-1].split(" ", 2)
    shutil.rmtree(home, ignore_errors=True)
    return {"state": state, "seconds": float(elapsed), "states": states, "count": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=12, help="12 MP photos compared")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dag-items", type=int, default=2000)
    parser.add_argument("--no-dag", action="store_true")
    args = parser.parse_args()

    os.environ["VIPS_CONCURRENCY"] = "1"
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print(f"{time.strftime('%Y-%m-%d')} · {platform.machine()} · {os.cpu_count()} cores · "
          f"Python {platform.python_version()} · one core for the comparison")  # fmt: skip
    images = corpus(args.images, 4000, 3000)
    print(f"{len(images)} photos 4000x3000, {sum(map(len, images)) / len(images) / 1e6:.1f} MB avg")
    best = compare(images, args.rounds)
    for name, rate in best.items():
        print(f"  {name:<10} {rate:6.1f} images/s  {1000 / rate:6.1f} ms/image")
    print(f"  tributary vs pyvips      : {best['tributary'] / best['pyvips']:.2f}x (target >= 1.0)")
    print(f"  tributary time vs floor  : {best['floor'] / best['tributary']:.2f}x (target <= 1.15)")
    print(f"  tributary vs Pillow plain: {best['tributary'] / best['pillow']:.2f}x")
    if args.no_dag:
        return
    os.sched_setaffinity(0, set(range(os.cpu_count())))
    run = end_to_end(args.dag_items)
    print(f"DAG end to end: {run['count']} photos 1600x1200, local folder, SQLite catalog, "
          f"dag.test(): {run['state']} in {run['seconds']:.1f} s = "
          f"{run['count'] / run['seconds']:.0f} items/s; {run['states']}")  # fmt: skip


if __name__ == "__main__":
    main()
