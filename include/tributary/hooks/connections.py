"""Airflow connections as the ``tributary`` CLI sees them: like Airflow's own servers do.

Nothing Airflow is imported at the top of this module: the CLI calls
``read_connections_like_airflow_server`` before every command, including ``--help``, which
must not pay for importing Airflow.
"""

from __future__ import annotations

import os

from tributary.errors import NotFound

# Airflow's Task SDK looks connections up by the kind of process it runs in: a task asks
# its supervisor, a "server" process (api-server, scheduler) reads the metadata database
# too, and any other process sees only environment variables and custom secrets backends.
PROCESS_CONTEXT = "_AIRFLOW_PROCESS_CONTEXT"


class ConnectionNotFound(NotFound):
    """No Airflow connection has the given id (in any place Airflow keeps them)."""

    permanent = True  # a person must add it

    def __init__(self, message: str, conn_id: str) -> None:
        super().__init__(message)
        self.conn_id = conn_id


def read_connections_like_airflow_server() -> None:
    """Let this process (the ``tributary`` CLI on an Airflow machine) see every connection
    Airflow has — environment, secrets backends *and* the metadata database, where
    ``airflow connections add`` puts them — the way Airflow's own server processes do.

    Without this, the Task SDK treats the CLI as an unknown process and reads only
    environment variables: a connection added with ``airflow connections add`` would be
    invisible to the CLI while the DAG tasks see it, and the CLI would pick the embedded
    SQLite catalog while the tasks use the ``tributary_catalog`` connection.
    Never call it in a task: a task must ask its supervisor.
    """
    os.environ.setdefault(PROCESS_CONTEXT, "server")


def connection_exists(conn_id: str) -> bool:
    """Whether Airflow has a connection ``conn_id``, looked up as a hook would look it up.

    A secrets backend that fails raises its own error: only "not defined" is False.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True
