# Airflow + Tributary image for docker-compose.yml: the same lock file as local installs.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:0 requirements.txt constraints.txt pyproject.toml /opt/tributary/
COPY --chown=airflow:0 include /opt/tributary/include
RUN pip install --no-cache-dir uv==0.13.8 \
 && uv pip install --no-cache -r /opt/tributary/requirements.txt -c /opt/tributary/constraints.txt \
 && uv pip install --no-cache --no-deps /opt/tributary

COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
