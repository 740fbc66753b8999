"""The ``tributary`` command: drivers, datasets, syncs, items and runs.

Every listing command takes ``--json`` and then prints one JSON object per line.
Errors are one line on stderr and exit code 1; never a traceback, never a secret.
"""

from __future__ import annotations

import sys

import typer

from tributary.cli import datasets, db, drivers, items, preprocessing, syncs
from tributary.cli.hints import with_hint
from tributary.errors import TributaryError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.add_typer(drivers.app, name="driver")
app.add_typer(datasets.app, name="dataset")
app.add_typer(db.app, name="db")
app.command("sync")(syncs.sync)
app.command("items")(items.items)
app.command("preprocess")(preprocessing.preprocess)
app.command("thumbnail")(items.thumbnail)
app.command("runs")(syncs.runs)


def main() -> None:
    """Entry point: run the CLI, turning Tributary errors into one line and exit 1."""
    try:
        app(standalone_mode=False)
    except TributaryError as exc:
        typer.echo(f"error: {with_hint(exc)}", err=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
