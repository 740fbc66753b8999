"""The platform commands (upload, meta, delete, restore, move, clone) without a server:
what they import, usage errors, an unreachable API, the progress bar. Against a real API
server: ``tests/e2e/test_cli_platform_api.py``."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tributary.cli import uploads
from tributary.client import UploadEvent, UploadResult

TRIBUTARY = Path(sys.executable).parent / "tributary"
SECRET = "pw-never-shown"  # noqa: S105 - a fake login, to look for in messages
USAGE, FAILURE = 2, 1

# Until the REST API (branch api) is merged here, the tests against it cannot run.


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def installed(*args: str, url: str | None = None) -> subprocess.CompletedProcess:
    """The installed ``tributary ARGS``, pointed at ``url`` (default: nothing listens)."""
    env = {**os.environ, "TRIBUTARY_AIRFLOW_URL": url or f"http://127.0.0.1:{closed_port()}"}
    return subprocess.run(
        [str(TRIBUTARY), *args], capture_output=True, text=True, timeout=120, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_platform_commands_start_without_airflow_or_the_catalog(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    code = (
        "import sys; from tributary.cli import run; "
        f"code = run(['upload', 'ds', {str(tmp_path)!r}]); "
        "loaded = [m for m in ('airflow', 'sqlalchemy', 'tributary.catalog', 'tributary.usecases',"
        " 'httpx._main') if sys.modules.get(m) is not None]; "
        "print(code, loaded)"
    )
    env = {**os.environ, "TRIBUTARY_AIRFLOW_URL": f"http://127.0.0.1:{closed_port()}"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.stdout.strip() == "1 []", result.stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["upload", "ds", "{file}"], id="upload"),
        pytest.param(["meta", "ds", "/a.jpg", "k=v"], id="meta"),
        pytest.param(["meta", "ds", "--file", "{bulk}"], id="meta-bulk"),
        pytest.param(["delete", "ds", "/a.jpg", "--yes"], id="delete"),
        pytest.param(["restore", "ds", "/a.jpg"], id="restore"),
        pytest.param(["move", "ds", "/a.jpg", "/b.jpg"], id="move"),
        pytest.param(["clone", "ds", "ds2", "--json"], id="clone"),
    ],
)
def test_no_api_server_is_one_line_without_the_password(tmp_path, args):
    (tmp_path / "a.jpg").write_bytes(b"a")
    (tmp_path / "bulk.jsonl").write_text('{"path": "/a.jpg", "metadata": {}}\n')
    args = [a.format(file=tmp_path / "a.jpg", bulk=tmp_path / "bulk.jsonl") for a in args]
    port = closed_port()
    result = installed(*args, url=f"http://admin:{SECRET}@127.0.0.1:{port}")
    assert result.returncode == FAILURE
    assert result.stderr.startswith(
        f"error: Tributary's API is not reachable at http://127.0.0.1:{port} (ConnectError)"
    )
    assert result.stderr.count("\n") == 1
    assert SECRET not in result.stdout + result.stderr
    assert result.stdout == ""  # --json prints nothing that would not parse


USAGE_ERRORS = {
    "bad-json": ("upload ds {dir} --metadata {nope", "'--metadata': not JSON"),
    "not-object": ("upload ds {dir} --metadata [1]", "a JSON object"),
    "bad-to": ("upload ds {dir} --to /a/../b", "'--to'"),
    "jobs-0": ("upload ds {dir} --jobs 0", "--jobs"),
    "no-paths": ("upload ds", "missing argument"),
    "meta-nothing": ("meta ds /a.jpg", "nothing to change"),
    "meta-pair": ("meta ds /a.jpg novalue", "'novalue' is not key=value"),
    "meta-no-path": ("meta ds", "missing the item's path"),
    "meta-both": ("meta ds /a.jpg --file x.jsonl", "--file takes no"),
    "bulk-kind": ("meta ds --file {dir}/x.txt", "give a .jsonl or .csv"),
    "move-no-target": ("move ds /a.jpg", "missing argument"),
    "delete-no-terminal": ("delete ds /a.jpg", "no terminal to confirm"),
}


@pytest.mark.parametrize(
    ("args", "says"), [pytest.param(*case, id=name) for name, case in USAGE_ERRORS.items()]
)
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, says):
    result = installed(*args.replace("{dir}", str(tmp_path)).split())
    assert result.returncode == USAGE, result.stderr
    assert result.stderr.startswith("error: ")
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_local_path_is_named(tmp_path):
    result = installed("upload", "ds", str(tmp_path / "nope.jpg"))
    assert result.returncode == FAILURE
    assert result.stderr == f"error: No such file or folder: {tmp_path / 'nope.jpg'}\n"


# -- the progress bar ----------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _finish(shown, path, status, size, error=None):
    shown.event(UploadEvent(path, nbytes=size))
    shown.event(
        UploadEvent(path, result=UploadResult(f"/l{path}", path, status, size, error=error))
    )


def test_the_bar_on_a_terminal_counts_files_bytes_and_says_each_failure(monkeypatch, capsys):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    shown = uploads._Progress(3, 3000, json_out=False)
    _finish(shown, "/a", "created", 1000)
    _finish(shown, "/b", "conflict", 1000, error="a different file is at /b")
    _finish(shown, "/c", "skipped", 1000)
    shown.finish()
    drawn = terminal.getvalue()
    assert "3/3 files" in drawn and "3.0 KB/3.0 KB" in drawn and "/s" in drawn
    assert "error: /l/b -> /b: conflict: a different file is at /b\n" in drawn
    assert capsys.readouterr().out == ""


def test_no_bar_when_stderr_is_piped_and_json_lines_on_stdout(monkeypatch, capsys):
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    shown = uploads._Progress(2, 2000, json_out=True)
    _finish(shown, "/a", "created", 1000)
    _finish(shown, "/b", "error", 1000, error="quota exceeded")
    shown.finish()
    assert piped.getvalue() == "error: /l/b -> /b: failed: quota exceeded\n"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["path"], r["status"]) for r in lines] == [("/a", "created"), ("/b", "error")]
    assert lines[1]["error"] == "quota exceeded"


# -- against the real API on a real HTTP server (tests/live_api.py) ------------------------


@pytest.fixture
def live(live_api_server, tmp_path, monkeypatch):
    from tributary.catalog import Catalog

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    monkeypatch.setenv("TRIBUTARY_CATALOG_URL", url)
    live_api_server.use(Catalog(url))
    return live_api_server


@pytest.fixture
def photos(live, tmp_path):
    """Dataset ``photos`` on a local driver over three files, synced."""
    from tests.sync.upstream_steps import upstream_sync
    from tributary.usecases.datasets import create_dataset
    from tributary.usecases.drivers import create_driver

    bucket = tmp_path / "bucket"
    for key in ("cam1/a.jpg", "cam1/b.jpg", "e.txt"):
        (bucket / key).parent.mkdir(parents=True, exist_ok=True)
        (bucket / key).write_bytes(key.encode())
    create_driver(live.catalog, name="local", provider="local", bucket=str(bucket))
    create_dataset(live.catalog, name="photos", driver="local", start_sync=False)
    upstream_sync(live.catalog, "photos")
    return "photos"


def against(live, *args: str, user: str = "admin") -> subprocess.CompletedProcess:
    """The installed ``tributary ARGS`` against the live server, as ``user``."""
    env = {**os.environ, **live.env(user)}
    return subprocess.run(
        [str(TRIBUTARY), *args], capture_output=True, text=True, timeout=120, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_cli_delete_says_what_becomes_of_the_file_and_restore_brings_it_back(live, photos):
    deleted = against(live, "delete", photos, "/e.txt", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted /e.txt" in deleted.stdout
    assert "its file stays in the bucket (the driver does not allow deletes)" in deleted.stdout
    assert "undo with: tributary restore photos /e.txt" in deleted.stdout

    again = against(live, "delete", photos, "/e.txt", "--yes")
    assert (again.returncode, again.stdout) == (0, "/e.txt is already deleted from 'photos'\n")

    restored = against(live, "restore", photos, "e.txt", "--json")
    assert restored.returncode == 0, restored.stderr
    record = json.loads(restored.stdout)
    assert (record["path"], record["state"]) == ("/e.txt", "active")


def test_cli_move_of_an_external_item_is_refused_in_one_line(live, photos):
    moved = against(live, "move", photos, "/cam1/a.jpg", "/cam2/a.jpg")
    assert moved.returncode == FAILURE
    assert moved.stderr.startswith("error: ") and moved.stderr.count("\n") == 1
    assert moved.stdout == ""


def test_cli_clone_and_json(live, photos):
    cloned = against(live, "clone", photos, "photos-copy", "--driver", "local", "--json")
    assert cloned.returncode == 0, cloned.stderr
    assert json.loads(cloned.stdout)["name"] == "photos-copy"
    taken = against(live, "clone", photos, "photos-copy", "--driver", "local")
    assert taken.returncode == FAILURE and taken.stderr.count("\n") == 1


def test_cli_a_viewer_is_refused_in_one_line(live, photos):
    refused = against(live, "delete", photos, "/e.txt", "--yes", user="viewer")
    assert refused.returncode == FAILURE
    assert refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1
    assert "viewer-pw" not in refused.stderr


@pytest.fixture
def inbox(live):
    from tributary.client import Client

    with Client(live.url, user="admin", password="admin-pw") as api:  # noqa: S106
        api.create_dataset("inbox", sync=False)
    return "inbox"


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = tmp_path / "shots"
    (folder / "cam1").mkdir(parents=True)
    for n in range(5):
        (folder / "cam1" / f"{n}.jpg").write_bytes(os.urandom(2000 + n))
    (folder / "notes.txt").write_text("night shift")
    return folder


def test_cli_upload_twice_skips_all_and_a_conflict_is_one_line(live, inbox, shots):
    first = against(live, "upload", inbox, str(shots), "--to", "/in/", "--json")
    assert first.returncode == 0, first.stderr
    results = [json.loads(line) for line in first.stdout.splitlines()]
    assert sorted(r["path"] for r in results) == [
        *(f"/in/shots/cam1/{n}.jpg" for n in range(5)),
        "/in/shots/notes.txt",
    ]
    assert {r["status"] for r in results} == {"created"}
    assert all(r["item"]["id"] for r in results)
    # Piped: no bar, no terminal codes; the summary on stderr (stdout is the JSON).
    assert "\r" not in first.stderr and "\033" not in first.stderr
    assert first.stderr.startswith("6 files (6 created), 10.0 KB sent in ")

    again = against(live, "upload", inbox, str(shots), "--to", "/in/")
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout.startswith("6 files (6 skipped), 0 B sent in ")

    (shots / "notes.txt").write_text("day shift")
    conflict = against(live, "upload", inbox, str(shots), "--to", "/in/")
    assert conflict.returncode == FAILURE
    (line,) = conflict.stderr.splitlines()
    assert line.startswith(f"error: {shots / 'notes.txt'} -> /in/shots/notes.txt: conflict: ")
    assert conflict.stdout.startswith("6 files (5 skipped, 1 conflict)")

    replaced = against(
        live, "upload", inbox, str(shots / "notes.txt"), "--to", "/in/shots", "--overwrite",
        "--metadata", '{"shift": "day"}', "--json",
    )  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    (result,) = [json.loads(line) for line in replaced.stdout.splitlines()]
    assert result["status"] == "replaced"
    assert result["item"]["metadata"]["user"] == {"shift": "day"}


def test_cli_upload_draws_a_bar_on_a_terminal(live, inbox, shots):
    import pty

    controller, terminal = pty.openpty()
    env = {**os.environ, **live.env()}
    process = subprocess.Popen(
        [str(TRIBUTARY), "upload", inbox, str(shots)], stdout=subprocess.PIPE,
        stderr=terminal, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the command closed the terminal: it has ended
            break
        if not chunk:
            break
        drawn += chunk
    out, _ = process.communicate(timeout=60)
    os.close(controller)
    assert process.returncode == 0
    bar = drawn.decode()
    assert "6/6 files" in bar and "10.0 KB/10.0 KB" in bar and "/s" in bar
    assert bar.count("\r") >= 1 and bar.rstrip().endswith("s")
    assert out.decode().startswith("6 files (6 created)")


def test_cli_meta_set_remove_and_bulk(live, inbox, tmp_path):
    (tmp_path / "gate.jpg").write_bytes(b"gate")
    assert against(live, "upload", inbox, str(tmp_path / "gate.jpg")).returncode == 0

    set_meta = against(
        live, "meta", inbox, "gate.jpg", "camera=7", "area=north", 'lot="0042"',
        "--description", "night",
    )  # fmt: skip
    assert set_meta.returncode == 0, set_meta.stderr
    assert set_meta.stdout == (
        '/gate.jpg: {"area": "north", "camera": 7, "lot": "0042"}\n  description: night\n'
    )
    removed = against(live, "meta", inbox, "/gate.jpg", "--remove", "area", "--json")
    assert json.loads(removed.stdout)["metadata"]["user"] == {"camera": 7, "lot": "0042"}

    bulk = tmp_path / "bulk.csv"
    bulk.write_text('path,metadata,description\n/gate.jpg,"{""k"": 1}",d\n/nope.jpg,{},x\n')
    applied = against(live, "meta", inbox, "--file", str(bulk))
    assert applied.returncode == FAILURE
    assert applied.stdout == "1 lines applied, 1 refused\n"
    (line,) = applied.stderr.splitlines()
    assert line.startswith(f"error: {bulk}: line 3: ")
    applied = against(live, "meta", inbox, "--file", str(bulk), "--json")
    assert json.loads(applied.stdout)["applied"] == 1


def test_cli_move_an_internal_item(live, inbox, tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"a")
    assert against(live, "upload", inbox, str(tmp_path / "a.jpg")).returncode == 0
    moved = against(live, "move", inbox, "/a.jpg", "/sorted/a.jpg")
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.startswith("moved /a.jpg -> /sorted/a.jpg (item ")
