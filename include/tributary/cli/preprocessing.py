"""``tributary preprocess``: metadata and thumbnails of a dataset's items."""

from __future__ import annotations

from typing import Annotated

import typer

from tributary.cli.output import WaitFlag, follow


def preprocess(
    dataset: str,
    force: Annotated[
        bool, typer.Option("--force", help="Redo every item, not only the pending ones.")
    ] = False,
    wait: WaitFlag = False,
) -> None:
    """Start preprocessing (metadata + thumbnails) of a dataset's items through Airflow."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.preprocessing import preprocessing_states, start_preprocessing

    catalog = open_catalog()
    run = start_preprocessing(catalog, dataset, force=force)
    follow(catalog, run, wait=wait, show_syncs=False)
    if wait:
        counts = preprocessing_states(catalog, dataset)
        typer.echo(", ".join(f"{n} {state}" for state, n in counts.items()))
