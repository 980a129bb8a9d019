"""The database plumbing every service shares: engines and their pools."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

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
