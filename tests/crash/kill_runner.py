"""Run ``tributary_upstream_sync`` once with ``dag.test`` and SIGKILL this very process
when the catalog executes the N-th statement matching a pattern (a crash at a chosen
point, with no help from the product code).

    python tests/crash/kill_runner.py DATASET LOGICAL_DATE PATTERN N

It inherits the test session's environment (Airflow home, catalog URL, connections).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import re
import signal
import sys
from pathlib import Path

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "tributary_upstream_sync.py"


def main(dataset: str, logical_date: str, pattern: str, nth: int) -> None:
    import sqlalchemy as sa

    catalog_url = os.environ["TRIBUTARY_CATALOG_URL"]
    catalog_database = sa.make_url(catalog_url).database
    matcher = re.compile(pattern, re.IGNORECASE)
    seen = 0

    @sa.event.listens_for(sa.Engine, "before_cursor_execute")
    def _maybe_die(conn, cursor, statement, parameters, context, executemany):
        nonlocal seen
        if conn.engine.url.database != catalog_database or not matcher.search(statement):
            return
        seen += 1
        if seen == nth:
            sys.stderr.write(f"kill_runner: SIGKILL at {statement.split()[0:3]} #{seen}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    spec = importlib.util.spec_from_file_location("upstream_dag", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = module.dag.test(
        run_conf={"dataset": dataset}, logical_date=dt.datetime.fromisoformat(logical_date)
    )
    sys.stderr.write(f"kill_runner: run ended {run.state} without reaching the kill point\n")
    sys.exit(3)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
