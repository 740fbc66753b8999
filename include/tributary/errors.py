"""User-facing errors: one line that names the problem, never a traceback or a secret."""


class TributaryError(Exception):
    """Base for every error Tributary reports to a user as a single line."""


class NotFound(TributaryError):
    """A named driver, dataset or item does not exist."""


class DriverNotFound(NotFound):
    """No driver has the given name."""


class DatasetNotFound(NotFound):
    """No dataset has the given name."""


class InvalidInput(TributaryError):
    """A user-supplied value is malformed or contradicts another one."""


class QuotaExceeded(TributaryError):
    """A sync would index more items than the data-point quota allows."""


class SyncLocked(TributaryError):
    """Another sync of the same dataset is running."""


class MassDeleteRefused(TributaryError):
    """A sync would tombstone more items than the dataset's threshold allows."""


class ListingIncomplete(TributaryError):
    """Part of a listing failed, so nothing could be marked as vanished."""
