"""Load a DAG file from dags/ and run it with ``dag.test()`` against the test catalog."""

from __future__ import annotations

import importlib.util
from functools import cache

from tests.conftest import REPO


@cache
def load_dag(dag_id: str):
    """The DAG object defined in ``dags/<dag_id>.py``."""
    path = REPO / "dags" / f"{dag_id}.py"
    spec = importlib.util.spec_from_file_location(f"dagfile_{dag_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def run_dag(dag_id: str, conf: dict):
    """Run the DAG in-process like ``airflow dags test``; returns the finished DagRun."""
    return load_dag(dag_id).test(run_conf=conf)
