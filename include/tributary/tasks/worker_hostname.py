"""The hostname Airflow records for a worker's task instances (``[core] hostname_callable``).

Several Celery workers on one machine (``scripts/stack.sh``) would all record the machine's
name, and nobody could tell from a task instance which worker ran it. A worker started with
``TRIBUTARY_WORKER_HOSTNAME`` records that name instead; without it, the machine's FQDN, as
Airflow's default does. Workers on machines of their own need neither.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """``TRIBUTARY_WORKER_HOSTNAME`` if set, else the machine's fully qualified name."""
    return os.environ.get("TRIBUTARY_WORKER_HOSTNAME") or socket.getfqdn()
