"""The ``tributary`` command, run in-process through its real entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.dags.runner import run_dag
from tributary import cli
from tributary.errors import MassDeleteRefused


def tributary(capsys, monkeypatch, *args):
    """Run ``tributary ARGS``; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["tributary", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def run(capsys, monkeypatch, catalog):
    return lambda *args: tributary(capsys, monkeypatch, *args)


def test_driver_lifecycle_on_a_local_folder(run, tmp_path):
    (tmp_path / "imgs").mkdir()
    code, out, _ = run(
        "driver", "create", "cam", "--provider", "local", "--bucket", str(tmp_path / "imgs")
    )
    assert code == 0
    assert "put     ok" in out
    assert "driver 'cam' created" in out

    code, out, _ = run("driver", "list", "--json")
    (driver,) = json_lines(out)
    assert (driver["name"], driver["provider"], driver["check_ok"]) == ("cam", "local", True)
    assert driver["allow_delete"] is False and driver["storage_class"] == "standard"

    code, out, _ = run("driver", "check", "cam", "--json")
    assert code == 0
    assert json_lines(out)[0]["permissions"]["get"]["ok"] is True


def test_a_driver_failing_its_probe_is_not_kept(run, tmp_path):
    code, out, err = run(
        "driver", "create", "bad", "--provider", "local", "--bucket", str(tmp_path / "nope")
    )

    assert code == 1
    assert "does not exist" in out
    missing = f"local folder {tmp_path / 'nope'} does not exist"
    assert err.strip() == f"error: driver 'bad' not created: {missing}"
    assert run("driver", "list", "--json")[1] == ""


def test_a_single_file_is_not_a_folder_path(run, tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "one.jpg").write_bytes(b"x")

    code, _, err = run(
        "driver",
        "create",
        "f",
        "--provider",
        "local",
        "--bucket",
        str(tmp_path / "b"),
        "--path",
        "one.jpg",
    )

    assert code == 1
    assert "is a single file" in err


def test_s3_driver_with_allow_delete(run, moto):
    from tests.buckets import s3_client

    s3_client(moto).create_bucket(Bucket="cli-bucket")
    code, out, _ = run(
        "driver", "create", "s3d", "--provider", "s3", "--bucket", "cli-bucket",
        "--conn-id", "test_s3", "--path", "raw/", "--allow-delete", "--json",
    )  # fmt: skip

    assert code == 0
    (record,) = json_lines(out)
    assert record["check"]["permissions"]["delete"] == {
        "ok": True,
        "required": True,
        "message": record["check"]["permissions"]["delete"]["message"],
    }
    assert record["path"] == "raw/"
    assert "testing" not in out


def test_dataset_create_says_when_airflow_is_not_running(run, tmp_path):
    code, out, err = run("dataset", "create", "photos")

    assert code == 1
    assert "dataset 'photos' created" in out
    assert "Airflow is not reachable at http://127.0.0.1:9" in err
    assert "tributary sync photos" in err
    code, out, _ = run("dataset", "list", "--json")
    assert json_lines(out)[0]["name"] == "photos"


def test_items_and_runs_after_a_sync(run, airflow_db, tmp_path):
    root = tmp_path / "bucket"
    (root / "sub dir").mkdir(parents=True)
    (root / "sub dir" / "é.jpg").write_bytes(b"jpeg bytes")
    (root / "top.png").write_bytes(b"png")
    assert run("driver", "create", "d", "--provider", "local", "--bucket", str(root))[0] == 0
    assert run("dataset", "create", "ds", "--driver", "d", "--quota", "5", "--no-sync")[0] == 0
    assert run_dag("tributary_initial_sync", {"dataset": "ds"}).state == "success"

    code, out, _ = run("items", "ds", "--json")
    records = json_lines(out)
    assert code == 0
    assert [r["path"] for r in records] == ["/sub dir/é.jpg", "/top.png"]
    first = records[0]
    assert {"id", "path", "state", "size", "etag", "mimetype", "metadata"} <= set(first)
    assert (first["state"], first["size"], first["mimetype"]) == ("active", 10, "image/jpeg")
    assert run("items", "ds", "--state", "ghost", "--json")[1] == ""

    code, out, _ = run("runs", "ds", "--json")
    (sync_run,) = json_lines(out)
    assert (sync_run["status"], sync_run["items_new"], sync_run["objects_listed"]) == (
        "succeeded",
        2,
        2,
    )
    code, out, _ = run("runs", "ds")
    assert "succeeded" in out and "new=2" in out

    code, out, _ = run("dataset", "list")
    assert out.split()[0] == "ds" and out.split()[2:] == ["2", "0", "5"]


def test_ghosts_and_run_counts_after_an_upstream_sync(run, airflow_db, tmp_path):
    root = tmp_path / "bucket"
    root.mkdir()
    for i in range(4):
        (root / f"{i}.jpg").write_bytes(b"x" * (i + 1))
    assert run("driver", "create", "d", "--provider", "local", "--bucket", str(root))[0] == 0
    assert run("dataset", "create", "ds", "--driver", "d", "--no-sync")[0] == 0
    code, out, _ = run("dataset", "set", "ds", "--mass-delete-threshold", "0.5", "--sync")
    assert code == 0 and "nightly sync on" in out and "threshold 50%" in out
    conf = {"dataset": "ds"}
    assert run_dag("tributary_upstream_sync", conf).state == "success"
    (root / "0.jpg").unlink()
    (root / "1.jpg").rename(root / "one.jpg")
    assert run_dag("tributary_upstream_sync", conf).state == "success"

    code, out, _ = run("items", "ds", "--state", "ghost", "--json")
    assert [r["path"] for r in json_lines(out)] == ["/0.jpg"]
    code, out, _ = run("runs", "ds")
    newest = out.splitlines()[0]
    assert "upstream" in newest and "ghosted=1" in newest and "renamed=1" in newest
    code, _, err = run("dataset", "set", "ds", "--mass-delete-threshold", "2")
    assert code == 1 and "from 0 to 1" in err


def test_unknown_dataset_is_one_line(run):
    code, _, err = run("items", "nope")
    assert code == 1
    assert err == "error: no dataset named 'nope' (see: tributary dataset list)\n"


def test_items_json_and_thumbnail_after_preprocessing(run, airflow_db, tmp_path):
    from tests.preprocess import corpus

    root = tmp_path / "bucket"
    root.mkdir()
    (root / "photo.jpg").write_bytes(corpus.jpeg_with_orientation(6))
    (root / "broken.jpg").write_bytes(corpus.truncated_jpeg())
    assert run("driver", "create", "d", "--provider", "local", "--bucket", str(root))[0] == 0
    assert run("dataset", "create", "ds", "--driver", "d", "--no-sync")[0] == 0
    assert run_dag("tributary_initial_sync", {"dataset": "ds"}).state == "success"
    code, _, err = run("thumbnail", "ds", "/photo.jpg", "-o", str(tmp_path / "t.jpg"))
    assert code == 1 and "not preprocessed yet" in err
    assert run_dag("tributary_preprocess", {"dataset": "ds", "force": False}).state == "success"

    records = {r["path"]: r for r in json_lines(run("items", "ds", "--json")[1])}
    photo = records["/photo.jpg"]
    assert photo["preprocess_state"] == "done"
    assert photo["thumbnail"].startswith(".tributary/thumbnails/")
    assert photo["metadata"]["system"]["dimensions"] == {"width": 120, "height": 80}
    assert records["/broken.jpg"]["preprocess_error"].startswith("truncated file")

    code, _, err = run("thumbnail", "ds", "photo.jpg", "-o", str(tmp_path / "t.jpg"))
    assert code == 0 and (tmp_path / "t.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    code, _, err = run("thumbnail", "ds", "/broken.jpg", "-o", str(tmp_path / "b.jpg"))
    assert code == 1 and "preprocessing failed: truncated file" in err


def test_a_lane_must_be_defined(run, tmp_path, monkeypatch):
    assert run("dataset", "create", "ds", "--no-sync")[0] == 0
    code, _, err = run("dataset", "set", "ds", "--lane", "acme")
    assert code == 1 and "lane 'acme' is not defined" in err and "TRIBUTARY_LANES" in err
    monkeypatch.setenv("TRIBUTARY_LANES", '{"acme": {"pool": "p", "queue": "q"}}')
    code, out, _ = run("dataset", "set", "ds", "--lane", "acme")
    assert code == 0 and "lane acme" in out
    assert json_lines(run("dataset", "list", "--json")[1])[0]["lane"] == "acme"
    assert "lane shared" in run("dataset", "set", "ds", "--lane", "")[1]


def test_unknown_driver_points_to_the_list(run):
    code, _, err = run("driver", "check", "nope")
    assert code == 1
    assert err == "error: no driver named 'nope' (see: tributary driver list)\n"


def test_a_refused_sync_shows_the_command_that_allows_it(run, tmp_path):
    from tests.sync.upstream_steps import upstream_sync
    from tributary.usecases.catalog import open_catalog

    root = tmp_path / "bucket"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"a")
    assert run("driver", "create", "d", "--provider", "local", "--bucket", str(root))[0] == 0
    assert run("dataset", "create", "ds", "--driver", "d", "--no-sync")[0] == 0
    upstream_sync(open_catalog(), "ds")
    (root / "a.jpg").unlink()
    with pytest.raises(MassDeleteRefused):
        upstream_sync(open_catalog(), "ds")

    code, out, _ = run("runs", "ds")

    assert code == 0
    refused = out.split("\n#")[0]
    assert "error: this sync would mark 1 of 1 items" in refused
    assert "hint: if the files really are gone: tributary sync ds --allow-mass-delete" in refused


def test_the_cli_loads_neither_the_catalog_nor_airflow_to_start():
    code = (
        "import sys, tributary.cli\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'sqlalchemy'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
