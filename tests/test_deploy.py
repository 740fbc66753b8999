"""docker-compose.yml and scripts/stack.sh describe one topology with one set of settings.

No Docker engine runs here, so the compose file is checked as data (and by
``docker-compose config`` where that client is installed); the stack script is what
tests/e2e/test_stack.py runs for real.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO, missing

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
STACK_SH = (REPO / "scripts" / "stack.sh").read_text()
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}


def compose_env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in COMPOSE["services"][service]["environment"].items()}


def stack_defaults() -> dict[str, str]:
    """The settings stack.sh gives every process, with their defaults:
    ``NAME "${NAME:-default}"`` lines of its env.sh writer."""
    found = dict(re.findall(r'(AIRFLOW__[A-Z_]+)\s*\\?\s*"\$\{\1:-([^}]*)\}"', STACK_SH))
    assert len(found) >= 7, found
    return found


def test_compose_has_the_stack_topology():
    services = set(COMPOSE["services"])
    assert services == {
        "postgres", "redis", "airflow-init", *AIRFLOW_SERVICES,
        "airflow-worker", "airflow-worker-acme",
    }  # fmt: skip
    for service, command in AIRFLOW_SERVICES.items():
        assert COMPOSE["services"][service]["command"] == command
    lanes = json.loads(compose_env("airflow-worker")["TRIBUTARY_LANES"])
    assert COMPOSE["services"]["airflow-worker"]["command"] == "celery worker --queues default"
    acme = COMPOSE["services"]["airflow-worker-acme"]["command"]
    assert f"--queues {lanes['acme']['queue']}" in acme


def test_compose_and_stack_use_the_same_settings():
    env = compose_env("airflow-scheduler")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for name in (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW_CONN_TRIBUTARY_CATALOG",
        "TRIBUTARY_LANES",
    ):
        assert name in env, name
        assert name in STACK_SH, name
    # What surviving a lost worker or scheduler takes (README): the same values in both.
    for name, value in stack_defaults().items():
        assert env.get(name) == value, name


@pytest.mark.slow
def test_docker_compose_accepts_the_file():
    client = shutil.which("docker-compose")
    if client is None:
        missing("docker-compose (Debian's 1.29) is not installed (scripts/setup.sh --dev does it)")
    result = subprocess.run(
        [client, "config", "-q"],
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin",
            "POSTGRES_PASSWORD": "x",
            "AIRFLOW__API_AUTH__JWT_SECRET": "y",
            "AIRFLOW__CORE__FERNET_KEY": "z",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
