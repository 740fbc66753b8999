"""``tributary preprocess``: metadata and thumbnails of a dataset's items."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tributary.cli.output import WaitFlag, follow

if TYPE_CHECKING:
    from tributary.usecases.preprocessing import PreprocessingOutcome


def preprocess(
    dataset: str,
    force: Annotated[
        bool, typer.Option("--force", help="Redo every item, not only the pending ones.")
    ] = False,
    wait: WaitFlag = False,
) -> None:
    """Start preprocessing (metadata + thumbnails) of a dataset's items through Airflow."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.preprocessing import preprocessing_outcome, start_preprocessing

    catalog = open_catalog()
    run = start_preprocessing(catalog, dataset, force=force)
    # Preprocessing runs are Airflow's (no sync runs): its progress is the items' states.
    follow(
        catalog, run, wait=wait, show_syncs=False, follow_with=f"tributary dataset show {dataset}"
    )
    if wait:
        show_outcome(dataset, preprocessing_outcome(catalog, dataset))


def show_outcome(dataset: str, outcome: PreprocessingOutcome) -> None:
    """The items per preprocessing state; failed items named, with how to list them all."""
    typer.echo(", ".join(f"{n} {state}" for state, n in outcome.counts.items()))
    for failed in outcome.failed:
        typer.echo(f"  failed: {failed['path']}: {failed['error']}")
    if outcome.counts["failed"]:
        typer.echo(f"  list them all: tributary items {dataset} --preprocess-state failed")
