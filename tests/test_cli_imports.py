"""``tributary import``, ``imports`` and ``import-report``, run in-process through the real
entry point; the DAG run itself through ``dag.test()`` (no Airflow server in these tests)."""

from __future__ import annotations

import pytest

from tests.dags.runner import run_dag
from tests.test_cli import json_lines, tributary


@pytest.fixture
def run(capsys, monkeypatch, catalog, tmp_path):
    monkeypatch.setenv("TRIBUTARY_STORAGE_ROOT", str(tmp_path / "internal"))
    return lambda *args: tributary(capsys, monkeypatch, *args)


def test_import_stores_the_csv_then_lists_and_reports_it(run, airflow_db, tmp_path):
    csv_file = tmp_path / "lot 7.csv"
    csv_file.write_text(
        "ID,URL,item_metadata\n"
        "a.jpg,https://example.com/a.jpg?sig=s3cret,\n"
        "b.jpg,ftp://example.com/b.jpg,\n"
        '=c.jpg,https://example.com/c.jpg,"[1]"\n'
    )
    assert run("dataset", "create", "notes")[0] == 1  # created; Airflow not reachable

    code, out, err = run("import", "notes", str(csv_file))

    assert code == 1 and "import 1 of 'notes' stored: lot 7.csv → /lot 7/" in out
    assert "Airflow is not reachable" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run("imports", "notes", "--json")
    assert code == 0 and json_lines(out)[0]["status"] == "pending"

    assert run_dag("tributary_csv_ingest", {"dataset": "notes", "import_id": 1}).state == "success"

    code, out, _ = run("imports", "notes")
    assert code == 0 and "succeeded" in out and "lot 7.csv → /lot 7/" in out
    (record,) = json_lines(run("imports", "notes", "--json")[1])
    assert (record["rows"], record["created"], record["failed"]) == (3, 1, 2)
    code, out, _ = run("import-report", "notes", "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "line,ID,reason" and lines[1].startswith("3,b.jpg,")
    assert lines[2].startswith("4,'=c.jpg,")
    code, _, _ = run("import-report", "notes", "1", "-o", str(tmp_path / "errors.csv"))
    assert code == 0 and (tmp_path / "errors.csv").read_text().splitlines() == lines


def test_unknown_imports_are_one_line(run):
    assert run("dataset", "create", "notes")[0] == 1

    code, _, err = run("import-report", "notes", "9")

    assert code == 1 and err.strip() == "error: no import 9 in this dataset"
    code, out, err = run("imports", "notes")
    assert code == 0 and out == "" and "no imports into 'notes' yet" in err


def test_link_adds_a_linked_item_and_shows_the_url_redacted(run, tmp_path):
    assert run("dataset", "create", "notes")[0] == 1
    url = "https://example.com/cam/a.jpg?X-Amz-Signature=s3cret"

    code, out, _ = run("link", "notes", url, "--to", "/cams/")

    assert code == 0 and out.startswith("created: /cams/a.jpg.json → https://example.com/cam/")
    assert "s3cret" not in out and "(image/jpeg)" in out
    code, out, _ = run("link", "notes", url, "--to", "/cams/", "--json")
    assert code == 0 and json_lines(out)[0]["status"] == "skipped"
    code, _, err = run("link", "notes", "ftp://example.com/a.jpg")
    assert code == 1 and len(err.strip().splitlines()) == 1
