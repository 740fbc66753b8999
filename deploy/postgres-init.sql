-- Tributary's catalog lives beside Airflow's metadata, in its own database.
CREATE DATABASE tributary OWNER airflow;
