# Airflow with airflow-lg installed: the official Airflow image plus this repository's package.
#
# Built by docker/compose.yaml with the repository root as the build context (only the files
# that airflow.Dockerfile.dockerignore lets through are sent). On its own:
#   docker build -f docker/airflow.Dockerfile -t airflow-lg/airflow:3.3.2 .
FROM apache/airflow:3.3.2-python3.11

# The Airflow version of the base image, pinned again so that pip keeps it while installing
# the provider (the official image's documented way to add packages).
ARG AIRFLOW_VERSION=3.3.2

COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow-lg/
COPY --chown=airflow:0 airflow_lg /opt/airflow-lg/airflow_lg
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /opt/airflow-lg \
    && python -c "from importlib.metadata import version; print('airflow-lg', version('airflow-lg'))"
