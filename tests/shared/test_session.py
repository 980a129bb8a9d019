"""The database plumbing every service shares: engines and their pools."""

from __future__ import annotations

import fcntl
import multiprocessing
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select, text

from shared.db import session as db_session
from shared.db.tables import Customer
from survey_service.storage import store_new
from tests.conftest import _postgres_admin


def _kill_pooled_connections(url: str) -> None:
    """What a PostgreSQL restart does to the connections resting in our pool."""
    with db_session.get_engine(url).connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with _postgres_admin() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def _store_a_customer(url: str) -> str:
    """One write through the survey service's write path; returns the new customer's id."""
    customer = {"id": f"c-{uuid.uuid4().hex}", "created_at": datetime.now(UTC), "consent": True}
    assert store_new(url, Customer.__table__, [customer], "id", set()) == 1
    return customer["id"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_idle_connection_the_server_dropped_is_replaced_unnoticed(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_session, "IDLE_PING_SECONDS", 0.0)
    _kill_pooled_connections(database_url)
    with db_session.session_scope(database_url) as session:
        assert session.scalar(text("SELECT 1")) == 1
    # The survey service's write path takes its connection from the same pool.
    _kill_pooled_connections(database_url)
    customer_id = _store_a_customer(database_url)
    with db_session.session_scope(database_url) as session:
        assert session.scalar(select(Customer.consent).where(Customer.id == customer_id))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_write_on_a_connection_the_server_just_dropped_is_retried_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restart under load: the pooled connections are too fresh to be pinged."""
    monkeypatch.setattr(db_session, "IDLE_PING_SECONDS", 3600.0)
    _kill_pooled_connections(database_url)
    _store_a_customer(database_url)
    # The retry renewed the pool: the next write finds a live connection at once.
    _store_a_customer(database_url)


def _write_under_the_lock(url: str, marker: str) -> None:
    """In another process: take the write lock, then leave a marker."""
    with db_session.sqlite_write_lock(db_session.get_engine(url)), open(marker, "w") as out:
        out.write("in")


def test_the_sqlite_write_lock_keeps_out_a_forked_worker(sqlite_url: str, tmp_path) -> None:
    """gunicorn forks its workers: a lock file opened before the fork must not let the child
    in while the parent writes (an flock belongs to the open file, which a fork shares)."""
    engine = db_session.get_engine(sqlite_url)
    with db_session.sqlite_write_lock(engine):
        pass  # the parent's lock file is open now
    marker = tmp_path / "child-wrote"
    child = multiprocessing.get_context("fork").Process(
        target=_write_under_the_lock, args=(sqlite_url, str(marker))
    )
    with db_session.sqlite_write_lock(engine):
        child.start()
        child.join(0.5)  # time for the child to get in, were it let in
        assert not marker.exists()
    child.join(60)  # a child let in by mistake inherits a held thread lock and hangs
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0 and marker.exists()


def test_the_write_path_checkpoints_outside_the_write_lock(sqlite_url: str) -> None:
    """The WAL checkpoint (two fsyncs) must not hold up every other writer."""
    engine = db_session.get_engine(sqlite_url)
    probes: list[bool] = []

    def probe(statement: str) -> None:
        if statement.startswith("PRAGMA wal_checkpoint"):
            with open(f"{engine.url.database}-writelock", "rb") as lock_file:
                try:
                    fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    probes.append(False)
                else:
                    probes.append(True)

    @event.listens_for(engine, "connect")
    def _trace(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.set_trace_callback(probe)

    engine.dispose()  # pooled connections are made again, traced
    for _ in range(db_session.CHECKPOINT_EVERY_WRITES):
        _store_a_customer(sqlite_url)
    assert probes == [True]
