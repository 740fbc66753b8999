"""What a sync run covers: the dataset's folder, rendered for the run's data interval.

A folder like ``camera-7/{{ ds }}/`` makes a date-partitioned dataset: each scheduled or
backfill run reconciles only its own day's folder (and ghosts only there). A run with no
date (a manual trigger) covers the static part of the folder, ``camera-7/``.
"""

from __future__ import annotations

from tributary.errors import InvalidInput
from tributary.folder_templates import TEMPLATE_MARKS, Render, is_templated

__all__ = ["Render", "is_templated", "prefix_for", "static_root"]


def static_root(folder: str) -> str:
    """The folders before the first template: ``a/b{{ ds }}/`` → ``a/``."""
    if not is_templated(folder):
        return folder
    start = min(folder.find(mark) for mark in TEMPLATE_MARKS if mark in folder)
    before = folder[:start]
    return before[: before.rfind("/") + 1]


def prefix_for(store_prefix: str, folder: str, render: Render | None) -> str:
    """The key prefix one run reconciles."""
    if not is_templated(folder):
        return store_prefix + folder
    if render is None:
        return store_prefix + static_root(folder)
    rendered = render(folder).strip().lstrip("/")
    if not rendered or is_templated(rendered) or ".." in rendered.split("/"):
        raise InvalidInput(f"dataset folder {folder!r} rendered to {rendered!r}: not a folder")
    return store_prefix + rendered.rstrip("/") + "/"
