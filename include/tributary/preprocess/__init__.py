"""Preprocessing: metadata and thumbnails for items.

``sniff``, ``image``, ``video`` and ``describe`` are pure: ranged reads of a file in,
metadata and thumbnail bytes out, no catalog, no storage, no Airflow — testable alone.
``options`` holds the thumbnail spec and the per-item limits. ``planning`` cuts a run into
batches and reports on it; ``batch`` feeds one batch's items from their storage through
``describe``. Only ``image`` and ``video`` import Pillow or PyAV, and ``describe`` imports
them when a file needs them: the rest is light enough for a DAG file to import.
"""
