"""``LocalFolderToTributaryOperator``: index a folder of the workers' filesystem."""

from __future__ import annotations

from tributary.operators.bucket import BucketToTributaryOperator


class LocalFolderToTributaryOperator(BucketToTributaryOperator):
    """Index a local folder (a path every worker sees: a mount, an NFS share) into a
    dataset and keep it in step, inline.

    :param directory: the folder's absolute path (templated); it plays the bucket's part.
    See ``BucketToTributaryOperator`` for ``dataset``, ``prefix``, ``folder``, ``driver``,
    ``dry_run`` and ``allow_mass_delete``.
    """

    provider = "local"
    template_fields = ("dataset", "directory")

    def __init__(self, *, directory: str, **kwargs) -> None:
        super().__init__(bucket=directory, **kwargs)
        self.directory = directory

    def bucket_name(self) -> str:
        """The folder, as rendered for this run."""
        return self.directory
