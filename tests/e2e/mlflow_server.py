"""An `mlflow server` on loopback whose backend store is a fresh PostgreSQL database, shaped like
production; shared by the end-to-end tests and the tests of docker/'s commands."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from kundresa.demo import Services, mlflow_server_command
from tests.conftest import POSTGRES_URL
from tests.ports import free_port


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """An empty database on the test PostgreSQL server (no tables, not even migrations), as a
    SQLAlchemy URL with the psycopg driver; dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin_url = POSTGRES_URL.replace("+psycopg", "")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        from shared.db.session import dispose_engines

        dispose_engines()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def mlflow_server_on_postgres(tmp_path: Path, postgres_template) -> Iterator[str]:
    """The URL of an `mlflow server` on loopback with a PostgreSQL backend store and served
    artifacts under ``tmp_path``."""
    if postgres_template is None:
        pytest.skip("set KUNDRESA_TEST_POSTGRES_URL to run on PostgreSQL")
    with fresh_postgres_database("kundresa_mlflow") as backend:
        port = free_port()
        services = Services(tmp_path / "mlflow-logs")
        services.start(
            "mlflow",
            mlflow_server_command(
                backend,
                port,
                [
                    "--artifacts-destination",
                    str(tmp_path / "mlflow-artifacts"),
                    "--serve-artifacts",
                ],
            ),
            {
                **os.environ,
                "MLFLOW_DISABLE_TELEMETRY": "true",
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            },
        )
        try:
            services.wait_ready("mlflow", f"http://127.0.0.1:{port}/health", timeout=180)
            yield f"http://127.0.0.1:{port}"
        finally:
            services.stop()
