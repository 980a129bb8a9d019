"""The MLflow server on PostgreSQL that the end-to-end tests use, for the images' commands."""

from tests.e2e.mlflow_server import mlflow_server_on_postgres  # noqa: F401
