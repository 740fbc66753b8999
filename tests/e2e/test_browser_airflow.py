"""The dataset browser inside a real Airflow: log into Airflow's UI in Chromium, open
Datasets from Airflow's navigation, and see Tributary's page in it, authenticated by the
UI's own login cookie; a Viewer sees no button."""

from __future__ import annotations

import time

import pytest

from tests.ui.chromium import ARTIFACTS, launch

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]


def login(browser, url: str, user: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{url}/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", user)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda address: "/auth/login" not in address, timeout=60_000)
    return context, page


def test_datasets_from_airflow_navigation(airflow_server):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with launch() as browser:
        context, page = login(browser, airflow_server, "admin")
        page.get_by_role("link", name="Datasets").first.click(timeout=60_000)
        page.wait_for_url("**/plugin/tributary", timeout=60_000)
        frame = page.frame_locator("iframe").first
        frame.locator("h1", has_text="Datasets").wait_for(timeout=60_000)
        assert frame.locator("header.top .who").inner_text().startswith("admin")
        assert "can edit" in frame.locator("header.top .who").inner_text()
        page.screenshot(path=ARTIFACTS / "airflow-datasets.png", full_page=True)
        context.close()

        context, page = login(browser, airflow_server, "viewer")
        page.goto(f"{airflow_server}/tributary/ui/drivers")
        assert "read only" in page.locator("header.top .who").inner_text()
        assert page.get_by_role("button", name="Check now").count() == 0
        assert page.locator("#driver-form").count() == 0
        context.close()


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(out, "JPEG")
    return out.getvalue()


def test_upload_through_the_page_then_real_preprocessing_shows_the_thumbnail(
    airflow_server, tmp_path
):
    """Inside the real Airflow, end to end: the page uploads (one streamed PUT per file),
    the API asks for a downstream run, that run emits items-created, Airflow starts
    tributary_preprocess on it, and the grid shows the thumbnails. A file named like HTML
    shows as text; metadata edited on the page reads back through the API."""
    from tributary.client import Client

    with Client(airflow_server, user="admin", password="admin") as api:  # noqa: S106
        api.create_dataset("pages", sync=False)
    sunrise = tmp_path / "sunrise.jpg"
    sunrise.write_bytes(_jpeg((255, 136, 0)))
    hostile = tmp_path / "<img src=x onerror=alert(1)>.jpg"
    hostile.write_bytes(_jpeg((0, 136, 255)))
    with launch() as browser:
        context, page = login(browser, airflow_server, "admin")
        page.goto(f"{airflow_server}/tributary/ui/datasets/pages/upload")
        page.set_input_files("#pick-files", [str(sunrise), str(hostile)])
        page.wait_for_function(
            "() => [...document.querySelectorAll('#upload-list .result')]"
            ".every(c => c.textContent === 'created')",
            timeout=120_000,
        )

        # Real preprocessing, started by Airflow from the items-created event: wait for it.
        deadline = time.monotonic() + 300
        while True:
            page.goto(f"{airflow_server}/tributary/ui/datasets/pages")
            rendered = page.locator("#grid img").evaluate_all(
                "(all) => all.filter(i => i.complete && i.naturalWidth > 0).length"
            )
            if rendered == 2:
                break
            assert time.monotonic() < deadline, "no thumbnails 300 s after the upload"
            time.sleep(5)
        assert page.locator("img[src='x']").count() == 0  # the name is text, not markup
        assert page.locator(".card .label", has_text="onerror").count() == 1
        assert page.get_by_role("button", name="Preprocess").count() == 1  # a writer's
        assert page.get_by_role("link", name="Upload").count() == 1
        page.screenshot(path=ARTIFACTS / "airflow-browser.png", full_page=True)

        page.click(".card[data-path='/sunrise.jpg'] a")
        page.wait_for_selector("#meta-editor")
        page.click("#meta-add")
        row = page.locator("#meta-rows tr").last
        row.locator(".meta-key").fill("camera")
        row.locator(".meta-value").fill("7")
        page.click("#meta-save")
        page.wait_for_selector("#toast.shown:has-text('Saved')")
        context.close()

        # A Viewer sees the same data and no button that changes it.
        context, page = login(browser, airflow_server, "viewer")
        page.goto(f"{airflow_server}/tributary/ui/datasets/pages")
        page.locator(".card[data-path='/sunrise.jpg']").wait_for()
        assert page.get_by_role("button", name="Preprocess").count() == 0
        assert page.get_by_role("link", name="Upload").count() == 0
        page.click(".card[data-path='/sunrise.jpg'] a")
        page.locator("#item").wait_for()
        assert page.get_by_role("button", name="Delete").count() == 0
        assert page.locator("#meta-editor").count() == 0
        context.close()
    with Client(airflow_server, user="viewer", password="viewer") as viewer:  # noqa: S106
        assert viewer.item_by_path("pages", "/sunrise.jpg")["metadata"]["user"] == {"camera": 7}


def test_a_real_syncs_progress_bar_moves(airflow_server, tmp_path_factory):
    """A dataset of 24 folders (past the one-partition size): its initial sync runs as
    mapped partitions in the real Airflow while the Datasets page's bar polls itself;
    the bar is seen at more than one value before the sync ends, and ends full."""
    from tributary.catalog import Catalog
    from tributary.client import Client
    from tributary.usecases.drivers import create_driver

    folder = tmp_path_factory.mktemp("progress-bucket")
    for n in range(24):
        (folder / f"cam{n:02}").mkdir()
        for m in range(150):
            (folder / f"cam{n:02}" / f"{m}.txt").write_text(f"{n}/{m}")
    create_driver(
        Catalog(airflow_server.env["TRIBUTARY_CATALOG_URL"]),
        name="progress-drv",
        provider="local",
        bucket=str(folder),
    )
    with launch() as browser:
        context, page = login(browser, airflow_server, "admin")
        with Client(airflow_server, user="admin", password="admin") as api:  # noqa: S106
            made = api.create_dataset("progress", driver="progress-drv")
        assert made["initial_sync"]["dag_id"] == "tributary_initial_sync", made
        bar = page.locator("#progress-progress progress")
        deadline = time.monotonic() + 300
        while not bar.count():  # the run waits for a scheduler slot first: reload till then
            assert time.monotonic() < deadline, "the initial sync never showed as running"
            page.goto(f"{airflow_server}/tributary/ui/")
            time.sleep(1)
        # From here the page is not reloaded: the bar polls the server by itself.
        seen: set[tuple[str, str]] = set()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if bar.count():
                seen.add((bar.get_attribute("value"), bar.get_attribute("max")))
            status = page.locator("#progress-progress").inner_text()
            if "succeeded" in status or "failed" in status:
                break
            time.sleep(0.5)
        page.screenshot(path=ARTIFACTS / "airflow-progress.png", full_page=True)
        context.close()
        assert "succeeded" in status, status
    moving = {value for value, total in seen if value != total}
    assert len({value for value, _ in seen}) >= 2, seen  # it moved while we watched
    assert moving, seen
    with Client(airflow_server, user="viewer", password="viewer") as viewer:  # noqa: S106
        assert viewer.dataset("progress")["items"]["active"] == 24 * 150
