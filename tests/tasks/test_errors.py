"""``task_errors``: a permanent error fails the task at once, any other is retried."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from tests.test_errors import ERRORS
from tributary.errors import PermissionsMissing
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
