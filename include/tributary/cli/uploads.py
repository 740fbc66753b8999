"""``tributary upload``: files and whole folders into a dataset, through the REST API.

A progress bar (files, bytes, rate, ETA) on stderr when stderr is a terminal, nothing
while piped; each failed file one line on stderr as it fails; a summary at the end.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer

from tributary.cli.output import JsonFlag, print_json
from tributary.cli.remote import api, skip_httpx_command_line

if TYPE_CHECKING:
    from tributary.client import UploadEvent, UploadResult

STATUSES = ("created", "replaced", "skipped", "conflict", "error")


def upload(
    dataset: str,
    paths: Annotated[list[str], typer.Argument(help="Files and folders (folders recursively).")],
    to: Annotated[
        str, typer.Option("--to", help="Dataset folder to upload into, e.g. /2026/cam1/.")
    ] = "/",
    metadata: Annotated[
        str | None,
        typer.Option(help="User metadata for every file, a JSON object: '{\"camera\": 7}'."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a different file at an existing path (same item id).")
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, help="Files in flight.")] = 4,
    json_out: JsonFlag = False,
) -> None:
    """Upload files and folders into DATASET, keeping the folder structure under --to.

    A folder keeps its name (``photos`` → ``/photos/…``); ``.`` uploads the current
    folder's contents. Identical files already there are skipped; a different file at an
    existing path is a conflict unless --overwrite. Symlinks and the hidden folder
    ``.tributary`` are left out. Exit 1 if any file conflicted or failed.
    """
    skip_httpx_command_line()
    from tributary.client import Invalid, plan_upload

    extra = _metadata_option(metadata)
    try:
        plan = plan_upload(paths, to=to)
    except Invalid as exc:
        raise typer.BadParameter(exc.detail.split(": ", 1)[-1], param_hint="'--to'") from None
    for link in plan.skipped_links:
        typer.echo(f"warning: {link}: a symlink, left out", err=True)
    shown = _Progress(len(plan.files), plan.total_bytes, json_out=json_out)
    with api() as client:
        results = client.upload_tree(
            dataset,
            paths,
            to=to,
            jobs=jobs,
            overwrite=overwrite,
            metadata=extra,
            progress=shown.event,
            plan=plan,
        )
    shown.finish()
    summary = _summary(results, time.monotonic() - shown.started)
    typer.echo(summary, err=json_out)
    if any(result.failed for result in results):
        raise typer.Exit(1)


def _metadata_option(metadata: str | None) -> dict | None:
    if metadata is None:
        return None
    try:
        value = json.loads(metadata)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON ({exc})", param_hint="'--metadata'") from None
    if not isinstance(value, dict):
        raise typer.BadParameter('a JSON object, e.g. {"camera": 7}', param_hint="'--metadata'")
    return value


def _summary(results: list[UploadResult], seconds: float) -> str:
    counts = {status: 0 for status in STATUSES}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    sent = sum(r.size for r in results if r.status in ("created", "replaced"))
    said = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    rate = f", {_size(sent / seconds)}/s" if seconds > 0 and sent else ""
    said = said or "nothing to upload"
    return f"{len(results)} files ({said}), {_size(sent)} sent in {seconds:.1f}s{rate}"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class _Progress:
    """Counts what ``upload_tree`` reports (from its worker threads); draws the bar on a
    terminal, at most ten times a second; says each failed file on its own line, and with
    ``--json`` prints each result as a JSON line."""

    WIDTH = 24

    def __init__(self, files: int, total_bytes: int, *, json_out: bool) -> None:
        self.files, self.total_bytes, self.json_out = files, total_bytes, json_out
        self.done = 0
        self.done_bytes = 0  # of the finished files
        self.in_flight: dict[str, int] = {}  # bytes sent so far, by item path
        self.started = time.monotonic()
        self._drawn_at = 0.0
        self._lock = threading.Lock()
        self.terminal = sys.stderr.isatty()

    def event(self, event: UploadEvent) -> None:
        """One report: bytes of a file sent, or a file finished."""
        with self._lock:
            result = event.result
            if result is None:
                self.in_flight[event.path] = self.in_flight.get(event.path, 0) + event.nbytes
                self._draw()
                return
            self.in_flight.pop(event.path, None)
            self.done += 1
            self.done_bytes += result.size
            if self.json_out or result.failed:
                self._clear()
            if self.json_out:
                print_json(result.as_dict())
            if result.failed:
                what = "conflict" if result.status == "conflict" else "failed"
                typer.echo(
                    f"error: {result.local} -> {result.path}: {what}: {result.error}", err=True
                )
            self._draw(force=self.json_out or result.failed)

    def finish(self) -> None:
        """Leave the finished bar on its line."""
        with self._lock:
            if self.terminal and self.files:
                self._draw(force=True)
                sys.stderr.write("\n")
                sys.stderr.flush()

    def _clear(self) -> None:
        if self.terminal:
            sys.stderr.write("\r\033[K")

    def _draw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.terminal or (not force and now - self._drawn_at < 0.1):
            return
        self._drawn_at = now
        elapsed = max(now - self.started, 1e-6)
        sent = min(self.done_bytes + sum(self.in_flight.values()), self.total_bytes)
        share = sent / self.total_bytes if self.total_bytes else self.done / max(self.files, 1)
        filled = int(share * self.WIDTH)
        rate = sent / elapsed
        left = (self.total_bytes - sent) / rate if rate > 0 else 0
        eta = f"ETA {_duration(left)}" if self.done < self.files else _duration(elapsed)
        sys.stderr.write(
            f"\r\033[K[{'#' * filled}{'.' * (self.WIDTH - filled)}] "
            f"{self.done}/{self.files} files  {_size(sent)}/{_size(self.total_bytes)}  "
            f"{_size(rate)}/s  {eta}"
        )
        sys.stderr.flush()
