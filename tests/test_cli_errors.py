"""The ``tributary`` command on mistakes and failures: one line on stderr, honest exit codes.

Usage errors go through the installed entry point (a subprocess), as a user's shell runs
it: that is where Typer's and Click's own handling would print tracebacks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.test_cli import tributary
from tests.usecases.conftest import FakeAirflow
from tributary.airflow_rest import AirflowClient

# Each test starts processes of its own: out of the quick lane.
pytestmark = pytest.mark.slow

TRIBUTARY = Path(sys.executable).parent / "tributary"
USAGE, FAILURE = 2, 1


def installed(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``tributary ARGS`` in a subprocess."""
    return subprocess.run(
        [str(TRIBUTARY), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def sqlite_catalog(tmp_path, monkeypatch) -> str:
    """A catalog URL for subprocesses: SQLite, so that no Airflow import is needed."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    monkeypatch.setenv("TRIBUTARY_CATALOG_URL", url)
    return url


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        pytest.param([], USAGE, "error: missing command", id="no-arguments"),
        pytest.param(["dataset"], USAGE, "error: missing command", id="no-subcommand"),
        pytest.param(
            ["items"],
            USAGE,
            "error: missing argument 'dataset'; try: tributary items --help",
            id="missing-argument",
        ),
        pytest.param(
            ["sync", "demo", "--dryrun"],
            USAGE,
            "error: no such option --dryrun (did you mean --dry-run?); try: tributary sync --help",
            id="unknown-option",
        ),
        pytest.param(
            ["frobnicate"],
            USAGE,
            "error: no such command 'frobnicate'; try: tributary --help",
            id="unknown-command",
        ),
        pytest.param(
            ["dataset", "create", "x", "--quota", "lots"],
            USAGE,
            "error: invalid value for '--quota': 'lots' is not a whole number; "
            "try: tributary dataset create --help",
            id="text-for-an-option-number",
        ),
        pytest.param(
            ["dataset", "quota", "x", "abc"],
            USAGE,
            "'abc' is not a whole number; try: tributary dataset quota --help",
            id="text-for-an-argument-number",
        ),
        pytest.param(
            ["dataset", "quota", "x", "-1"],
            USAGE,
            "error: -1 is read as an option, and no option has that name: "
            "a number given here cannot be negative",
            id="negative-number",
        ),
        pytest.param(
            ["thumbnail", "demo", "/a.jpg", "-o", "/missing-dir/y.jpg"],
            USAGE,
            "error: invalid value for '--output': folder /missing-dir does not exist",
            id="output-in-a-missing-folder",
        ),
        pytest.param(
            ["items", "nope"],
            FAILURE,
            "error: no dataset named 'nope' (see: tributary dataset list)",
            id="unknown-dataset",
        ),
    ],
)
def test_a_mistake_is_one_line_on_stderr(sqlite_catalog, args, code, says):
    result = installed(*args)

    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert says in result.stderr


def test_no_arguments_shows_the_commands_on_stdout(sqlite_catalog):
    result = installed()

    assert "Usage: tributary" in result.stdout
    assert "dataset" in result.stdout and "driver" in result.stdout


@pytest.mark.parametrize("args", [["--help"], ["dataset", "--help"], ["sync", "--help"]])
def test_help_still_exits_0(args):
    result = installed(*args)

    assert result.returncode == 0
    assert result.stdout.startswith("\n Usage: tributary") or "Usage: tributary" in result.stdout
    assert result.stderr == ""


def test_a_file_that_cannot_be_written_is_one_line(sqlite_catalog, tmp_path, monkeypatch, capsys):
    """A write that fails after the checks (here: the output is a folder) names the file."""
    from tributary.usecases import thumbnails

    found = thumbnails.Thumbnail(".tributary/thumbnails/a.jpg", b"jpeg")
    monkeypatch.setattr(thumbnails, "fetch_thumbnail", lambda catalog, ds, path: found)

    args = ("thumbnail", "ds", "/a.jpg", "-o", str(tmp_path))
    code, _, err = tributary(capsys, monkeypatch, *args)

    assert code == FAILURE
    assert err == f"error: Is a directory: {tmp_path}\n"


def test_an_unexpected_error_is_one_line_and_its_traceback_comes_with_v(monkeypatch, capsys):
    from tributary.usecases import catalog

    monkeypatch.setattr(catalog, "open_catalog", lambda: 1 / 0)

    code, _, err = tributary(capsys, monkeypatch, "dataset", "list")
    assert code == FAILURE
    assert err == (
        "error: unexpected ZeroDivisionError: division by zero "
        "(run again with -v for the details)\n"
    )

    monkeypatch.setattr(sys, "argv", ["tributary", "-v", "dataset", "list"])
    with pytest.raises(SystemExit) as exited:
        from tributary import cli

        cli.main()
    assert exited.value.code == FAILURE
    assert "Traceback" in capsys.readouterr().err


# -- --wait: the exit code says how the run ended -------------------------------------------


@pytest.fixture
def fake_airflow(monkeypatch) -> FakeAirflow:
    """Every ``AirflowClient.from_env()`` of the CLI answers from this fake."""
    fake = FakeAirflow()
    monkeypatch.setattr(AirflowClient, "from_env", classmethod(lambda cls: fake))
    return fake


@pytest.fixture
def run(capsys, monkeypatch, catalog):
    return lambda *args: tributary(capsys, monkeypatch, *args)


def test_a_refused_initial_sync_with_wait_exits_1(run, fake_airflow):
    fake_airflow.final_state = "failed"  # e.g. the quota refused the sync

    code, out, err = run("dataset", "create", "ds", "--quota", "3", "--wait")

    assert code == FAILURE
    assert "run manual__1: failed" in out
    assert err == "error: tributary_initial_sync run manual__1 failed\n"


def test_a_refused_upstream_sync_with_wait_exits_1(run, fake_airflow):
    assert run("dataset", "create", "ds", "--no-sync")[0] == 0
    fake_airflow.final_state = "failed"  # e.g. the mass-delete guard refused it

    code, out, err = run("sync", "ds", "--wait")

    assert code == FAILURE
    assert "run manual__1: failed" in out
    assert len(err.splitlines()) == 1 and err.startswith("error: tributary_upstream_sync run")


def test_a_sync_refused_inside_a_green_run_exits_1(run, fake_airflow, catalog):
    """A run Airflow calls a success may hold a sync that was refused: still a failure."""
    from tributary.catalog import datasets, syncs

    assert run("dataset", "create", "ds", "--no-sync")[0] == 0
    with catalog.begin() as conn:
        dataset_id = datasets.get(conn, "ds").id
        sync_id = syncs.start(
            conn,
            dataset_id=dataset_id,
            kind="upstream",
            dag_id="tributary_upstream_sync",
            run_id="manual__1",  # the fake's first run id
        )
        syncs.fail(conn, sync_id, "this sync would mark 5 of 6 items as vanished")

    code, out, err = run("sync", "ds", "--wait")

    assert code == FAILURE
    assert "run manual__1: success" in out
    assert err == (
        f"error: tributary_upstream_sync run manual__1: sync #{sync_id} of 'ds' failed: "
        "this sync would mark 5 of 6 items as vanished\n"
    )


def test_a_successful_run_with_wait_exits_0(run, fake_airflow):
    code, out, err = run("dataset", "create", "ds", "--wait")

    assert (code, err) == (0, "")
    assert "run manual__1: success" in out


def test_a_failing_driver_check_exits_1(run, tmp_path):
    root = tmp_path / "bucket"
    root.mkdir()
    assert run("driver", "create", "d", "--provider", "local", "--bucket", str(root))[0] == 0
    shutil.rmtree(root)

    code, out, _ = run("driver", "check", "d")

    assert code == FAILURE
    assert "MISSING" in out


# -- dataset unlock ---------------------------------------------------------------------------


def _locked_dataset(catalog, run_id: str) -> int:
    from tributary.catalog import datasets, syncs

    with catalog.begin() as conn:
        ds = datasets.create(conn, name="ds")
        sync_id = syncs.start(
            conn, dataset_id=ds.id, kind="upstream", dag_id="tributary_upstream_sync", run_id=run_id
        )
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=sync_id)
    return sync_id


def test_unlock_is_refused_while_airflow_says_the_run_is_alive(run, fake_airflow, catalog):
    holder = _locked_dataset(catalog, "manual__9")
    fake_airflow.states["tributary_upstream_sync", "manual__9"] = "running"

    code, out, err = run("dataset", "unlock", "ds")

    assert code == FAILURE and out == ""
    assert err.startswith(f"error: dataset ds not unlocked: sync {holder} of this dataset")
    assert len(err.splitlines()) == 1

    fake_airflow.states["tributary_upstream_sync", "manual__9"] = "failed"
    code, out, err = run("dataset", "unlock", "ds")

    assert (code, err) == (0, "")
    assert out == f"dataset 'ds' unlocked: sync #{holder} closed as interrupted\n"
    assert run("dataset", "unlock", "ds")[1] == "dataset 'ds' was not locked\n"


# -- Airflow's login and address --------------------------------------------------------------


class _RefusingAirflow(BaseHTTPRequestHandler):
    """An Airflow API server that refuses every login, and records the logins tried."""

    logins: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).logins.append(json.loads(body))
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"detail": "Invalid credentials"}')

    def do_GET(self):
        self.send_response(401)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def refusing_airflow():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingAirflow)
    _RefusingAirflow.logins = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_wrong_airflow_password_says_the_login_was_refused(run, refusing_airflow, monkeypatch):
    port = refusing_airflow
    monkeypatch.setenv("TRIBUTARY_AIRFLOW_URL", f"http://admin:wr0ng-pa55@127.0.0.1:{port}")
    assert run("dataset", "create", "ds", "--no-sync")[0] == 0

    code, out, err = run("sync", "ds")

    assert code == FAILURE
    assert err == (
        f"error: tributary_upstream_sync not started: Airflow at http://127.0.0.1:{port} "
        "refused the login of user 'admin' (401): check TRIBUTARY_AIRFLOW_USER and "
        "TRIBUTARY_AIRFLOW_PASSWORD\n"
    )
    assert "does not know DAG" not in err
    # The login written into the URL is the one used, and it is never shown.
    assert _RefusingAirflow.logins == [{"username": "admin", "password": "wr0ng-pa55"}]
    assert "wr0ng-pa55" not in out + err


def test_credentials_in_the_airflow_url_are_never_echoed(sqlite_catalog):
    env = {"TRIBUTARY_AIRFLOW_URL": "http://admin:s3cret-pw@127.0.0.1:9"}
    assert installed("dataset", "create", "ds", "--no-sync", env=env).returncode == 0

    result = installed("sync", "ds", env=env)

    assert result.returncode == FAILURE
    assert "Airflow is not reachable at http://127.0.0.1:9 " in result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    assert "admin:" not in result.stdout + result.stderr
