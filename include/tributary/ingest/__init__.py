"""Ingest: links, CSV bulk link/upload rows and the safe URL fetcher.

Pure code (no Airflow imports); the DAG ``tributary_csv_ingest``, the CLI and the API wrap it.

- ``fetch``: ``Fetcher`` — http(s) only, every address vetted (``addresses``) on a connection
  pinned to it (``pinned``), redirects re-checked, timeouts, a size cap, retries, streamed and
  ranged reads; ``open_ranged_url`` for decoders.
- ``redact``: ``redact_url`` — signed query strings hidden in every message and log line.
- ``urls``: ``url_problem`` — the form rule an URL must pass before anything else.
- ``links``: ``make_link`` / ``parse_link`` — the spec's link JSON files.
- ``csv_rows``: ``open_csv_import`` — a CSV checked as a whole, then batches of typed rows
  and row errors with line numbers (``csv_row_checks`` the per-row rule, ``seen_ids`` the
  duplicate-ID check, ``media_types`` the mimetype cell).
- ``report``: ``ErrorReport`` — ``errors.csv``, formula-safe, with counts.
- ``errors``: the one-line errors, each saying whether a retry can help.
"""
