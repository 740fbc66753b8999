"""``task_errors``: a permanent error fails the task at once, any other is retried."""

from __future__ import annotations

import logging

import pytest
from airflow.sdk.exceptions import AirflowFailException

from tests.test_errors import ERRORS
from tributary.errors import DatasetNotFound, MassDeleteRefused, PermissionsMissing, QuotaExceeded
from tributary.tasks.errors import describe_failure, task_errors


def raise_inside_task_errors(exc: BaseException) -> BaseException:
    try:
        with task_errors():
            raise exc
    except BaseException as raised:
        return raised
    raise AssertionError("task_errors swallowed the error")


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_class_is_failed_or_retried_by_its_own_attribute(cls):
    error = cls.__new__(cls)  # some take extra constructor arguments
    Exception.__init__(error, "one line")

    escaped = raise_inside_task_errors(error)

    if cls.permanent:
        assert isinstance(escaped, AirflowFailException)
        assert escaped.__cause__ is error and str(escaped) == "one line"
    else:
        assert escaped is error


def test_a_denied_permission_fails_without_retry():
    escaped = raise_inside_task_errors(PermissionsMissing("s3://b/: put: put denied"))

    assert isinstance(escaped, AirflowFailException)


def test_a_surprise_is_left_for_airflow_to_retry():
    error = TimeoutError("read timed out")

    assert raise_inside_task_errors(error) is error


def test_a_stored_reason_names_only_the_type_of_a_surprise():
    secret = KeyError("password=hunter2")
    reason = describe_failure(secret, "list")

    assert reason == "task list failed with KeyError; see its log in Airflow"
    wrapped = AirflowFailException("x")
    wrapped.__cause__ = PermissionsMissing("s3://b/: put denied")
    assert describe_failure(wrapped, "probe") == "s3://b/: put denied"


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(QuotaExceeded("dataset demo needs 20 data points, quota 10"), id="quota"),
        pytest.param(MassDeleteRefused("12 of 40 items vanished"), id="mass-delete"),
        pytest.param(DatasetNotFound("dataset 'nope' not found"), id="unknown-dataset"),
    ],
)
def test_a_refusal_is_the_last_plain_log_line_before_the_failure(error, caplog):
    """The log page cuts a traceback's long lines: the reason must stand on a line of its
    own, the last one logged before Airflow's "Task failed with exception"."""
    caplog.set_level(logging.INFO)

    raise_inside_task_errors(error)

    last = caplog.records[-1]
    assert last.name == "tributary.tasks.errors"
    assert last.levelno == logging.ERROR
    assert last.getMessage() == f"Refused: {error}"
    assert last.exc_info is None  # a plain line, no traceback of its own


def test_a_retried_error_logs_no_refusal(caplog):
    caplog.set_level(logging.INFO)

    raise_inside_task_errors(TimeoutError("read timed out"))

    assert not [r for r in caplog.records if r.getMessage().startswith("Refused")]
