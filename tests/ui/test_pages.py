"""The browser's other pages in Chromium: Sync / Dry run / Preprocess buttons, a running
sync's progress bar, sync history and a dry run's plan, drivers (Check now, Create Driver
with the probe's report), CSV import with its report, folder uploads by drag and drop."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io

import httpx
import pytest
import sqlalchemy as sa

from tests.ui.conftest import image
from tests.ui.test_browser import UI, api, item_id
from tributary.catalog import datasets, drivers
from tributary.catalog import syncs as sync_queries
from tributary.catalog.schema import sync_runs
from tributary.usecases import import_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sync_buttons_start_runs_as_the_caller(page, site):
    page.goto(site.url + UI + "/datasets/photos")
    before = len(site.runs.requests)
    page.get_by_role("button", name="Dry run").click()
    page.wait_for_selector("#toast.shown:has-text('Dry run started')")
    link = page.locator("#toast a")
    assert link.get_attribute("href").startswith("/dags/tributary_upstream_sync/runs/manual__")
    page.get_by_role("button", name="Preprocess").click()
    page.wait_for_selector("#toast.shown:has-text('Preprocessing started')")
    dag_id, conf, token = site.runs.requests[before]
    assert (dag_id, conf["dataset"], conf["dry_run"], token) == (
        "tributary_upstream_sync",
        "photos",
        True,
        "token-admin",
    )
    assert site.runs.requests[before + 1][0] == "tributary_preprocess"


def test_running_sync_progress_bar_moves(page, site, tmp_path):
    catalog = site.catalog
    (tmp_path / "busy").mkdir()
    with catalog.begin() as conn:
        drivers.create(conn, name="busy-bucket", provider="local", bucket=str(tmp_path / "busy"))
        datasets.create(conn, name="busy", driver_name="busy-bucket")
        dataset_id = datasets.get(conn, "busy").id
        sync_id = sync_queries.start(
            conn,
            dataset_id=dataset_id,
            kind="upstream",
            dag_id="tributary_upstream_sync",
            run_id="scheduled__1",
        )
        conn.execute(
            sa.update(sync_runs)
            .where(sync_runs.c.id == sync_id)
            .values(partitions_total=8, partitions_done=1, objects_listed=1000)
        )
    page.goto(site.url + UI + "/")
    bar = page.locator("#progress-busy progress")
    assert bar.get_attribute("value") == "1" and bar.get_attribute("max") == "8"
    with catalog.begin() as conn:
        conn.execute(
            sa.update(sync_runs)
            .where(sync_runs.c.id == sync_id)
            .values(partitions_done=5, objects_listed=52_000)
        )
    page.wait_for_selector("#progress-busy progress[value='5']", timeout=10_000)
    assert "52,000 objects listed" in page.locator("#progress-busy").inner_text()
    with catalog.begin() as conn:
        conn.execute(
            sa.update(sync_runs)
            .where(sync_runs.c.id == sync_id)
            .values(status="succeeded", partitions_done=8, finished_at=dt.datetime.now(dt.UTC))
        )
    page.wait_for_selector("#progress-busy .status-succeeded", timeout=10_000)
    assert page.locator("#progress-busy progress").count() == 0


def test_sync_history_and_dry_run_plan(page, site, artifacts):
    page.goto(site.url + UI + "/datasets/photos/syncs")
    rows = page.locator("#syncs tbody tr")
    assert rows.count() == 2
    newest, initial = rows.nth(0).inner_text(), rows.nth(1).inner_text()
    assert "dry run" in newest and "succeeded" in newest
    assert "initial" in initial and "\t12\t" in initial  # 12 new items
    airflow = rows.nth(1).locator("a", has_text="run and logs")
    assert airflow.get_attribute("href") == "/dags/tributary_initial_sync/runs/photos"
    page.screenshot(path=artifacts / "syncs.png", full_page=True)
    rows.nth(0).locator("a").first.click()
    plan = page.locator("#plan")
    assert "Plan" in page.locator("h2").first.inner_text()
    new_row = plan.locator("tr", has_text="new")
    assert "1" in new_row.inner_text() and "/cam1/later.jpg" in new_row.inner_text()
    page.screenshot(path=artifacts / "sync-plan.png", full_page=True)


def test_drivers_check_now_and_create_driver(page, site, tmp_path, artifacts):
    page.goto(site.url + UI + "/drivers")
    row = page.locator("#driver-photos-bucket")
    row.get_by_role("button", name="Check now").click()
    page.wait_for_selector("#toast.shown:has-text('Checked')")
    page.wait_for_selector("#driver-photos-bucket td.perm.ok")  # reloaded with the report
    assert page.locator("#driver-photos-bucket td.perm.ok").count() >= 3
    # A bucket that does not exist: nothing is kept, the probe says why.
    form = page.locator("#driver-form")
    form.locator("input[name=name]").fill("nowhere")
    form.locator("select[name=provider]").select_option("local")
    form.locator("input[name=bucket]").fill(str(tmp_path / "missing"))
    form.get_by_role("button", name="Probe and create").click()
    page.wait_for_selector("#driver-result .error-line")
    assert "Not created" in page.locator("#driver-result").inner_text()
    with api(site) as client:
        assert client.get("/drivers/nowhere").status_code == 404
    # A real folder: created, with its report shown.
    (tmp_path / "fresh").mkdir()
    form.locator("input[name=name]").fill("fresh")
    form.locator("input[name=bucket]").fill(str(tmp_path / "fresh"))
    form.get_by_role("button", name="Probe and create").click()
    page.wait_for_selector("#driver-result p.ok")
    page.screenshot(path=artifacts / "drivers.png", full_page=True)
    with api(site) as client:
        assert client.get("/drivers/fresh").json()["check_ok"] is True


def csv_of(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def test_csv_import_with_its_report(page, site, tmp_path, artifacts):
    jpeg = base64.b64encode(image("#00aaff")).decode()
    signed = "https://images.example.com/cat.jpg?X-Amz-Signature=topsecret&X-Amz-Credential=AK"
    data = csv_of(
        [
            ["ID", "URL", "image_bytes", "action", "mimetype", "item_metadata"],
            ["cat.jpg", signed, "", "", "", '{"cam": 1}'],
            ["inline.jpg", "", jpeg, "upload", "image/jpeg", ""],
            ["nothing.jpg", "", "", "upload", "", ""],
        ]
    )
    source = tmp_path / "lot.csv"
    source.write_bytes(data)
    page.goto(site.url + UI + "/datasets/inbox/upload")
    page.set_input_files("#csv-file", str(source))
    page.get_by_role("button", name="Import").click()
    page.wait_for_selector("#csv-result")
    (dag_id, conf, _token) = site.runs.requests[-1]
    assert dag_id == "tributary_csv_ingest"
    # What Airflow's tributary_csv_ingest would do, step by step, while the page polls.
    plan = import_run.validate(site.catalog, "inbox", conf["import_id"])
    results = [
        import_run.run_batch(site.catalog, "inbox", b["import_id"], b["first"], b["last"])
        for b in plan["batches"]
    ]
    import_run.report(site.catalog, "inbox", conf["import_id"], plan["chunks"], results)
    page.wait_for_selector("#csv-result td:text-is('succeeded')", timeout=15_000)
    report = page.locator("#csv-report").inner_text()
    assert "created\t2" in report and "failed\t1" in report
    assert page.locator("#csv-report a", has_text="Rejected rows").count() == 1
    page.screenshot(path=artifacts / "csv-import.png", full_page=True)
    # The link's signed URL is shown redacted in the item panel.
    target = item_id(site, "inbox", "/lot/cat.jpg.json")
    page.goto(site.url + UI + f"/datasets/inbox/items/{target}")
    panel = page.locator("#item").inner_text()
    assert "images.example.com/cat.jpg" in panel and "topsecret" not in panel
    assert page.locator("#item .badge-link").count() == 1


def test_drop_a_folder(page, site, tmp_path):
    """A folder dropped on the page: its files, sub-folders too, each a PUT of its own."""
    page.goto(site.url + UI + "/datasets/inbox/upload")
    page.fill("#upload-folder", "/dropped")
    # Chromium cannot be handed an OS drag in headless mode: build the DataTransfer
    # with files at folder paths the way a drop of a folder gives them (entries).
    page.evaluate(
        """() => {
        const make = (name, text) => new File([text], name, {type: "text/plain"});
        const file = (f) => ({isFile: true, isDirectory: false, name: f.name,
                              file: (ok) => ok(f)});
        const folder = (name, children) => {
          let given = false;
          return {isFile: false, isDirectory: true, name,
                  createReader: () => ({readEntries: (ok) => {
                    ok(given ? [] : children); given = true; }})};
        };
        const root = folder("shoot", [file(make("a.txt", "a")),
                                      folder("raw", [file(make("b.txt", "bb"))])]);
        const drop = new Event("drop", {bubbles: true, cancelable: true});
        drop.dataTransfer = {items: [{webkitGetAsEntry: () => root}], files: []};
        document.getElementById("dropzone").dispatchEvent(drop);
    }"""
    )
    page.wait_for_function(
        "() => document.querySelectorAll('#upload-list .result').length === 2 && "
        "[...document.querySelectorAll('#upload-list .result')]"
        ".every(c => c.textContent === 'created')"
    )
    with api(site) as client:
        found = client.get("/datasets/inbox/items", params={"prefix": "/dropped/"}).json()
    assert [i["path"] for i in found["items"]] == [
        "/dropped/shoot/a.txt",
        "/dropped/shoot/raw/b.txt",
    ]


def test_upload_a_file_over_1_gb(page, site, tmp_path):
    """The page sends the File itself: the browser streams it from disk, the API streams
    it to storage; nothing holds it whole."""
    big = tmp_path / "big.bin"
    size = 1_100 * 1024 * 1024
    with big.open("wb") as out:  # sparse: no disk or time spent writing it here
        out.truncate(size)
    page.goto(site.url + UI + "/datasets/inbox/upload")
    page.fill("#upload-folder", "/big")
    page.set_input_files("#pick-files", str(big))
    page.wait_for_selector("#upload-list tr.upload-created", timeout=300_000)
    assert "1 of 1 files done" in page.locator("#total-text").inner_text()
    with api(site) as client:
        item = client.get("/datasets/inbox/items/by-path", params={"path": "/big/big.bin"})
    assert item.json()["size"] == size


def test_move_restore_and_download_from_the_item_panel(page, site):
    with api(site) as client:
        put = client.put("/datasets/inbox/files/notes/draft.txt", content=b"first words\n")
        assert put.status_code == 200, put.text
    target = item_id(site, "inbox", "/notes/draft.txt")
    page.goto(site.url + UI + f"/datasets/inbox/items/{target}")
    # Download: the original's bytes, through the same login.
    href = page.locator("#item a", has_text="Download").get_attribute("href")
    original = httpx.get(site.url + href, cookies={"_token": "token-viewer"})
    assert original.content == b"first words\n"
    # Move / rename: an internal dataset's item may move.
    assert "internal storage" in page.locator("#item").inner_text()
    page.fill("#move-path", "/notes/final.txt")
    page.get_by_role("button", name="Move").click()
    page.wait_for_selector("#toast.shown:has-text('Moved to /notes/final.txt')")
    with api(site) as client:
        assert client.get(f"/datasets/inbox/items/{target}").json()["path"] == "/notes/final.txt"
    # Delete, then Restore from the deleted item's panel.
    page.goto(site.url + UI + f"/datasets/inbox/items/{target}")
    page.click("#delete-item")
    page.wait_for_selector("#toast.shown:has-text('Deleted')")
    page.wait_for_selector("#item button:text('Restore')")  # the page reloads
    page.get_by_role("button", name="Restore").click()
    page.wait_for_selector("#toast.shown:has-text('Restored')")
    with api(site) as client:
        assert client.get(f"/datasets/inbox/items/{target}").json()["state"] == "active"
