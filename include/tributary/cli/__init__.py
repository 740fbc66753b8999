"""The ``tributary`` command: drivers, datasets, syncs, items and runs; uploads, metadata
and platform edits through Tributary's REST API.

Every listing command takes ``--json`` and then prints one JSON object per line.
Errors are one line on stderr, exit code 2 for a usage error and 1 for a failure; never
a traceback, never a secret.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from typer._click import exceptions as click_errors

from tributary.cli import (
    datasets,
    db,
    drivers,
    edits,
    errors,
    imports,
    items,
    logs,
    metadata,
    preprocessing,
    syncs,
    uploads,
)
from tributary.hooks.connections import PROCESS_CONTEXT, read_connections_like_airflow_server

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.add_typer(drivers.app, name="driver")
app.add_typer(datasets.app, name="dataset")
app.add_typer(db.app, name="db")
app.command("sync")(syncs.sync)
app.command("items")(items.items)
app.command("preprocess")(preprocessing.preprocess)
app.command("thumbnail")(items.thumbnail)
app.command("runs")(syncs.runs)
# Platform commands: through the REST API (tributary.client), no catalog, no Airflow.
app.command("upload")(uploads.upload)
app.command("meta")(metadata.meta)
app.command("delete")(edits.delete)
app.command("restore")(edits.restore)
app.command("move")(edits.move)
app.command("clone")(edits.clone)
# Links and CSV imports: local (the catalog and the dataset's storage).
imports.register(app)

_verbose = False


@app.callback()
def _options(
    verbose: Annotated[
        bool,
        typer.Option(
            "-v",
            "--verbose",
            help="Show library logs (Airflow, boto, …) on stderr, and the traceback of an "
            "unexpected error.",
        ),
    ] = False,
) -> None:
    global _verbose  # one flag for the whole process, read when a command fails
    _verbose = verbose
    logs.route_library_logs(verbose=verbose)


def main() -> None:
    """Entry point of the installed ``tributary`` command."""
    logs.route_library_logs()
    # The CLI reads connections as Airflow's servers do (metadata database included), so
    # that it sees what `airflow connections add` stored, as the DAG tasks do. Here only:
    # a task must never read the metadata database. Undone after the command, for the
    # tests that run main() inside a process that goes on to run tasks.
    before = os.environ.get(PROCESS_CONTEXT)
    read_connections_like_airflow_server()
    try:
        code = run(sys.argv[1:])
    finally:
        if before is None:
            os.environ.pop(PROCESS_CONTEXT, None)
    sys.exit(code)


def run(args: list[str]) -> int:
    """Run the CLI on ``args``; its exit code. Every mistake and failure is one line on
    stderr (see ``tributary.cli.errors``)."""
    global _verbose
    _verbose = False  # until the -v of these args is parsed
    try:
        # standalone_mode=False: Click's own handling would print usage blocks and, for
        # errors it does not know, tracebacks; the exits of `raise typer.Exit(n)` come back
        # as the return value.
        code = app(args=args, prog_name="tributary", standalone_mode=False)
    except click_errors.UsageError as exc:
        return errors.report_usage_error(exc)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return errors.INTERRUPTED
    except Exception as exc:
        return errors.report_failure(exc, verbose=_verbose)
    return code if isinstance(code, int) else 0
