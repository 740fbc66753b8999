"""The dataset browser's pages in Chromium: browse, thumbnails, item panel, metadata edits,
upload, escaping, and what a viewer may not do."""

from __future__ import annotations

import httpx
import pytest

from tests.ui.conftest import XSS_NAME, image, preprocess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UI = "/tributary/ui"
API = "/tributary/api/v1"


def api(site, user="admin") -> httpx.Client:
    return httpx.Client(
        base_url=site.url + API, headers={"Authorization": f"Bearer token-{user}"}, timeout=30
    )


def item_id(site, dataset: str, path: str) -> int:
    with api(site) as client:
        answer = client.get(f"/datasets/{dataset}/items/by-path", params={"path": path})
        answer.raise_for_status()
        return answer.json()["id"]


def test_datasets_page_lists_counts_quota_and_last_sync(page, site, artifacts):
    answer = page.goto(site.url + UI + "/")
    assert answer.status == 200
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    row = page.locator("tr[data-dataset='photos']")
    page.wait_for_selector("tr[data-dataset='photos'] .counts :text('active')")  # asked after
    text = row.inner_text()
    assert "photos-bucket" in text
    assert "12 active" in text
    assert "1 failed" in text  # broken.jpg
    assert "upstream dry run: succeeded" in text
    assert page.locator("tr[data-dataset='inbox']").inner_text().count("internal") >= 1
    page.screenshot(path=artifacts / "datasets.png", full_page=True)


def test_browse_a_dataset_thumbnails_render(page, site, artifacts):
    page.goto(site.url + UI + "/datasets/photos")
    images = page.locator("#grid img")
    assert images.count() >= 9
    page.wait_for_function(
        "() => [...document.querySelectorAll('#grid img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    widths = images.evaluate_all("(all) => all.map((i) => i.naturalWidth)")
    assert all(width > 0 for width in widths)
    # Asked for by their current version: cached by the browser for good.
    source = images.first.get_attribute("src")
    answer = httpx.get(site.url + source, cookies={"_token": "token-viewer"})
    assert answer.status_code == 200 and "?v=" in source
    assert "immutable" in answer.headers["cache-control"] and answer.headers["etag"]
    # The folder tree (asked for after the grid): the top level's folders, never the
    # hidden one. The counts come the same way.
    page.wait_for_selector("#folders a")
    page.wait_for_selector("#summary #counts")
    assert "active" in page.locator("#counts").inner_text()
    folders = page.locator(".folders li").all_inner_texts()
    assert [f.strip() for f in folders] == ["▸ cam1", "▸ cam2"]
    # The failed item: a badge with the reason on hover.
    broken = page.locator(".card[data-path='/broken.jpg'] .badge-failed")
    assert "preprocessing failed:" in broken.get_attribute("title")
    page.screenshot(path=artifacts / "browser.png", full_page=True)
    # Into a folder: only its items, breadcrumbs, its sub-folder.
    page.click("text=▸ cam2")
    page.wait_for_selector("#folders a:text('night')")
    assert [f.strip() for f in page.locator(".folders li").all_inner_texts()] == ["▸ night"]
    paths = page.locator(".card").evaluate_all("(all) => all.map((c) => c.dataset.path)")
    assert paths == ["/cam2/day.jpg", "/cam2/night/dark.png"]


def test_keyset_paging_and_filters(page, site):
    page.goto(site.url + UI + "/datasets/photos?name=img-0")
    assert page.locator(".card").count() == 7
    page.goto(site.url + UI + "/datasets/photos?preprocess_state=failed")
    paths = page.locator(".card").evaluate_all("(all) => all.map((c) => c.dataset.path)")
    assert paths == ["/broken.jpg"]
    page.goto(site.url + UI + "/datasets/photos?mimetype=image/png")
    assert page.locator(".card").count() == 1


def test_item_named_like_html_is_text(page, site):
    page.goto(site.url + UI + "/datasets/photos")
    label = page.locator(".card .label", has_text="onerror")
    assert label.inner_text() == XSS_NAME
    # No element was made of the name: the only img elements are thumbnails.
    assert page.locator("img[src='x']").count() == 0
    label.click()
    page.wait_for_selector("#item")
    assert page.locator("#item h2").inner_text() == XSS_NAME


def test_edit_metadata_and_read_it_back(page, site, artifacts):
    target = item_id(site, "photos", "/cam1/img-03.jpg")
    page.goto(site.url + UI + "/datasets/photos")
    page.click(f".card[data-item-id='{target}'] a")
    page.wait_for_selector("#meta-editor")
    page.click("#meta-add")
    rows = page.locator("#meta-rows tr")
    rows.last.locator(".meta-key").fill("label")
    rows.last.locator(".meta-value").fill("<b>cat</b>")
    page.click("#meta-add")
    rows.last.locator(".meta-key").fill("score")
    rows.last.locator(".meta-value").fill("3")
    page.fill("#description", "a red square")
    page.click("#meta-save")
    page.wait_for_selector("#toast.shown:has-text('Saved')")
    with api(site) as client:
        item = client.get(f"/datasets/photos/items/{target}").json()
    assert item["metadata"]["user"] == {"label": "<b>cat</b>", "score": 3}
    assert item["description"] == "a red square"
    page.wait_for_function("() => document.querySelectorAll('#meta-rows tr').length === 2")
    page.screenshot(path=artifacts / "item.png", full_page=True)
    page.evaluate(
        "() => { document.activeElement.blur(); window.scrollTo(0, 0); "
        "document.getElementById('panel').scrollTo(0, 0); }"
    )
    page.screenshot(path=artifacts / "browser-item.png")  # the README's picture


def test_delete_says_the_bucket_file_fate_and_move_rule(page, site):
    target = item_id(site, "photos", "/notes.txt")
    page.goto(site.url + UI + f"/datasets/photos/items/{target}")
    assert "file stays in the bucket" in page.locator("#item").inner_text()
    assert "cannot be moved or renamed" in page.locator("#item .rule").inner_text()
    page.click("#delete-item")
    page.wait_for_selector("#toast.shown:has-text('Deleted')")
    with api(site) as client:
        assert client.get(f"/datasets/photos/items/{target}").json()["state"] == "deleted"


def test_upload_files_through_the_page(page, site, tmp_path, artifacts):
    first, second = tmp_path / "sunrise.jpg", tmp_path / "sunset.jpg"
    first.write_bytes(image("#ff8800"))
    second.write_bytes(image("#8800ff"))
    page.goto(site.url + UI + "/datasets/inbox/upload")
    page.fill("#upload-folder", "/trip")
    page.set_input_files("#pick-files", [str(first), str(second)])
    page.wait_for_function(
        "() => [...document.querySelectorAll('#upload-list .result')]"
        ".every(c => c.textContent === 'created')"
    )
    assert "2 of 2 files done" in page.locator("#total-text").inner_text()
    # The same file again is skipped; another file at a path taken is a conflict, shown
    # on its row (nothing is replaced without "replace files already there").
    other = tmp_path / "other" / "sunrise.jpg"
    other.parent.mkdir()
    other.write_bytes(image("#00ff88"))
    page.set_input_files("#pick-files", [str(first), str(other)])
    page.wait_for_selector("#upload-list tr.upload-skipped")
    conflict = page.locator("#upload-list tr.upload-conflict .result")
    assert conflict.inner_text().startswith("conflict:")
    page.screenshot(path=artifacts / "upload.png", full_page=True)
    with api(site) as client:
        found = client.get("/datasets/inbox/items", params={"prefix": "/trip/"}).json()
    assert [i["path"] for i in found["items"]] == ["/trip/sunrise.jpg", "/trip/sunset.jpg"]
    assert found["items"][0]["size"] == first.stat().st_size
    # Preprocessing (what tributary_preprocess runs) makes their thumbnails: the grid
    # shows them.
    assert preprocess(site.catalog)["done"] >= 2
    page.goto(site.url + UI + "/datasets/inbox?folder=/trip/")
    page.wait_for_function(
        "() => document.querySelectorAll('#grid img').length === 2 && "
        "[...document.querySelectorAll('#grid img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )


def test_viewer_sees_no_buttons(viewer_page, site, artifacts):
    viewer_page.goto(site.url + UI + "/datasets/photos")
    text = viewer_page.locator("main").inner_text()
    for word in ("Sync", "Dry run", "Preprocess", "Upload"):
        assert viewer_page.get_by_role("button", name=word).count() == 0
    assert "Upload" not in text
    viewer_page.locator(".card a").first.click()
    viewer_page.wait_for_selector("#item")
    assert viewer_page.get_by_role("button", name="Delete").count() == 0
    assert viewer_page.locator("#meta-editor").count() == 0
    viewer_page.goto(site.url + UI + "/drivers")
    assert viewer_page.get_by_role("button", name="Check now").count() == 0
    assert viewer_page.locator("#driver-form").count() == 0


def test_no_login_no_page(chromium, site):
    context = chromium.new_context()
    tab = context.new_page()
    answer = tab.goto(site.url + UI + "/")
    assert answer.status == 401
    assert "Log in to Airflow" in tab.inner_text("main")
    context.close()
