"""Airflow hooks owned by Tributary."""
