"""The platform commands' way to the REST API: a client from the environment, its errors
as the CLI's one line, item paths resolved to ids.

The platform commands (upload, meta, delete, restore, move, clone) talk to Tributary's
REST API with ``tributary.client``, so they work from a laptop against a remote Airflow and
start without importing Airflow, SQLAlchemy or the catalog. The client is imported inside
the commands: ``tributary --help`` does not pay for httpx either.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import typer

from tributary.cli.errors import FAILURE, say_error

if TYPE_CHECKING:
    from tributary.client import Client


@contextlib.contextmanager
def api() -> Iterator[Client]:
    """A client of the API server ``TRIBUTARY_AIRFLOW_URL`` names; a ``ClientError``
    raised inside is said on one line and exits 1 (never a traceback)."""
    skip_httpx_command_line()
    from tributary.client import Client, ClientError

    client = Client.from_env()
    try:
        yield client
    except ClientError as exc:
        say_error(str(exc))
        raise typer.Exit(FAILURE) from None
    finally:
        client.close()


def skip_httpx_command_line() -> None:
    """Keep httpx from importing its own command line (``httpx._main``: click, rich,
    pygments), which it does on import when those are installed: about 0.2 s of CPU, a
    third of a platform command's start-up, for a ``main`` this process never calls.
    Blocked, httpx's ``__init__`` falls back to a stub ``main``. The CLI only: a library
    leaves its host's modules alone."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)


def item_path(path: str) -> str:
    """A dataset path as the API wants it: ``a/b.jpg`` and ``/a/b.jpg`` are the same."""
    return path if path.startswith("/") else "/" + path


def resolve(client: Client, dataset: str, path: str, *, deleted: bool = False) -> dict:
    """The item at dataset path ``path`` (``/a/b.jpg``); with ``deleted``, a deleted one
    (found among the deleted items under that path when the lookup by path names another
    item there)."""
    from tributary.client import NotFound

    path = item_path(path)
    try:
        found = client.item_by_path(dataset, path)
    except NotFound:
        if not deleted:
            raise
        found = None
    if not deleted or (found is not None and found["state"] == "deleted"):
        return found
    for item in client.iter_items(dataset, state="deleted", prefix=path, page_size=100):
        if item["path"] == path:
            return item
    raise NotFound(404, f"no deleted item at {path} in dataset {dataset!r}")


def json_or_text(value: str) -> Any:
    """A ``key=value`` value: JSON when it parses (``3``, ``true``, ``[1,2]``), else the
    text itself (``cam-7``)."""
    try:
        return json.loads(value)
    except ValueError:
        return value
