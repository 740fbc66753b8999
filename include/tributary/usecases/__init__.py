"""Tributary's use cases: one implementation for the CLI, the REST API and the DAGs.

Each module holds the use cases of one noun (drivers, datasets, items, thumbnails, syncs,
preprocessing) as plain functions: they take a ``Catalog``, return plain data or
dataclasses, and raise Tributary errors that say what is wrong and which option allows it.
They never print and never name a CLI flag or a UI button: each front end adds its own
hint. No module here imports Airflow at its top: the CLI must start fast, so the few use
cases that need an Airflow hook import it when called.
"""
