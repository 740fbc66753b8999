"""The dataset browser inside a real Airflow: log into Airflow's UI in Chromium, open
Datasets from Airflow's navigation, and see Tributary's page in it, authenticated by the
UI's own login cookie; a Viewer sees no button."""

from __future__ import annotations

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
