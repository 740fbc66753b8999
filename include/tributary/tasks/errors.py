"""How domain errors become task outcomes: retry what may pass, fail at once what cannot."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from typing import NoReturn

from airflow.sdk.exceptions import AirflowFailException

from tributary.errors import TributaryError

log = logging.getLogger(__name__)

# Every Tributary task: transient errors (network, throttling) get two more tries, spaced out.
RETRY_POLICY = {
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=10),
    "retry_exponential_backoff": True,
}


@contextlib.contextmanager
def task_errors() -> Iterator[None]:
    """Turn a permanent Tributary error into ``AirflowFailException`` (no pointless retries).

    Which errors are permanent is the error class's own ``permanent`` attribute; anything
    else (a transient storage error, an unexpected exception) propagates for Airflow to
    retry.
    """
    try:
        yield
    except TributaryError as exc:
        if not exc.permanent:
            raise
        fail_without_retry(str(exc), cause=exc)


def fail_without_retry(reason: str, *, cause: BaseException | None = None) -> NoReturn:
    """Log ``reason`` as one plain line, then fail the task with no retry.

    Airflow follows a failure with the exception's traceback, whose long lines the log
    page cuts at its edge; the plain line just above it is where a user reads why the run
    stopped (quota, mass delete, unknown dataset). The cause stays chained for
    ``describe_failure``.
    """
    log.error("Refused: %s", reason)
    raise AirflowFailException(reason) from cause


def describe_failure(exception: BaseException | None, task_id: str) -> str:
    """A one-line reason safe to store: our own messages, or only the type of a surprise."""
    cause = exception.__cause__ if isinstance(exception, AirflowFailException) else exception
    if isinstance(cause, TributaryError):
        return str(cause)
    kind = type(cause).__name__ if cause is not None else "error"
    return f"task {task_id} failed with {kind}; see its log in Airflow"
