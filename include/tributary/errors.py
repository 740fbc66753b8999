"""User-facing errors: one line that names the problem, never a traceback or a secret.

Whether an error is **permanent** (a retry cannot fix it: bad input, something missing, a
refused permission, a guard that needs a person) is a property of the error class: its
``permanent`` attribute. Airflow tasks fail at once on a permanent error and retry the
others (``tributary.tasks.errors.task_errors``). Every error class declares ``permanent``
in its own body, even where it repeats its parent's answer, so that a new error is a
decision and never an inherited accident (``tests/test_errors.py`` walks them all).
"""


class TributaryError(Exception):
    """Base for every error Tributary reports to a user as a single line."""

    permanent = False  # an unclassified surprise may be transient: let Airflow retry it


class NotFound(TributaryError):
    """A named driver, dataset or item does not exist."""

    permanent = True


class DriverNotFound(NotFound):
    """No driver has the given name."""

    permanent = True


class DatasetNotFound(NotFound):
    """No dataset has the given name."""

    permanent = True


class InvalidInput(TributaryError):
    """A user-supplied value is malformed or contradicts another one."""

    permanent = True


class QuotaExceeded(TributaryError):
    """A sync would index more items than the data-point quota allows."""

    permanent = True


class SyncLocked(TributaryError):
    """Another sync of the same dataset is running."""

    # Starting a sync already waits for the lock (TRIBUTARY_LOCK_WAIT_SECONDS): a retry
    # would only wait again while the other sync runs.
    permanent = True


class MassDeleteRefused(TributaryError):
    """A sync would tombstone more items than the dataset's threshold allows."""

    permanent = True  # needs a person: re-run with allow_mass_delete


class ListingIncomplete(TributaryError):
    """Part of a listing failed, so nothing could be marked as vanished."""

    # The partitions' own tasks already retried; a later step cannot list them again.
    permanent = True


class PermissionsMissing(TributaryError):
    """The probe found a mandatory permission missing (list, get, put, or delete where the
    driver allows deletes)."""

    permanent = True


class Conflict(TributaryError):
    """The request contradicts what is there: a different file at an existing path, a
    name that is taken. The REST API answers 409."""

    permanent = True


class RuleRefused(TributaryError):
    """A platform rule forbids the operation (an external item cannot be moved, a clone's
    source and target storages differ, a cloned dataset cannot be synced). The message
    names the rule. The REST API answers 409."""

    permanent = True


class TooLarge(TributaryError):
    """An upload or a fetched body exceeds a configured size limit. The REST API answers
    413."""

    permanent = True
