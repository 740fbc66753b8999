"""The use cases load without Airflow: the CLI stays fast, the API pays for no DAG code."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import tributary.usecases


def test_no_use_case_module_imports_airflow():
    modules = [
        f"tributary.usecases.{m.name}" for m in pkgutil.iter_modules(tributary.usecases.__path__)
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'typer'}))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert len(modules) >= 8
    assert result.stdout.strip() == "[]"
