"""How the CLI shows results: JSON lines, the probe table, sync-run lines, DAG runs."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated

import typer

from tributary.cli.hints import sync_run_hint

if TYPE_CHECKING:
    from tributary.catalog import Catalog
    from tributary.usecases.airflow_runs import TriggeredRun
    from tributary.usecases.syncs import SyncRunSummary

JsonFlag = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
WaitFlag = Annotated[bool, typer.Option("--wait", help="Wait for the run to finish.")]


def _json_default(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(record: dict) -> None:
    """One JSON object on one line (datetimes in ISO 8601)."""
    typer.echo(json.dumps(record, default=_json_default, ensure_ascii=False))


def print_probe(check: dict) -> None:
    """A permission probe's report as a table, one permission a line."""
    typer.echo(f"permissions on {check['location']}:")
    for name, result in check["permissions"].items():
        status = "ok" if result["ok"] else ("MISSING" if result["required"] else "missing")
        need = "required" if result["required"] else "optional"
        typer.echo(f"  {name:<7} {status:<8} ({need}) {result['message']}")


def run_line(run: SyncRunSummary, dataset: str) -> str:
    """One sync run of ``dataset`` as a line, with its error and the CLI's hint below."""
    progress = f"partitions {run.partitions_done}/{run.partitions_total}"
    counts = " ".join(f"{name}={n}" for name, n in run.counts.items())
    if run.planned:  # a dry run applies nothing: its counts are the plan's
        counts = f"planned: {counts}"
    line = (
        f"#{run.id:<5} {run.kind:<8} {run.status:<9} "
        f"{'dry-run ' if run.dry_run else ''}{progress:<18} "
        f"listed={run.objects_listed} {counts} "
        f"started={run.started_at:%Y-%m-%d %H:%M:%S}"
    )
    if run.error:
        line += f"\n       error: {run.error}"
    hint = sync_run_hint(run, dataset)
    return line + (f"\n       hint: {hint}" if hint else "")


def follow(
    catalog: Catalog,
    run: TriggeredRun,
    *,
    wait: bool,
    show_syncs: bool = True,
    follow_with: str | None = None,
) -> str | None:
    """Say which run started and the command that follows it (``follow_with``; default
    ``tributary runs``); with ``wait``, wait for it and print its sync runs. Returns the
    final state (None without ``wait``).

    Raises ``RunFailed`` (exit 1) when the run failed or a sync in it was refused: a
    script or CI job reading the exit code must not take a refused sync for a success.
    """
    from tributary.usecases.airflow_runs import RunFailed, wait_for_run
    from tributary.usecases.syncs import syncs_of_run

    typer.echo(f"{run.dag_id} triggered for {run.dataset!r}: run {run.run_id} ({run.airflow_url})")
    typer.echo(f"follow it with: {follow_with or f'tributary runs {run.dataset}'}")
    if not wait:
        return None
    state = wait_for_run(run)
    typer.echo(f"run {run.run_id}: {state}")
    failed_syncs = []
    if show_syncs:
        for sync_run in syncs_of_run(catalog, run):
            typer.echo(run_line(sync_run, sync_run.dataset or run.dataset))
            for kind, paths in sync_run.samples.items():
                for path in paths:
                    typer.echo(f"       {kind}: {path}")
            if sync_run.status == "failed":
                failed_syncs.append(sync_run)
    if failed_syncs:
        first = failed_syncs[0]
        reason = f": {first.error}" if first.error else ""
        dataset = first.dataset or run.dataset
        raise RunFailed(
            f"{run.dag_id} run {run.run_id}: sync #{first.id} of {dataset!r} failed{reason}"
        )
    if state != "success":
        raise RunFailed(f"{run.dag_id} run {run.run_id} {state}")
    return state
