"""Tributary's REST API inside a real Airflow API server (the session's ``airflow
standalone``), over real HTTP with Airflow's own logins."""

from __future__ import annotations

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def test_the_session_airflow_answers_and_logs_a_viewer_in(airflow_server):
    assert httpx.get(f"{airflow_server}/api/v2/monitor/health", timeout=10).status_code == 200
    token = airflow_server.token("viewer")
    dag = httpx.get(
        f"{airflow_server}/api/v2/dags/tributary_downstream_sync",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert dag.status_code == 200, dag.text
    assert airflow_server.env["TRIBUTARY_AIRFLOW_URL"] == airflow_server
