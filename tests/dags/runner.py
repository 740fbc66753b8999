"""Load a DAG file from dags/ and run it with ``dag.test()`` against the test catalog."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO


def load_dag(dag_id: str):
    """A fresh DAG object from ``dags/<dag_id>.py`` (``dag.test`` keeps a run's conf in
    the DAG's params, so a DAG object is never reused between runs)."""
    path = REPO / "dags" / f"{dag_id}.py"
    spec = importlib.util.spec_from_file_location(f"dagfile_{dag_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def run_dag(dag_id: str, conf: dict, **test_args):
    """Run the DAG in-process like ``airflow dags test``; returns the finished DagRun."""
    return load_dag(dag_id).test(run_conf=conf, **test_args)
