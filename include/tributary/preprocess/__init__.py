"""Preprocessing: metadata and thumbnails for items.

``sniff``, ``image``, ``video`` and ``describe`` are pure: bytes (or a readable file) in,
metadata and thumbnail bytes out, no catalog, no storage, no Airflow — testable alone.
``batch`` is the one module that feeds catalog items from their storage through them.
"""
