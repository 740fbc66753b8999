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
