"""Tributary: cloud buckets turned into managed datasets, with Apache Airflow as the engine."""

__version__ = "0.1.0"
