"""airflow-lg: drive agents on a LangGraph Agent Server from Apache Airflow."""

__version__ = "0.1.0"
