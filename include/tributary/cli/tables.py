"""Plain listings: a header row for people, a word on stderr when there is nothing.

The header is printed only when stdout is a terminal, as ``gh`` does: a person reading
the table sees what each column is, while ``tributary items ds | wc -l`` still counts
items. Scripts that want field names use ``--json``.
"""

from __future__ import annotations

import sys

import typer


def stdout_is_terminal() -> bool:
    """Whether a person (not a pipe or a file) reads stdout."""
    return sys.stdout.isatty()


def header(line: str) -> None:
    """Print a listing's header row, when stdout is a terminal."""
    if stdout_is_terminal():
        typer.echo(line)


def nothing_found(message: str) -> None:
    """Say on stderr that a listing is empty: stdout stays empty for scripts, and a
    person is not left wondering whether the command did anything (exit status 0)."""
    typer.echo(message, err=True)
