"""Syncs: listing → staging → plan → apply. No Airflow imports: the DAGs call these steps."""
