"""
### Permission check

Probe every storage driver's permissions, daily (cron `TRIBUTARY_PERMISSION_CHECK_SCHEDULE`,
default 03:00 UTC) and on demand, so that a bucket policy or a credential changed behind
Tributary's back is noticed before the next sync stumbles on it.

**select** the drivers (the `driver` param, or every driver) → **check** each one in a
mapped task of its own, labelled with the driver's name: list the folder, put a probe file
in the hidden folder `.tributary/probe/`, get it back and delete it — what `tributary
driver check` does — and store the result on the driver.

A driver missing a required permission (list, get and put; delete too when it allows
deletes), whether lost since the last check or never granted, **fails** its task with the
driver and the permission named, without retries: the run fails and Airflow's own failure
notifications (`on_failure_callback`, email, Slack or other notifiers) reach the team.
`tributary driver list` then shows the driver as failing since its first failing check;
the next passing check clears it. The other drivers are still checked.

Trigger by hand with a `driver` name to check just that one (empty: every driver).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from tributary.config import permission_check_schedule
from tributary.hooks.catalog import open_catalog
from tributary.tasks.errors import RETRY_POLICY, task_errors
from tributary.usecases import drivers


@dag(
    dag_id="tributary_permission_check",
    schedule=permission_check_schedule(),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    # On from installation: a check only probes the hidden folder, and an alert that must be
    # switched on first is one nobody gets (README: "Schedules").
    is_paused_upon_creation=False,
    tags=["tributary", "drivers"],
    doc_md=__doc__,
    params={
        "driver": Param(
            None,
            type=["null", "string"],
            title="Driver",
            description="One driver to check (see: tributary driver list); empty: every driver.",
        )
    },
    default_args=RETRY_POLICY,
)
def tributary_permission_check():
    @task
    def select_drivers(params=None) -> list[str]:
        with task_errors():
            return drivers.drivers_to_check(open_catalog(), params["driver"])

    @task(map_index_template="{{ task.op_kwargs['driver'] }}")
    def check_permissions(driver: str) -> dict:
        with task_errors():
            return drivers.require_permissions(open_catalog(), driver)

    check_permissions.expand(driver=select_drivers())


dag = tributary_permission_check()

if __name__ == "__main__":
    dag.test()
