"""The migrations build the schema of ``shared/db/tables.py`` from empty, on SQLite and on
PostgreSQL, and can be taken down and up again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from shared.db.migrate import downgrade, upgrade
from shared.db.session import dispose_engines, normalise_url
from shared.db.tables import Base
from shared.surveys import ensure_builtin_surveys
from tests.conftest import IN_CI, POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (not the migrated template the other tests use)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        dispose_engines()
        return
    if not POSTGRES_URL:
        pytest.skip("set KUNDRESA_TEST_POSTGRES_URL to run on PostgreSQL")
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), autocommit=True)
    except psycopg.OperationalError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    name = f"kundresa_m_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_engines()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _schema_differences(url: str) -> list:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(normalise_url(url))
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migrations_build_the_declared_schema_from_empty(empty_database: str) -> None:
    upgrade(empty_database)
    assert _tables(empty_database) == set(Base.metadata.tables)
    assert _schema_differences(empty_database) == []
    assert ensure_builtin_surveys(empty_database) == 3
    upgrade(empty_database)  # running again is harmless


def test_migrations_go_down_to_empty_and_up_again(empty_database: str) -> None:
    upgrade(empty_database)
    dispose_engines()
    downgrade(empty_database, "base")
    assert _tables(empty_database) == set()
    upgrade(empty_database)
    assert _tables(empty_database) == set(Base.metadata.tables)
