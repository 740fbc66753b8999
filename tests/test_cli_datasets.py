"""The ``tributary`` commands that show, report on and delete datasets and drivers, run
in-process through the real entry point (issue 14, items 6-8)."""

from __future__ import annotations

import io
import json

import pytest

from tests.sync.upstream_steps import upstream_sync
from tests.test_cli import json_lines, tributary
from tributary.catalog.schema import items
from tributary.usecases.airflow_runs import TriggeredRun


@pytest.fixture
def run(capsys, monkeypatch, catalog):
    return lambda *args: tributary(capsys, monkeypatch, *args)


@pytest.fixture
def synced(run, tmp_path, catalog):
    """Dataset ``ds`` on driver ``d`` (a local folder of 3 files), synced once."""
    from tributary.usecases.catalog import open_catalog

    root = tmp_path / "bucket"
    root.mkdir()
    for i in range(3):
        (root / f"{i}.jpg").write_bytes(b"x" * (i + 1))
    assert run("driver", "create", "d", "--provider", "local", "--bucket", str(root))[0] == 0
    assert run("dataset", "create", "ds", "--driver", "d", "--no-sync")[0] == 0
    upstream_sync(open_catalog(), "ds")
    return root


@pytest.fixture
def terminal(monkeypatch):
    """Stdout is a terminal: plain listings get their header row."""
    monkeypatch.setattr("tributary.cli.tables.stdout_is_terminal", lambda: True)


@pytest.fixture
def airflow_runs_here(monkeypatch, catalog):
    """Airflow stand-in: a triggered upstream sync runs in-process, a wait succeeds."""
    from tributary.usecases.catalog import open_catalog

    def trigger(dag_id, conf, *, client=None):
        if dag_id == "tributary_upstream_sync":
            upstream_sync(open_catalog(), conf["dataset"], dry_run=conf["dry_run"], run_id="r1")
        return TriggeredRun("test", "r1", conf["dataset"], "http://airflow.test")

    for module in ("tributary.usecases.syncs", "tributary.usecases.preprocessing"):
        monkeypatch.setattr(f"{module}.trigger_dag", trigger)
    monkeypatch.setattr("tributary.usecases.airflow_runs.wait_for_run", lambda run: "success")


# -- item 6: quota traps ------------------------------------------------------------------


def test_quota_without_a_number_shows_it_and_removes_nothing(run, synced):
    assert run("dataset", "quota", "ds", "5") == (
        0,
        "dataset 'ds': quota 5 data points, 3 used, 2 available\n",
        "",
    )

    code, out, _ = run("dataset", "quota", "ds")

    assert code == 0 and out == "dataset 'ds': quota 5 data points, 3 used, 2 available\n"
    (shown,) = json_lines(run("dataset", "quota", "ds", "--json")[1])
    assert shown == {"name": "ds", "limit": 5, "used": 3, "available": 2}
    assert (
        run("dataset", "quota", "ds", "--none")[1]
        == "dataset 'ds': no quota (3 data points used)\n"
    )
    assert json_lines(run("dataset", "list", "--json")[1])[0]["quota"] is None
    assert run("dataset", "quota", "catalog")[1] == "the catalog: no quota (3 data points used)\n"
    code, _, err = run("dataset", "quota", "ds", "4", "--none")
    assert code == 2 and "give a quota or --none, not both" in err


def test_the_list_shows_active_items_and_ghosts_apart(run, synced, terminal):
    from tributary.usecases.catalog import open_catalog

    (synced / "0.jpg").unlink()
    upstream_sync(open_catalog(), "ds", allow_mass_delete=True)

    out = run("dataset", "list")[1]

    head, line = out.splitlines()
    assert head.split() == ["NAME", "STORAGE", "ACTIVE", "GHOSTS", "QUOTA"]
    assert line.split()[0] == "ds" and line.split()[2:] == ["2", "1", "-"]
    (listed,) = json_lines(run("dataset", "list", "--json")[1])
    assert listed["items"] == {"active": 2, "ghost": 1}


def test_a_quota_refusal_says_how_to_raise_it_and_run_again(run, tmp_path):
    from tributary.catalog import syncs as sync_queries
    from tributary.errors import QuotaExceeded
    from tributary.sync import initial, listing
    from tributary.usecases.catalog import open_catalog

    root = tmp_path / "bucket"
    root.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (root / name).write_bytes(name.encode())
    assert run("driver", "create", "d", "--provider", "local", "--bucket", str(root))[0] == 0
    assert run("dataset", "create", "ds", "--driver", "d", "--quota", "2", "--no-sync")[0] == 0
    # The initial sync's steps, closed as its failure callback closes it.
    catalog = open_catalog()
    sync_id = listing.start(catalog, dataset_name="ds", kind="initial", dag_id="i", run_id="r")
    for pointer in listing.plan(catalog, sync_id):
        listing.list_partition(catalog, sync_id, pointer["index"])
    with pytest.raises(QuotaExceeded) as refused:
        initial.check_quota(catalog, sync_id)
    with catalog.begin() as conn:
        sync_queries.fail(conn, sync_id, str(refused.value))

    code, out, _ = run("runs", "ds")

    assert code == 0
    assert "Raise the quota of dataset 'ds' to at least 3 (or remove it)" in out
    assert "hint: raise the quota: tributary dataset quota ds 3 (or --none), then: " in out
    assert out.rstrip().endswith("tributary sync ds")


# -- item 7: reports -----------------------------------------------------------------------


def test_a_dry_run_reports_its_plan_with_item_paths(run, synced, airflow_runs_here):
    from tributary.usecases.catalog import open_catalog

    (synced / "1.jpg").rename(synced / "one.jpg")
    (synced / "0.jpg").unlink()
    run("dataset", "set", "ds", "--mass-delete-threshold", "1")

    code, out, _ = run("sync", "ds", "--dry-run", "--wait")

    assert code == 0
    summary = next(line for line in out.splitlines() if line.startswith("#"))
    assert "dry-run" in summary
    assert "planned: new=0 changed=0 renamed=1 ghosted=1 revived=0 started=" in summary
    assert "renamed: /1.jpg -> /one.jpg" in out and "vanished: /0.jpg" in out
    assert "planned: new=0 changed=0 renamed=1" in run("runs", "ds")[1]
    assert len(list(open_catalog().engine.connect().execute(items.select()))) == 3


def test_plain_items_show_mimetype_and_preprocessing_with_a_header(run, synced, terminal):
    from tributary.usecases.catalog import open_catalog

    with open_catalog().begin() as conn:
        conn.execute(
            items.update()
            .where(items.c.path == "/1.jpg")
            .values(preprocess_state="failed", preprocess_error="truncated file")
        )

    lines = run("items", "ds")[1].splitlines()

    assert lines[0].split() == ["ID", "STATE", "PREPROCESS", "MIMETYPE", "SIZE", "PATH"]
    assert lines[1].split()[1:] == ["active", "pending", "image/jpeg", "1", "/0.jpg"]
    assert lines[2].split()[1:] == ["active", "failed", "image/jpeg", "2", "/1.jpg"]
    code, out, _ = run("items", "ds", "--preprocess-state", "failed", "--json")
    assert [r["path"] for r in json_lines(out)] == ["/1.jpg"]
    code, out, err = run("items", "ds", "--state", "ghost")
    assert (code, out) == (0, "") and err == "no items (ghost) in dataset 'ds'\n"


def test_piped_items_are_rows_only(run, synced):
    """No header when stdout is not a terminal: ``| wc -l`` counts items."""
    rows = [line.split()[1:] for line in run("items", "ds")[1].splitlines()]

    assert rows == [["active", "pending", "image/jpeg", str(n + 1), f"/{n}.jpg"] for n in range(3)]


def test_preprocess_wait_names_the_failed_items(run, synced, airflow_runs_here):
    from tributary.usecases.catalog import open_catalog

    with open_catalog().begin() as conn:
        conn.execute(
            items.update()
            .where(items.c.path != "/0.jpg")
            .values(preprocess_state="failed", preprocess_error="truncated file")
        )

    code, out, _ = run("preprocess", "ds", "--wait")

    assert code == 0
    assert "follow it with: tributary dataset show ds" in out and "tributary runs" not in out
    assert "1 pending, 0 done, 2 failed" in out
    assert "failed: /1.jpg: truncated file" in out and "failed: /2.jpg: truncated file" in out
    assert "list them all: tributary items ds --preprocess-state failed" in out


def test_runs_of_a_dataset_without_any_says_so(run, terminal):
    assert run("dataset", "create", "ds", "--no-sync")[0] == 0

    code, out, err = run("runs", "ds")

    assert (code, out) == (0, "")
    assert err == "no sync runs of dataset 'ds' yet (start one: tributary sync ds)\n"
    assert run("runs", "ds", "--json")[:2] == (0, "")


def test_listings_have_a_header_on_a_terminal(run, synced, terminal):
    assert run("driver", "list")[1].split()[:4] == ["NAME", "LOCATION", "CONN", "CHECK"]
    assert run("runs", "ds")[1].split()[:5] == ["RUN", "KIND", "STATUS", "PROGRESS", "COUNTS"]


# -- item 8: missing verbs -----------------------------------------------------------------


def test_dataset_show(run, synced):
    code, out, _ = run("dataset", "show", "ds")

    assert code == 0
    assert "driver:         d" in out and "items:          3 active, 0 ghost" in out
    assert "quota:          none (used 3, available -)" in out
    assert "preprocessing:  3 pending, 0 done, 0 failed" in out
    assert "nightly sync:   off, tombstones kept 7 days, mass-delete threshold 10%" in out
    assert "upstream succeeded" in out.split("last runs:")[1]
    (shown,) = json_lines(run("dataset", "show", "ds", "--json")[1])
    assert shown["items"] == {"active": 3, "ghost": 0}
    assert shown["last_runs"][0]["counts"]["new"] == 3
    json.dumps(shown)  # plain JSON types only
    assert run("dataset", "show", "nope")[0] == 1


def test_dataset_delete_asks_unless_yes_and_never_touches_the_files(run, synced, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    code, _, err = run("dataset", "delete", "ds")
    assert code == 2 and "add --yes" in err
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    code, _, err = run("dataset", "delete", "ds")
    assert code != 0 and "Delete dataset 'ds' (3 items, 0 ghosts)" in err
    assert json_lines(run("dataset", "list", "--json")[1])[0]["name"] == "ds"

    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    code, out, _ = run("dataset", "delete", "ds")

    # (click answers a prompt on stdout with one space; a terminal shows it after the prompt)
    assert code == 0 and out.strip() == "dataset 'ds' deleted: 3 items, 1 sync runs, 0 thumbnails"
    assert sorted(p.name for p in synced.iterdir() if p.is_file()) == ["0.jpg", "1.jpg", "2.jpg"]
    assert run("dataset", "list")[1] == ""
    assert run("dataset", "delete", "ds", "--yes")[0] == 1


def test_driver_delete_is_refused_while_a_dataset_uses_it(run, synced):
    code, _, err = run("driver", "delete", "d")
    assert (
        code == 1
        and err == "error: driver 'd' not deleted: dataset 'ds' uses it; delete it first\n"
    )

    assert run("dataset", "delete", "ds", "--yes")[0] == 0
    assert run("driver", "delete", "d")[:2] == (0, "driver 'd' deleted\n")
    assert run("driver", "list", "--json")[1] == ""


def test_dataset_delete_is_refused_while_a_sync_runs(run, synced):
    from tributary.sync import listing
    from tributary.usecases.catalog import open_catalog

    listing.start(open_catalog(), dataset_name="ds", kind="upstream", dag_id="d", run_id="live")

    code, _, err = run("dataset", "delete", "ds", "--yes")

    assert code == 1
    assert "dataset 'ds' not deleted: sync 2 of this dataset (upstream, Airflow run live)" in err
    assert "(if it is stuck: tributary dataset unlock ds)" in err
