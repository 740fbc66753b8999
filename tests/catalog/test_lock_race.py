"""The dataset lock under a real race: many processes take one dataset's lock at once.

Threads would not prove it: the property is about separate database sessions committing at
the same instant, so each racer is its own process with its own connection, all released
by one barrier. Exactly one wins; every other racer waits the configured time and then
fails with ``SyncLocked`` naming the winner — never with a database error.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time

import pytest
import sqlalchemy as sa

from tributary.catalog import Catalog, datasets, syncs
from tributary.catalog.schema import dataset_locks
from tributary.errors import SyncLocked

# Each test starts processes of its own: out of the quick lane.
pytestmark = pytest.mark.slow

RACERS = 24
WAIT = dt.timedelta(seconds=1)
DEAD_RUN = "dead-run"


def _alive_unless_dead(dag_id: str, run_id: str) -> bool:
    """What Airflow would say: every racer's run is going, the dead holder's is over."""
    return run_id != DEAD_RUN


def _race(url: str, racer: int, ready, go, results) -> None:
    """One racer: open its sync run, wait for the others, then take the lock as a sync does."""
    catalog = Catalog(url, upgrade=False)
    with catalog.begin() as conn:
        dataset_id = datasets.get(conn, "race").id
        sync_id = syncs.start(
            conn, dataset_id=dataset_id, kind="upstream", dag_id="race", run_id=f"racer-{racer}"
        )
    ready.wait()
    go.wait()
    began = time.monotonic()
    try:
        syncs.wait_for_lock(
            catalog,
            dataset_id=dataset_id,
            sync_id=sync_id,
            wait=WAIT,
            run_alive=_alive_unless_dead,
        )
        outcome = ("won", sync_id)
    except SyncLocked as exc:
        outcome = ("locked", str(exc))
    except Exception as exc:  # the break this test exists for (IntegrityError on PostgreSQL)
        outcome = ("error", f"{type(exc).__name__}: {exc}"[:300])
    results.put((racer, *outcome, time.monotonic() - began))
    catalog.engine.dispose()


def _run_race(catalog: Catalog) -> list[tuple]:
    """Start the racers and release them all at once; their outcomes, one per racer.

    A barrier alone leaves the racers milliseconds apart, and a race that wide is lost only
    now and then. So the lock table is held shut (PostgreSQL: an exclusive table lock;
    SQLite: the write lock) until every racer is queued on it: they then all read the lock
    at the same instant, the worst case, every run.
    """
    # forkserver: children are forked from a clean process that has imported this module
    # once, so racers start fast and share no connection with pytest's process.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    ready, go = context.Barrier(RACERS + 1), context.Barrier(RACERS + 1)
    results = context.Queue()
    racers = [
        context.Process(target=_race, args=(catalog.url, n, ready, go, results))
        for n in range(RACERS)
    ]
    for process in racers:
        process.start()
    ready.wait(timeout=120)
    with catalog.engine.connect() as gate, gate.begin():
        if catalog.is_postgres:
            gate.exec_driver_sql("LOCK TABLE dataset_locks IN ACCESS EXCLUSIVE MODE")
        go.wait(timeout=60)
        _until_queued(catalog, gate)
    outcomes = [results.get(timeout=120) for _ in racers]
    for process in racers:
        process.join(timeout=30)
    return outcomes


def _until_queued(catalog: Catalog, gate) -> None:
    if not catalog.is_postgres:
        time.sleep(1)  # SQLite shows no waiters; they retry under busy_timeout meanwhile
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        waiting = gate.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE NOT granted "
            "AND relation = 'dataset_locks'::regclass"
        ).scalar()
        if waiting == RACERS:
            return
        time.sleep(0.05)
    pytest.fail(f"only {waiting} of {RACERS} racers reached the lock")


def _holder(catalog: Catalog) -> int | None:
    with catalog.begin() as conn:
        return conn.execute(sa.select(dataset_locks.c.sync_id)).scalar()


@pytest.fixture
def dataset(catalog):
    with catalog.begin() as conn:
        return datasets.create(conn, name="race")


def _assert_one_winner(catalog: Catalog, outcomes: list[tuple]) -> int:
    errors = [o for o in outcomes if o[1] == "error"]
    assert not errors, errors
    winners = [sync_id for _, kind, sync_id, _ in outcomes if kind == "won"]
    assert len(winners) == 1, outcomes
    winner = winners[0]
    losers = [o for o in outcomes if o[1] == "locked"]
    assert len(losers) == RACERS - 1
    for _, _, message, waited in losers:
        assert f"sync {winner} of this dataset" in message
        assert waited >= WAIT.total_seconds()  # the documented wait came first
    assert _holder(catalog) == winner
    with catalog.begin() as conn:
        history = syncs.history(conn, "race", limit=RACERS + 1)
    failed = [run for run in history if run["run_id"].startswith("racer-")]
    assert sum(run["status"] == "failed" for run in failed) == RACERS - 1
    assert all(run["error"].startswith("not started:") for run in failed if run["id"] != winner)
    return winner


def test_racers_for_a_free_lock_leave_one_winner_and_the_rest_locked_out(catalog, dataset):
    outcomes = _run_race(catalog)

    _assert_one_winner(catalog, outcomes)


def test_racers_taking_over_a_dead_holders_lock_leave_one_winner(catalog, dataset):
    with catalog.begin() as conn:
        dead = syncs.start(
            conn, dataset_id=dataset.id, kind="upstream", dag_id="race", run_id=DEAD_RUN
        )
        syncs.acquire_lock(conn, dataset_id=dataset.id, sync_id=dead)

    outcomes = _run_race(catalog)

    winner = _assert_one_winner(catalog, outcomes)
    with catalog.begin() as conn:
        dead_run = syncs.get(conn, dead)
    assert dead_run["status"] == "failed"
    assert f"interrupted: its Airflow run {DEAD_RUN} is no longer running" in dead_run["error"]
    assert f"sync {winner} took over" in dead_run["error"]
