"""The dataset browser in a real browser: Debian's Chromium driven by Playwright, against
Tributary's app on a real HTTP server (tests/live_api.py) over a catalog with real
images, synced from a local bucket and preprocessed by the real batch code (so the
thumbnails are real JPEGs). Screenshots go to tests/ui/artifacts/ (ignored by git)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests import live_api
from tests.sync.upstream_steps import upstream_sync
from tests.ui.chromium import ARTIFACTS, launch
from tributary.catalog import Catalog, datasets, drivers
from tributary.catalog.preprocessing import Selection
from tributary.preprocess import batch, planning
from tributary.preprocess.options import ThumbnailSpec
from tributary.sync import initial, listing

XSS_NAME = "<img src=x onerror=alert(1)>.jpg"
COLOURS = ["#d94f3d", "#3d7bd9", "#3dd97b", "#d9c23d", "#9b3dd9", "#3dd9d0", "#d93d9b"]


def image(colour: str, size=(320, 240), fmt="JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def bucket_files() -> dict[str, bytes]:
    files = {}
    for index, colour in enumerate(COLOURS):
        files[f"cam1/img-{index:02d}.jpg"] = image(colour)
    files["cam2/night/dark.png"] = image("#222244", fmt="PNG")
    files["cam2/day.jpg"] = image("#ffee99")
    files["broken.jpg"] = image("#000000")[:300]  # a JPEG cut short: decoding fails
    files["notes.txt"] = b"field notes\n"
    files[XSS_NAME] = image("#aa0000")
    return files


def make_synced_dataset(catalog: Catalog, root: Path, name: str, files: dict[str, bytes]):
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    with catalog.begin() as conn:
        drivers.create(conn, name=f"{name}-bucket", provider="local", bucket=str(root))
        datasets.create(conn, name=name, driver_name=f"{name}-bucket")
    sync_id = listing.start(
        catalog, dataset_name=name, kind="initial", dag_id="tributary_initial_sync", run_id=name
    )
    for partition in listing.plan(catalog, sync_id):
        listing.list_partition(catalog, sync_id, partition["index"])
    initial.index(catalog, sync_id)


def preprocess(catalog: Catalog) -> dict:
    """Thumbnails and system metadata for every pending item, by the real batch code."""
    planned = planning.plan(
        catalog,
        dataset_names=None,
        selection=Selection(),
        lanes={"shared": {}},
        max_batches=16,
        min_batch=500,
    )
    totals = {"done": 0, "failed": 0}
    for lane_batches in planned["lanes"].values():
        for one in lane_batches:
            counts = batch.process_batch(
                catalog, one, spec=ThumbnailSpec(), max_pixels=10_000_000, threads=2
            )
            totals = {key: totals[key] + counts[key] for key in totals}
    return totals


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The app on a real server over a catalog holding ``photos`` (a local bucket's
    images, synced and preprocessed) and ``inbox`` (internal storage, for uploads)."""
    home = tmp_path_factory.mktemp("ui")
    url = f"sqlite:///{home / 'catalog.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRIBUTARY_CATALOG_URL", url)
        patch.setenv("TRIBUTARY_STORAGE_ROOT", str(home / "storage"))
        catalog = Catalog(url)
        make_synced_dataset(catalog, home / "bucket", "photos", bucket_files())
        with catalog.begin() as conn:
            datasets.create(conn, name="inbox", driver_name=None)
        preprocess(catalog)
        # A dry run that finds one new file: its plan is what the sync page shows.
        (home / "bucket" / "cam1" / "later.jpg").write_bytes(image("#123456"))
        upstream_sync(catalog, "photos", dry_run=True, run_id="dry-1")
        server = live_api.start(catalog)
        yield server
        server.stop()


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium under Playwright (never a browser downloaded by Playwright)."""
    with launch() as browser:
        yield browser


def _context(chromium, site, user: str):
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    # Airflow's UI keeps its login in this cookie: the pages and the API read it.
    context.add_cookies([{"name": "_token", "value": f"token-{user}", "url": site.url}])
    return context


@pytest.fixture
def page(chromium, site):
    """A page of an admin (may write), failing the test on any script error."""
    context = _context(chromium, site, "admin")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("dialog", lambda dialog: dialog.accept())
    yield tab
    context.close()
    assert not errors, f"script errors on the page: {errors}"


@pytest.fixture
def viewer_page(chromium, site):
    context = _context(chromium, site, "viewer")
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS
