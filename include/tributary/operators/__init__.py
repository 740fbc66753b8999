"""The Airflow side of Tributary's tasks: thin wrappers around domain steps."""
