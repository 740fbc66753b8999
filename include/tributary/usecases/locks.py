"""Dataset sync locks: free one by hand once the sync holding it is over."""

from __future__ import annotations

from tributary import config
from tributary.airflow_rest import AirflowClient
from tributary.catalog import Catalog
from tributary.catalog import syncs as sync_queries
from tributary.errors import SyncLocked
from tributary.usecases.airflow_runs import RunAliveQuery


def unlock_dataset(
    catalog: Catalog, name: str, *, client: AirflowClient | None = None
) -> int | None:
    """Free the sync lock of dataset ``name``; the id of the sync run that held it, None
    when the dataset was not locked.

    The holder's Airflow run is looked up through the REST API: the lock is freed once
    Airflow says that run is over (or, when Airflow cannot say, once the holder has been
    silent for ``TRIBUTARY_LOCK_STALE_SECONDS``). While it may be alive this refuses with
    ``SyncLocked``: a second sync must never interleave with a live one.
    """
    run_alive = RunAliveQuery(client)
    try:
        return sync_queries.unlock_dataset(
            catalog, name, run_alive, stale_after=config.lock_stale_after()
        )
    except SyncLocked as exc:
        if run_alive.why_unknown is None:
            raise
        # "Still running" rests on the heartbeat alone: say why Airflow was not asked.
        raise SyncLocked(f"{exc} (Airflow could not say: {run_alive.why_unknown})") from None
