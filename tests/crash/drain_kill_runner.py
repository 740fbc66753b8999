"""Run ``tributary_downstream_sync`` once with ``dag.test`` and SIGKILL this very process
at a chosen point: before the N-th catalog statement matching a pattern, or just after the
N-th call of a storage operation returned (its effect made, nothing recorded yet).

    python tests/crash/drain_kill_runner.py sql PATTERN N LOGICAL_DATE
    python tests/crash/drain_kill_runner.py storage copy|delete|write_stream N LOGICAL_DATE

It inherits the test session's environment (Airflow home, catalog URL).
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import os
import re
import signal
import sys
from pathlib import Path

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "tributary_downstream_sync.py"


def die(what: str) -> None:
    sys.stderr.write(f"drain_kill_runner: SIGKILL {what}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def kill_at_statement(pattern: str, nth: int) -> None:
    import sqlalchemy as sa

    catalog_database = sa.make_url(os.environ["TRIBUTARY_CATALOG_URL"]).database
    matcher = re.compile(pattern, re.IGNORECASE)
    seen = 0

    @sa.event.listens_for(sa.Engine, "before_cursor_execute")
    def _maybe_die(conn, cursor, statement, parameters, context, executemany):
        nonlocal seen
        if conn.engine.url.database != catalog_database or not matcher.search(statement):
            return
        seen += 1
        if seen == nth:
            die(f"before {' '.join(statement.split()[:4])} #{seen}")


def kill_after_storage_call(method: str, nth: int) -> None:
    from tributary.storage.local import LocalStore

    original = getattr(LocalStore, method)
    seen = 0

    @functools.wraps(original)
    def counted(self, *args, **kwargs):
        nonlocal seen
        result = original(self, *args, **kwargs)
        seen += 1
        if seen == nth:
            die(f"after LocalStore.{method}{args[:2]} #{seen}")
        return result

    setattr(LocalStore, method, counted)


def main(kind: str, what: str, nth: int, logical_date: str) -> None:
    if kind == "sql":
        kill_at_statement(what, nth)
    else:
        kill_after_storage_call(what, nth)
    spec = importlib.util.spec_from_file_location("downstream_dag", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = module.dag.test(run_conf={}, logical_date=dt.datetime.fromisoformat(logical_date))
    sys.stderr.write(f"drain_kill_runner: run ended {run.state} without reaching the kill point\n")
    sys.exit(3)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
