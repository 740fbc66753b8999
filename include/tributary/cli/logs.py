"""Library logs in the CLI: on stderr, warnings only unless ``-v``; stdout is the CLI's own.

Importing Airflow configures logging (``airflow.settings.initialize``): a structlog logger
and a root handler, both writing to stdout at INFO. In the ``tributary`` command that put
Airflow's, the providers' and boto's log lines in front of the ``--json`` output. Airflow
is imported late and only by the commands that need it (a cloud driver's hook, the catalog
connection), so the CLI cannot configure logging after the import at one place in its own
code; instead it sets the level before the import and moves the handlers to stderr right
after it, from an import hook.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import sys

# Airflow reads its log level from the environment when it is imported.
_AIRFLOW_LEVEL = "AIRFLOW__LOGGING__LOGGING_LEVEL"


def route_library_logs(*, verbose: bool = False) -> None:
    """From now on, library logs go to stderr: warnings and errors, or everything from
    INFO with ``verbose``. Call before Airflow is imported (later calls may change the
    level until then)."""
    if "airflow" in sys.modules:
        # Imported already: only in a test that runs the CLI in its own process, whose
        # logging is the test's, not the CLI's to change.
        return
    level = "INFO" if verbose else "WARNING"
    os.environ[_AIRFLOW_LEVEL] = level
    logging.getLogger().setLevel(level)
    if not any(isinstance(finder, _AfterAirflowImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterAirflowImport())


def _send_logs_to_stderr() -> None:
    """Point every handler and the structlog logger factory that write to stdout at stderr."""
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
                handler.setStream(sys.stderr)
    import structlog

    factory = structlog.get_config().get("logger_factory")
    # Airflow's factory makes loggers that write to its ``io``, or to stdout when unset.
    if getattr(factory, "io", sys.stderr) in (None, sys.stdout):
        factory.io = sys.stderr


class _AfterAirflowImport(importlib.abc.MetaPathFinder):
    """Finds the ``airflow`` package as usual, and runs ``_send_logs_to_stderr`` as soon
    as its ``__init__`` (which configures logging) has run."""

    def find_spec(self, fullname, path=None, target=None):
        """The usual spec of ``airflow``, its loader wrapped; None for any other module."""
        if fullname != "airflow":
            return None
        sys.meta_path.remove(self)  # once only, and so that the lookup below finds the real one
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_airflow = spec.loader.exec_module

        def exec_module(module):
            exec_airflow(module)
            _send_logs_to_stderr()

        # The loader is this spec's own instance: wrapping it touches nothing else.
        spec.loader.exec_module = exec_module
        return spec
