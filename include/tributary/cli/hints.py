"""The CLI's own hints: the command to run next, added to what an error says.

Domain errors say what is wrong and which option allows it; only the CLI knows its
commands and flags, so it adds them here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tributary.errors import DatasetNotFound, DriverNotFound, TributaryError

if TYPE_CHECKING:
    from tributary.usecases.syncs import SyncRunSummary

MASS_DELETE_OPTION = "allow_mass_delete"
QUOTA_REFUSAL = "data-point quota exceeded for "


def with_hint(exc: TributaryError) -> str:
    """An error's one line, with the command that helps next where there is one."""
    # Imported here: the use cases pull in the catalog, and `tributary --help` must not.
    from tributary.hooks.connections import ConnectionNotFound
    from tributary.usecases.datasets import DatasetBusy, InitialSyncNotStarted
    from tributary.usecases.thumbnails import NoThumbnail

    if isinstance(exc, ConnectionNotFound):
        return f"{exc} (see: airflow connections list)"
    if isinstance(exc, DatasetNotFound):
        return f"{exc} (see: tributary dataset list)"
    if isinstance(exc, DriverNotFound):
        return f"{exc} (see: tributary driver list)"
    if isinstance(exc, InitialSyncNotStarted):
        return f"{exc} with: tributary sync {exc.dataset}"
    if isinstance(exc, DatasetBusy):
        return f"{exc} (if it is stuck: tributary dataset unlock {exc.dataset})"
    if isinstance(exc, NoThumbnail) and exc.preprocess_state == "pending":
        return f"{exc} (tributary preprocess {exc.dataset})"
    return str(exc)


def sync_run_hint(run: SyncRunSummary, dataset: str) -> str | None:
    """The command that gets a refused sync run of ``dataset`` through, if its refusal
    names the option that allows it."""
    if run.status == "failed" and MASS_DELETE_OPTION in (run.error or ""):
        return (
            f"if the files really are gone: tributary sync {dataset} --allow-mass-delete "
            "(--dry-run lists them first)"
        )
    if run.status == "failed" and QUOTA_REFUSAL in (run.error or ""):
        scope = "catalog" if f"{QUOTA_REFUSAL}the catalog" in run.error else dataset
        needed = re.search(r"to at least (\d+)", run.error)
        return (
            f"raise the quota: tributary dataset quota {scope} "
            f"{needed.group(1) if needed else 'N'} (or --none), then: tributary sync {dataset}"
        )
    return None
