"""Airflow triggers Tributary ships where no provider has one."""
