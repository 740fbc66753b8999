"""Ingest: links, CSV bulk link/upload rows and the safe URL fetcher.

Pure code (no Airflow imports): the CSV is parsed and validated into rows and row errors,
links are read and written as the spec's small JSON files, URLs are fetched only from
addresses that pass the checks of ``addresses``. The DAG and the use cases wrap these.
"""
