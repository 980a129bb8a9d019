"""Fixtures of the end-to-end tests; the MLflow server one is shared with tests/docker."""

from tests.e2e.mlflow_server import mlflow_server_on_postgres  # noqa: F401
