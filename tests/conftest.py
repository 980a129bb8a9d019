"""Fixtures shared by every test: real databases (a SQLite file, and PostgreSQL at 127.0.0.1
when ``KUNDRESA_TEST_POSTGRES_URL`` is set) and a real MLflow store in a temporary folder.

Each PostgreSQL test gets a fresh database cloned from a migrated template, so tests never see
each other's rows and the migrations run once per session.

``make test`` runs the suite on pytest-xdist workers, a whole file at a time (``--dist
loadfile``, so a module-scoped fixture is built once). Each worker is a session of its own, with
its own templates, temporary folders and port range (tests/ports.py), and every database it
makes has a random name, so workers (and other runs on the same server) never meet. Session
fixtures (a trained model, Chromium) are built once per worker that needs them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared.db.migrate import upgrade
from shared.db.session import dispose_engines
from shared.settings import Settings

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OMP_NUM_THREADS", "1")

POSTGRES_URL = os.environ.get("KUNDRESA_TEST_POSTGRES_URL", "").strip()
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_admin():
    import psycopg

    return psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), autocommit=True)


@pytest.fixture(scope="session", autouse=True)
def _nothing_written_into_the_checkout() -> Iterator[None]:
    """MLflow's default store is ./mlruns: a test that misses its temporary store writes there."""
    stray = Path.cwd() / "mlruns"
    existed = stray.exists()
    yield
    if not existed and stray.exists():
        shutil.rmtree(stray)
        pytest.fail("a test wrote MLflow runs or models into ./mlruns, not its temporary store")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """A migrated template database, or None when PostgreSQL is not configured."""
    if not POSTGRES_URL:
        yield None
        return
    try:
        admin = _postgres_admin()
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"KUNDRESA_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    name = f"kundresa_tpl_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = _database_url(name)
    upgrade(url)
    from shared.surveys import ensure_builtin_surveys

    ensure_builtin_surveys(url)
    dispose_engines()
    yield name
    dispose_engines()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _database_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


_SQLITE_TEMPLATE: list[Path] = []


def make_sqlite_url(folder: Path) -> str:
    """A migrated SQLite file with the built-in surveys, copied from one migrated per session
    (a copy takes a millisecond, migrating takes a few hundred)."""
    if not _SQLITE_TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="kundresa-sqlite-template-")) / "kundresa.db"
        upgrade(f"sqlite:///{template}")
        from shared.surveys import ensure_builtin_surveys

        ensure_builtin_surveys(f"sqlite:///{template}")
        dispose_engines()  # closing the last connection folds the WAL into the file
        _SQLITE_TEMPLATE.append(template)
    shutil.copyfile(_SQLITE_TEMPLATE[0], folder / "kundresa.db")
    return f"sqlite:///{folder / 'kundresa.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path, postgres_template) -> Iterator[str]:
    """A migrated, empty database with the built-in surveys: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        yield make_sqlite_url(tmp_path)
        dispose_engines()
        return
    if postgres_template is None:
        pytest.skip("set KUNDRESA_TEST_POSTGRES_URL to run on PostgreSQL")
    name = f"kundresa_t_{uuid.uuid4().hex[:10]}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield _database_url(name)
    dispose_engines()
    with _postgres_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


JOURNEY_TABLES = ("customers", "identities", "journey_events", "responses")


@contextmanager
def journey_tables_on_postgres(sqlite_url: str, postgres_template: str | None) -> Iterator[str]:
    """A fresh PostgreSQL database holding a SQLite shop's journey tables (customers, identity
    links, events, answers), dropped afterwards; skips when PostgreSQL is not configured."""
    from sqlalchemy import MetaData, create_engine, select

    if postgres_template is None:
        pytest.skip("set KUNDRESA_TEST_POSTGRES_URL to run on PostgreSQL")
    name = f"kundresa_t_{uuid.uuid4().hex[:10]}"
    with _postgres_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    url = _database_url(name)
    source, target = create_engine(sqlite_url), create_engine(url)
    meta, target_meta = MetaData(), MetaData()
    meta.reflect(source, only=JOURNEY_TABLES)
    target_meta.reflect(target, only=JOURNEY_TABLES)
    with source.connect() as read, target.begin() as write:
        for table in JOURNEY_TABLES:
            rows = [dict(r._mapping) for r in read.execute(select(meta.tables[table]))]
            for start in range(0, len(rows), 5000):
                write.execute(target_meta.tables[table].insert(), rows[start : start + 5000])
    source.dispose()
    target.dispose()
    try:
        yield url
    finally:
        dispose_engines()
        with _postgres_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A migrated SQLite database only, for tests whose subject is not the database."""
    yield make_sqlite_url(tmp_path)
    dispose_engines()


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real MLflow tracking store (SQLite + artifact folder) in a temporary folder."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ARTIFACT_ROOT", (tmp_path / "mlartifacts").as_uri())
    return uri


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    """Settings for a test: everything under ``tmp_path``, nothing from the developer's var/."""
    values: dict[str, object] = {
        "var_dir": tmp_path / "var",
        "database_url": database_url,
        "mlflow_tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "mlflow_artifact_root": (tmp_path / "mlartifacts").as_uri(),
        "redis_url": None,
        "secret_key": "test-secret-key-long-enough-for-the-32-byte-rule",
    }
    values.update(overrides)
    return Settings.from_env(**values)


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def chromium():
    """One headless Debian Chromium for the whole session (Playwright's sync API allows one
    driver per thread, so the widget and dashboard tests share it)."""
    if not CHROMIUM.exists():
        message = f"browser tests need Debian's chromium at {CHROMIUM} (scripts/ensure-chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
