"""``tributary db``: the catalog database."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="The catalog database.")


@app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the catalog tables (also done automatically on first use)."""
    from tributary.usecases.catalog import upgrade_catalog

    typer.echo(f"catalog is up to date: {upgrade_catalog()!r}")
