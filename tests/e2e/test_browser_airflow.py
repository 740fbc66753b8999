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
    with Client(airflow_server, user="viewer", password="viewer") as viewer:  # noqa: S106
        assert viewer.item_by_path("pages", "/sunrise.jpg")["metadata"]["user"] == {"camera": 7}
